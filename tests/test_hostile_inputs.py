"""Hostile and broken input through the real command line, in a subprocess.

Whatever a user (or an attacker) puts in a spec, the tool must exit with 1 (invalid input) or 2
(unreadable input, missing path, tool error), say why with a diagnostic code, finish quickly, and
never print a Python traceback on stdout or stderr. Inputs where the process boundary is the point
(bytes that are not text, stdin, resource exhaustion against a fresh interpreter's recursion limit,
exit 2 from ``main``) run ``python -m kaito_compile.cli`` in a subprocess, concurrently, from one
module-scoped fixture; the others run the same command in-process (click's CliRunner, stdout and
stderr kept apart) to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli
from kaito_compile.source import MAX_FILE_BYTES
from tests.support.cli import PHI3_WORKSPACE

TIMEOUT = 60

WORKSPACE = PHI3_WORKSPACE


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)

    def codes(self, severity: str = "error") -> list[str]:
        return [d["code"] for d in self.json()["diagnostics"] if d["severity"] == severity]


@dataclass(frozen=True)
class Hostile:
    """One input: ``setup(directory)`` writes files and returns the CLI arguments and stdin bytes."""

    name: str
    setup: Callable[[Path], tuple[list[str], bytes | None]]
    exit_code: int
    check: Callable[[Run], None]
    subprocess: bool = False


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def spec(content: str | bytes, *, args: tuple[str, ...] = ("--format", "json"), name: str = "spec.yaml"):
    def setup(d: Path) -> tuple[list[str], bytes | None]:
        return [*args, "validate", str(write(d / name, content))], None
    return setup


def stdin(content: bytes, *, args: tuple[str, ...] = ()):
    def setup(d: Path) -> tuple[list[str], bytes | None]:
        return [*args, "validate", "-"], content
    return setup


def errors_are(*codes: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert sorted(set(run.codes())) == sorted(codes), run.stdout
    return check


def alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    previous = "a"
    for level in "bcdefghi":
        lines.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
        previous = level
    return "\n".join([*lines, "apiVersion: kaito.sh/v1beta1", "kind: Workspace", "metadata: {name: *i}", ""])


def deep_block(levels: int) -> str:
    return "".join(" " * i + "k:\n" for i in range(levels))


def oversize(d: Path) -> tuple[list[str], bytes | None]:
    path = d / "huge.yaml"
    filler = b"# padding\n"
    path.write_bytes(WORKSPACE.encode() + filler * ((MAX_FILE_BYTES - len(WORKSPACE)) // len(filler) + 2))
    assert path.stat().st_size > MAX_FILE_BYTES
    return ["--format", "json", "validate", str(path)], None


def python_tag(d: Path) -> tuple[list[str], bytes | None]:
    marker = d / "pwned"
    content = ("apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
               f'metadata: !!python/object/apply:os.system ["touch {marker}"]\n')
    return ["--format", "json", "validate", str(write(d / "tag.yaml", content))], None


def no_code_executed(run: Run) -> None:
    """The tag is data (the spec is then invalid), never a call: the marker file was not created."""
    spec_file = Path(run.json()["diagnostics"][0]["file"])
    assert spec_file.name == "tag.yaml" and not (spec_file.parent / "pwned").exists()
    assert run.codes(), run.stdout


def broken_config(d: Path) -> tuple[list[str], bytes | None]:
    write(d / "kaito-compile.yaml", "cloud: azure\nprovisioner: [byo\n")
    return ["validate", str(write(d / "spec.yaml", WORKSPACE))], None


def bad_config_value(d: Path) -> tuple[list[str], bytes | None]:
    write(d / "kaito-compile.yaml", "cloud: azure\nprovisioner: kubernetes\nnodes: 3\n")
    return ["--format", "json", "validate", str(write(d / "spec.yaml", WORKSPACE))], None


def mixed_directory(d: Path) -> tuple[list[str], bytes | None]:
    tree = d / "tree"
    tree.mkdir()
    write(tree / "good.yaml", WORKSPACE)
    write(tree / "binary.yml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(tree / "notes.txt", b"\x00 not a spec, not read")
    return ["--format", "json", "validate", str(tree)], None


def text_contains(*needles: str, stream: str = "stdout") -> Callable[[Run], None]:
    def check(run: Run) -> None:
        text = getattr(run, stream)
        for needle in needles:
            assert needle in text, text
    return check


def summary_checked(workspaces: int, notes: tuple[str, ...] = ()) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        report = run.json()
        assert report["summary"]["workspaces"] == workspaces and report["summary"]["errors"] == 0, run.stdout
        assert sorted(run.codes("note")) == sorted(notes), run.stdout
    return check


CASES = [
    # --- malformed YAML ---------------------------------------------------------------------------
    Hostile("tab-indentation", spec(WORKSPACE.replace("  labelSelector", "\tlabelSelector")), 1,
            errors_are("KC-Y001")),
    Hostile("unclosed-quote", spec('apiVersion: "kaito.sh/v1beta1\nkind: Workspace\n'), 1, errors_are("KC-Y001")),
    Hostile("undefined-alias", spec("metadata: *nowhere\n"), 1, errors_are("KC-Y001")),
    Hostile("malformed-yaml-text-format", spec("a: [1, 2\nb: 3\n", args=()), 1,
            text_contains("spec.yaml:2:2: error: YAML syntax error", "[KC-Y001]", "  2 | b: 3\n", "    |  ^\n")),
    # --- wrong types --------------------------------------------------------------------------------
    Hostile("wrong-types", spec(WORKSPACE.replace("apps: phi-3", "- apps").replace(
        "instanceType: Standard_NC24ads_A100_v4", "instanceType: 42")), 1, errors_are("KC-S003")),
    Hostile("document-is-a-list", spec("- apiVersion: kaito.sh/v1beta1\n- kind: Workspace\n"), 0,
            summary_checked(0, ("KC-N001",))),
    Hostile("document-is-a-scalar", spec("just words\n"), 0, summary_checked(0, ("KC-N001",))),
    Hostile("apiVersion-is-a-mapping", spec("apiVersion: {group: kaito.sh}\nkind: [Workspace]\n"), 0,
            summary_checked(0, ("KC-N001",))),
    # --- empty input: no Workspace is not an error -------------------------------------------------
    Hostile("empty-file", spec(""), 0, summary_checked(0)),
    Hostile("comments-and-separators-only", spec("# nothing here\n---\n---\n"), 0, summary_checked(0)),
    # --- not text -----------------------------------------------------------------------------------
    Hostile("binary-file", spec(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"), 1, errors_are("KC-Y004")),
    Hostile("non-utf8", spec(WORKSPACE.encode().replace(b"phi-3\n", b"phi-3 # caf\xe9\n", 1)), 1,
            errors_are("KC-Y004"), subprocess=True),
    Hostile("utf16-with-bom", spec(("\ufeff" + WORKSPACE).encode("utf-16-le")), 1, errors_are("KC-Y004")),
    Hostile("utf8-bom-is-fine", spec(b"\xef\xbb\xbf" + WORKSPACE.encode()), 0, summary_checked(1)),
    # --- resource exhaustion ------------------------------------------------------------------------
    Hostile("alias-bomb", spec(alias_bomb()), 1, errors_are("KC-Y003"), subprocess=True),
    # past the parser's recursion depth, and past MAX_DEPTH once parsed
    Hostile("deep-flow-nesting", spec("a: " + "[" * 300 + "]" * 300 + "\n"), 1, errors_are("KC-Y003"),
            subprocess=True),
    Hostile("deep-block-nesting", spec(deep_block(400)), 1, errors_are("KC-Y003")),
    Hostile("nesting-past-the-limit", spec(deep_block(150)), 1, errors_are("KC-Y003")),
    Hostile("over-the-size-limit", oversize, 1, errors_are("KC-Y005"), subprocess=True),
    # --- duplicate keys -----------------------------------------------------------------------------
    Hostile("duplicate-keys", spec(WORKSPACE + "resource:\n  count: 2\n"), 1, errors_are("KC-Y002")),
    # --- unknown kinds and versions -----------------------------------------------------------------
    Hostile("unknown-kind-elsewhere", spec("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"), 0,
            summary_checked(0, ("KC-N001",))),
    Hostile("unknown-kaito-kind", spec("apiVersion: kaito.sh/v1beta1\nkind: RAGEngine\nmetadata: {name: r}\n"), 0,
            summary_checked(0, ("KC-N002",))),
    Hostile("unknown-workspace-apiVersion", spec(WORKSPACE.replace("kaito.sh/v1beta1", "kaito.sh/v2")), 1,
            errors_are("KC-S010")),
    Hostile("workspace-without-apiVersion", spec("metadata:" + WORKSPACE.split("metadata:", 1)[1]), 1,
            errors_are("KC-S010")),
    Hostile("python-tag-is-not-executed", python_tag, 1, no_code_executed),
    # --- stdin ----------------------------------------------------------------------------------------
    Hostile("stdin-valid", stdin(WORKSPACE.encode(), args=("--format", "json")), 0, summary_checked(1)),
    Hostile("stdin-invalid", stdin(WORKSPACE.replace("workspace-phi-3", "Workspace_Phi3").encode()), 1,
            text_contains("<stdin>:4:9: error: invalid Workspace name", "[KC-R0]"), subprocess=True),
    Hostile("stdin-binary", stdin(b"\x00\x01\x02", args=("--format", "json")), 1, errors_are("KC-Y004")),
    Hostile("stdin-empty", stdin(b"", args=("--format", "json")), 0, summary_checked(0)),
    # --- directories ----------------------------------------------------------------------------------
    Hostile("directory-with-a-binary-spec", mixed_directory, 1, errors_are("KC-Y004")),
    # --- the project config is input too ------------------------------------------------------------
    Hostile("broken-project-config", broken_config, 1, text_contains("kaito-compile.yaml:3:1", "[KC-Y001]")),
    Hostile("invalid-project-config", bad_config_value, 1, errors_are("KC-S003", "KC-S004")),
    # --- unreadable input and tool errors: exit 2 -------------------------------------------------
    Hostile("missing-path", lambda d: (["validate", str(d / "nope.yaml")], None), 2,
            text_contains("nope.yaml: no such file or directory [KC-E002]", stream="stderr"), subprocess=True),
    Hostile("missing-path-among-good-ones", lambda d: (["validate", str(write(d / "ok.yaml", WORKSPACE)),
                                                        str(d / "missing")], None), 2,
            text_contains("[KC-E002]", stream="stderr")),
    Hostile("missing-config", lambda d: (["--config", str(d / "none.yaml"), "validate",
                                          str(write(d / "ok.yaml", WORKSPACE))], None), 2,
            text_contains("[KC-E002]", stream="stderr")),
    Hostile("against-a-non-revision", lambda d: (["validate", str(write(d / "ok.yaml", WORKSPACE)), "--against",
                                                  "no-such-ref"], None), 2,
            text_contains("--against no-such-ref", "[KC-E003]", stream="stderr"), subprocess=True),
    Hostile("unknown-format", lambda d: (["--format", "xml", "validate", str(write(d / "ok.yaml", WORKSPACE))],
                                         None), 2, text_contains("Invalid value for '--format'", stream="stderr")),
]


def run_case(case: Hostile, directory: Path) -> Run:
    directory.mkdir()
    args, stdin_bytes = case.setup(directory)
    if not case.subprocess:
        result = CliRunner().invoke(cli, args, input=stdin_bytes or b"")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"{case.name}: uncaught {result.exception!r}") from result.exception
        return Run(result.exit_code, result.stdout, result.stderr)
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "kaito_compile.cli", *args], input=stdin_bytes or b"",
                          capture_output=True, timeout=TIMEOUT, cwd=directory, env=env)
    return Run(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("hostile")
    (root / ".git").mkdir()  # a repository root: no kaito-compile.yaml above it is ever picked up
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {c.name: pool.submit(run_case, c, root / c.name) for c in CASES if c.subprocess}
        runs = {c.name: run_case(c, root / c.name) for c in CASES if not c.subprocess}
        return {**runs, **{name: f.result() for name, f in futures.items()}}


def test_case_names_are_unique():
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.subprocess for c in CASES) >= 7


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_input(case: Hostile, runs: dict[str, Run]):
    run = runs[case.name]
    assert "Traceback" not in run.stdout and "Traceback" not in run.stderr, run.stdout + run.stderr
    assert run.exit_code == case.exit_code, f"exit {run.exit_code}\n{run.stdout}\n{run.stderr}"
    case.check(run)
