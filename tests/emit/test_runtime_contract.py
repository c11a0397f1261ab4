"""Compiler ↔ runtime: every command the compiler emits is accepted by the runtime's own parser.

A flag renamed on one side breaks this test, not a pod (docs/runtime-contract.md).
"""

from __future__ import annotations

import base64
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out"

PARSERS = {
    ("python3", "-m", "kaito_runtime.inference"): "kaito_runtime.inference.cli",
    ("python3", "-m", "kaito_runtime.tuning"): "kaito_runtime.tuning.cli",
    ("python3", "-m", "kaito_runtime.fetch"): "kaito_runtime.fetch",
    ("python3", "-m", "kaito_runtime.artifact", "pull"): "kaito_runtime.artifact",
    ("python3", "-m", "kaito_runtime.artifact", "push"): "kaito_runtime.artifact",
}


def _containers():
    for path in sorted(OUT.rglob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj.get("kind") not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield f"{path.relative_to(OUT)}:{container['name']}", container


OUR_CONTAINERS = [(where, c) for where, c in _containers() if tuple(c.get("command", ())[:3]) in
                  {k[:3] for k in PARSERS}]


def test_examples_exercise_every_runtime_entry_point():
    used = {tuple(c["command"]) for _, c in OUR_CONTAINERS}
    assert used == set(PARSERS)


@pytest.mark.parametrize("where,container", OUR_CONTAINERS, ids=[w for w, _ in OUR_CONTAINERS])
def test_runtime_parser_accepts_the_emitted_arguments(where, container):
    command = tuple(container["command"])
    module = importlib.import_module(PARSERS[command])
    parser = module.build_parser()
    argv = list(command[3:]) + list(container.get("args", []))
    parsed = parser.parse_args(argv)  # argparse exits (SystemExit) on an unknown or malformed flag
    assert parsed is not None


def test_runtime_parsers_reject_unknown_flags():
    parser = importlib.import_module("kaito_runtime.inference.cli").build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model=x", "--no-such-flag=1"])


# --- mount layout and writable paths (issue 12; docs/runtime-contract.md "Registry credentials", "Writable paths")

CREDENTIAL_CASES = ["tests/cases/valid/adapters/image-and-volume.yaml", "tests/cases/valid/tuning/qlora-image-to-image.yaml"]


@pytest.fixture(scope="module")
def compiled_with_credentials(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Workspaces with an adapter pull secret, a tuning input pull secret and a push secret, compiled."""
    out = tmp_path_factory.mktemp("compiled")
    result = subprocess.run([sys.executable, "-m", "kaito_compile.cli", "build", *CREDENTIAL_CASES, "-o", str(out)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def _workload_pods(root: Path):
    for path in sorted(root.rglob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
            yield obj["spec"]["template"]["spec"]


def _materialise_secret_volumes(pod: dict, container: dict, root: Path, registry: str) -> None:
    """Write each projected dockerconfigjson Secret where the kubelet would put it for this container."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for volume_mount in container.get("volumeMounts", []):
        for source in volumes[volume_mount["name"]].get("projected", {}).get("sources", []):
            for item in source["secret"]["items"]:
                path = root / volume_mount["mountPath"].lstrip("/") / item["path"]
                path.parent.mkdir(parents=True, exist_ok=True)
                auth = base64.b64encode(f"{source['secret']['name']}:secret".encode()).decode()
                path.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))


def test_every_registry_secret_is_mounted_where_the_puller_and_pusher_read_it(
    compiled_with_credentials: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kaito_runtime import artifact

    checked = []
    for pod in _workload_pods(compiled_with_credentials):
        for container in pod.get("initContainers", []) + pod["containers"]:
            if container.get("command", [])[2:3] != ["kaito_runtime.artifact"] or not any(
                    "projected" in v for v in pod["volumes"]
                    if v["name"] in {m["name"] for m in container.get("volumeMounts", [])}):
                continue
            image = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--image="))
            registry = image.split("/", 1)[0]
            root = tmp_path / container["name"]
            _materialise_secret_volumes(pod, container, root, registry)
            monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(root))
            monkeypatch.delenv("DOCKER_CONFIG", raising=False)
            for env in container.get("env", []):
                monkeypatch.setenv(env["name"], env["value"])
            secrets = [s["secret"]["name"] for v in pod["volumes"] for s in v.get("projected", {}).get("sources", [])
                       if v["name"] in {m["name"] for m in container["volumeMounts"]}]
            found = artifact.credentials_for(registry, artifact.docker_config_files())
            assert sorted(c.username for c in found) == sorted(secrets), container["name"]
            checked.append(container["command"][3])
    assert sorted(set(checked)) == ["pull", "push"]


def _writable_mounts(container: dict) -> list[str]:
    return [m["mountPath"] for m in container.get("volumeMounts", []) if not m.get("readOnly")]


@pytest.mark.parametrize("where,container", OUR_CONTAINERS, ids=[w for w, _ in OUR_CONTAINERS])
def test_our_containers_write_only_to_their_volumes_and_read_nothing_under_root(where, container):
    """uid 1000 cannot traverse /root (0700 in the images); a read-only root leaves only the volumes writable."""
    from kaito_runtime.layout import HF_HOME, SCRATCH_DIR

    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsUser"] == 1000
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    paths = [m["mountPath"] for m in container.get("volumeMounts", [])] + [v for v in env.values() if v]
    assert not [p for p in paths if p == "/root" or p.startswith("/root/")]
    module = container["command"][2]
    if module in ("kaito_runtime.inference", "kaito_runtime.tuning"):  # they write Hugging Face caches
        assert (env.get("HOME"), env.get("HF_HOME")) == (SCRATCH_DIR, HF_HOME)
    if module in ("kaito_runtime.inference", "kaito_runtime.tuning") or container["command"][3:] == ["push"]:
        assert SCRATCH_DIR in _writable_mounts(container)  # HOME, HF_HOME, tempfile
