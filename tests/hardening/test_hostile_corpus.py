"""The hostile-input corpus (``tests/cases/hostile``) through ``kaito-compile build``, each case in a subprocess
limited to 1 GiB of address space and 30 s of CPU.

A refused case must end with its declared diagnostics and exit code, print no traceback and no internal error,
stay inside the resource bounds, and leave the output directory it was pointed at byte for byte as it was (a
real earlier build of a seed workspace). Cases too large to commit are generated here (see the corpus README).
``admitted/`` holds hostile-looking values Kaito's own rules admit: they are compiled together and the test
checks where each value lands (one exec-form argument, never a shell) and, where declared, that the runtime
fetcher refuses it. A case marked ``# known-gap:`` expects what the compiler should do and fails today: a
strict xfail (the first corpus run found six; all are fixed and their cases now pass plainly).

Header lines of a corpus file (leading comments)::

    # expect: <KC-code>|error [xN] [exit N]   one line per code ('error': any); xN: exactly N; exit: default 1
    # expect: admitted                         compiles; the checks above apply
    # fetcher: refuses                          (admitted) the runtime fetcher refuses every URL of the file
    # known-gap: <why>                          strict xfail with that reason
    # too-costly: <why>                         skipped with that reason (a known gap too slow to run each time)
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from kaito_compile.source import MAX_FILE_BYTES, MAX_FILE_NODES

from .cli import ADDRESS_SPACE_LIMIT, CPU_LIMIT_S, CliRun, copy_tree, run_cli, tree_bytes

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "cases" / "hostile"
ADMITTED = CORPUS / "admitted"
SEED = REPO / "examples" / "seeds" / "kaito_workspace_phi_3.yaml"
CONFIG_NAME = "kaito-compile.yaml"
MAX_RSS_MB = 600  # well under the 1 GiB limit: the worst case (the node budget) peaks near 300 MB
WORKERS = 2

_EXPECT = re.compile(r"^#\s*expect:\s*(?P<what>KC-[A-Z]+\d+|error|admitted)(?:\s+x(?P<count>\d+))?"
                     r"(?:\s+exit\s+(?P<exit>\d))?\s*$")
_TAG = re.compile(r"^#\s*(?P<tag>known-gap|too-costly|fetcher):\s*(?P<value>.+?)\s*$")
_TOOL_CODE = re.compile(r"\[(KC-E\d+)\]")


@dataclass(frozen=True)
class Case:
    """One hostile input: ``setup(directory)`` prepares it and returns the paths to give ``build``."""

    name: str
    setup: Callable[[Path], list[str]]
    codes: dict[str, int] = field(default_factory=dict)  # code → how many (0: any number)
    exit_code: int = 1
    admitted: bool = False
    known_gap: str | None = None
    too_costly: str | None = None
    fetcher_refuses: bool = False

    def param(self):
        marks = []
        if self.too_costly:
            marks.append(pytest.mark.skip(reason=f"known gap, too costly to run each time: {self.too_costly}"))
        elif self.known_gap:
            marks.append(pytest.mark.xfail(strict=True, reason=f"known gap: {self.known_gap}"))
        return pytest.param(self, id=self.name, marks=marks)


def parse_header(path: Path) -> dict:
    """The case fields declared by the leading comment block of ``path``; malformed lines are errors."""
    fields: dict = {"codes": {}}
    for raw in path.read_bytes().decode("latin-1").splitlines():  # the header is ASCII, the rest may not be
        if not raw.startswith("#"):
            break
        if re.match(r"^#\s*expect", raw):
            match = _EXPECT.match(raw)
            if not match:
                raise ValueError(f"{path}: malformed expectation {raw!r}")
            if match["what"] == "admitted":
                fields.update(admitted=True, exit_code=0)
                continue
            fields["codes"][match["what"]] = int(match["count"] or 0)
            if match["exit"]:
                fields["exit_code"] = int(match["exit"])
        elif tag := _TAG.match(raw):
            key = {"known-gap": "known_gap", "too-costly": "too_costly", "fetcher": "fetcher_refuses"}[tag["tag"]]
            fields[key] = tag["value"] == "refuses" if key == "fetcher_refuses" else tag["value"]
    if not fields["codes"] and not fields.get("admitted"):
        raise ValueError(f"{path}: no '# expect:' line")
    return fields


def corpus_cases() -> list[Case]:
    cases = []
    for path in sorted(CORPUS.rglob("*.yaml")):
        if path.name == CONFIG_NAME:
            continue
        cases.append(Case(path.relative_to(CORPUS).as_posix(), lambda _d, p=path: [str(p)], **parse_header(path)))
    return cases


# --- cases generated at test time (see tests/cases/hostile/README.md) ------------------------------------------

WORKSPACE = SEED.read_text()


def fifty_megabytes(directory: Path) -> list[str]:
    path = directory / "fifty-megabytes.yaml"
    filler = b"# " + b"x" * 1021 + b"\n"
    with path.open("wb") as handle:
        handle.write(WORKSPACE.encode())
        for _ in range(50 * 1024):
            handle.write(filler)
    assert path.stat().st_size > 50 * 1024 * 1024
    return [str(path)]


def tiny_nodes_under_the_size_limit(directory: Path) -> list[str]:
    """As many one-character list items as fit under the size limit: ~2M nodes for the pure-Python parser."""
    path = directory / "tiny-nodes.yaml"
    path.write_text(WORKSPACE + "status:\n" + "- a\n" * ((MAX_FILE_BYTES - len(WORKSPACE)) // 4 - 10))
    assert path.stat().st_size <= MAX_FILE_BYTES and path.read_text().count("\n- a") > 20 * MAX_FILE_NODES
    return [str(path)]


def fifo_in_a_spec_directory(directory: Path) -> list[str]:
    specs = directory / "specs"
    specs.mkdir()
    (specs / "good.yaml").write_text(WORKSPACE)
    os.mkfifo(specs / "pipe.yaml")
    return [str(specs)]


def device_in_a_spec_directory(directory: Path) -> list[str]:
    specs = directory / "specs"
    specs.mkdir()
    (specs / "zero.yaml").symlink_to("/dev/zero")
    return [str(specs)]


def symlink_loop(directory: Path) -> list[str]:
    (directory / "a.yaml").symlink_to("b.yaml")
    (directory / "b.yaml").symlink_to("a.yaml")
    return [str(directory / "a.yaml")]


def missing_path(directory: Path) -> list[str]:
    return [str(directory / "no-such-spec.yaml")]


GENERATED = [
    Case("generated/fifty-megabytes", fifty_megabytes, {"KC-Y005": 1}),
    Case("generated/tiny-nodes-under-the-size-limit", tiny_nodes_under_the_size_limit, {"KC-Y003": 1}),
    Case("generated/fifo-in-a-spec-directory", fifo_in_a_spec_directory, {"KC-E002": 1}, exit_code=2),
    Case("generated/device-in-a-spec-directory", device_in_a_spec_directory, {"KC-E002": 1}, exit_code=2),
    Case("generated/symlink-loop", symlink_loop, {"KC-E002": 1}, exit_code=2),
    Case("generated/missing-path", missing_path, {"KC-E002": 1}, exit_code=2),
]

REFUSED = [case for case in [*corpus_cases(), *GENERATED] if not case.admitted]
ADMITTED_CASES = [case for case in corpus_cases() if case.admitted]


# --- running -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    run: CliRun
    out_before: dict[str, bytes]
    out_after: dict[str, bytes]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile-corpus")
    (root / ".git").mkdir()  # a repository root: no kaito-compile.yaml above it is ever picked up
    return root


@pytest.fixture(scope="module")
def previous_out(workdir: Path) -> Path:
    """A real earlier build (the seed phi-3 workspace): what a refused build must leave untouched."""
    out = workdir / "previous" / "out"
    run = run_cli(["build", str(SEED), "-o", str(out)], cwd=workdir, logs=workdir / "previous" / "logs")
    assert run.exit_code == 0 and any(out.rglob("deployment-*.yaml")), run.output
    return out


def run_refused(case: Case, workdir: Path, previous_out: Path) -> Outcome:
    directory = workdir / "cases" / case.name.replace("/", "__")
    directory.mkdir(parents=True)
    paths = case.setup(directory)
    out = copy_tree(previous_out, directory / "out")
    before = tree_bytes(out)
    run = run_cli(["--format", "json", "build", *paths, "-o", str(out)], cwd=workdir, logs=directory / "logs")
    outcome = Outcome(run, before, tree_bytes(out))
    shutil.rmtree(directory)  # the generated inputs (50 MB, 8 MB) need not outlive their run
    return outcome


@pytest.fixture(scope="module")
def outcomes(request, workdir: Path, previous_out: Path) -> dict[str, Outcome]:
    """Every selected refused case, run two at a time (the machine has two cores)."""
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and item.originalname == "test_refused"]
    runnable = [case for case in selected if not case.too_costly]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {case.name: pool.submit(run_refused, case, workdir, previous_out) for case in runnable}
        return {name: future.result() for name, future in futures.items()}


def error_codes(run: CliRun) -> Counter:
    """Error codes from the JSON report on stdout, or the tool error code on stderr."""
    if run.exit_code == 2:
        return Counter(_TOOL_CODE.findall(run.stderr))
    report = json.loads(run.stdout)
    return Counter(d["code"] for d in report["diagnostics"] if d["severity"] == "error")


def assert_declared_codes(case: Case, found: Counter, run: CliRun) -> None:
    if "error" in case.codes:
        assert sum(found.values()) >= 1, run.output
        return
    assert set(found) == set(case.codes), run.output
    for code, count in case.codes.items():
        assert count == 0 or found[code] == count, f"{code}: {found[code]} reported, {count} declared\n{run.output}"


# --- tests ---------------------------------------------------------------------------------------------------

def test_corpus_is_large_and_documented():
    readme = (CORPUS / "README.md").read_text()
    assert len(REFUSED) >= 60 and len(ADMITTED_CASES) >= 3
    for case in GENERATED:
        assert f"`{case.name}`" in readme, f"{case.name} is generated but not described in {CORPUS}/README.md"
    families = {case.name.split("/")[0] for case in corpus_cases()}
    assert {"malformed", "expansion", "encoding", "duplicate-keys", "unknown", "traversal", "overlong", "shell",
            "ssrf", "admitted"} <= families


def test_header_parser_refuses_malformed_lines(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("# expect: KC-R0 at 3:4\nkind: x\n")
    with pytest.raises(ValueError, match="malformed expectation"):
        parse_header(bad)
    good = tmp_path / "good.yaml"
    good.write_text("# expect: KC-T5 x3\n# expect: KC-E002 exit 2\n# known-gap: why\nkind: x\n")
    assert parse_header(good) == {"codes": {"KC-T5": 3, "KC-E002": 0}, "exit_code": 2, "known_gap": "why"}


@pytest.mark.parametrize("case", [case.param() for case in REFUSED])
def test_refused(case: Case, outcomes: dict[str, Outcome]):
    outcome = outcomes[case.name]
    run = outcome.run
    assert "Traceback" not in run.stdout + run.stderr, run.output
    assert "KC-E999" not in run.stdout + run.stderr, run.output  # an internal error is a bug, not a diagnostic
    assert run.exit_code == case.exit_code, run.output
    assert_declared_codes(case, error_codes(run), run)
    assert run.cpu_s < CPU_LIMIT_S and run.max_rss_mb < MAX_RSS_MB, (
        f"{run.cpu_s:.1f} s CPU, {run.max_rss_mb:.0f} MB RSS (bounds {CPU_LIMIT_S} s, {MAX_RSS_MB} MB, address "
        f"space limited to {ADDRESS_SPACE_LIMIT >> 20} MB)")
    assert outcome.out_after == outcome.out_before, "a refused build changed the output directory"


# --- admitted: hostile-looking values Kaito's rules let through ------------------------------------------------

@pytest.fixture(scope="module")
def admitted_build(workdir: Path) -> Path:
    """All admitted cases compiled in one build (one cdk8s start-up)."""
    out = workdir / "admitted" / "out"
    run = run_cli(["--format", "json", "build", str(ADMITTED), "-o", str(out)], cwd=workdir,
                  logs=workdir / "admitted" / "logs")
    assert run.exit_code == 0 and "Traceback" not in run.stderr, run.output
    assert run.cpu_s < CPU_LIMIT_S and run.max_rss_mb < MAX_RSS_MB, run.output
    return out


def spec_of(case: Case) -> dict:
    (path,) = case.setup(CORPUS)  # a corpus file: its own path
    return yaml.safe_load(Path(path).read_text())


def workspace_objects(out: Path, spec: dict) -> list[dict]:
    directory = out / spec["metadata"].get("namespace", "default") / spec["metadata"]["name"]
    return [yaml.safe_load(path.read_text()) for path in sorted(directory.glob("*.yaml"))]


def fetcher_container(out: Path, spec: dict) -> dict:
    (job,) = [obj for obj in workspace_objects(out, spec) if obj["kind"] == "Job"]
    (fetcher,) = [c for c in job["spec"]["template"]["spec"]["initContainers"] if c["name"] == "data-downloader"]
    return fetcher


def strings_in(node) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings_in(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings_in(value)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("case", [case.param() for case in ADMITTED_CASES])
def test_admitted_values_are_single_exec_arguments(case: Case, admitted_build: Path):
    """Each URL is one ``--url=`` argument of the exec-form fetcher and appears nowhere else in the output."""
    spec = spec_of(case)
    urls = spec["tuning"]["input"]["urls"]
    fetcher = fetcher_container(admitted_build, spec)
    assert fetcher["command"] == ["python3", "-m", "kaito_runtime.fetch"]
    assert fetcher["args"] == ["--dest=/mnt/data", *(f"--url={url}" for url in urls)]
    everywhere = [s for obj in workspace_objects(admitted_build, spec) for s in strings_in(obj)]
    for url in urls:
        assert sum(url in s for s in everywhere) == 1, f"{url!r} appears outside its --url argument"


@pytest.mark.parametrize("case", [case.param() for case in ADMITTED_CASES if case.fetcher_refuses])
def test_fetcher_refuses_admitted_urls(case: Case, admitted_build: Path, tmp_path: Path, monkeypatch, capsys):
    """What compile time admits (Kaito's rule), the fetcher run with the compiled arguments refuses before it
    writes anything; numeric hosts resolve without DNS, traversal is refused before any lookup."""
    from kaito_runtime import fetch

    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    dest, *url_args = fetcher_container(admitted_build, spec_of(case))["args"]
    for url_arg in url_args:
        assert fetch.main([dest, url_arg, "--attempts=1", "--retry-delay-s=0"]) != 0, url_arg
        error = capsys.readouterr().err
        assert re.search(r"kaito-fetch: error: .*(must not target|does not end in a file name)", error), error
        assert not [p for p in tmp_path.rglob("*") if p.is_file()], f"{url_arg} wrote a file"
