"""Every rule code has a negative example, and every example produces exactly what it declares.

The cases live in ``tests/cases``: ``invalid/<family>/*.yaml`` must fail with the diagnostics their
leading comment declares, ``valid/**/*.yaml`` must pass. A leading comment line

    # expect: KC-I15 at 14:9 ~ "maximum of 10 allowed"

declares one ERROR diagnostic: its code, the 1-based line:column of the caret and, optionally, a
piece of its message. ``# expect-warning:`` declares a warning the same way; ``at L:C`` is left out
for file-level diagnostics (binary files). The set of (code, line, column) the compiler reports must
equal the declared set, errors and warnings separately. ``# pad-to-bytes: N`` asks the test to pad a
copy of the file with comment lines to N bytes first (for the size limit).

Update rules need an old revision: ``<name>.old.yaml`` next to ``<name>.yaml`` is committed to a
throw-away git repository, replaced by the new spec, and validated with ``--against HEAD``.

Each directory may carry a ``kaito-compile.yaml`` (cluster state: BYO nodes, feature gates,
ConfigMaps, provisioner); ``tests/cases/kaito-compile.yaml`` holds the defaults so that no config
outside ``tests/cases`` is ever picked up. Cases run through the real CLI entry point with
``--format json``, in-process.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli
from kaito_compile.rules import RULES
from tests.support.shared import SHARED, requires_shared

CASES = Path(__file__).resolve().parent / "cases"
INVALID = CASES / "invalid"
VALID = CASES / "valid"
CONFIG_NAME = "kaito-compile.yaml"
OLD_SUFFIX = ".old.yaml"
EXAMPLE_SEEDS = Path(__file__).resolve().parent.parent / "examples" / "seeds"
SHARED_SEEDS = SHARED / "seeds"

LOADER_AND_SCHEMA_CODES = frozenset({
    "KC-Y001", "KC-Y002", "KC-Y003", "KC-Y004", "KC-Y005",  # source.py: YAML loading
    "KC-S001", "KC-S002", "KC-S003", "KC-S004", "KC-S010",  # spec/: schema
    "KC-S005", "KC-S006",  # config.py: files the project config names, its ConfigMaps
})
"""Codes outside the rule table that the negative tree must also cover."""

_EXPECT = re.compile(
    r'^#\s*expect(?P<warning>-warning)?:\s*(?P<code>KC-[A-Z]+\d+)'
    r'(?:\s+at\s+(?P<line>\d+):(?P<col>\d+))?'
    r'(?:\s+~\s+"(?P<message>.*)")?\s*$')
_PAD = re.compile(r"^#\s*pad-to-bytes:\s*(?P<size>\d+)\s*$")


@dataclass(frozen=True)
class Expectation:
    code: str
    line: int | None
    col: int | None
    message: str | None = None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return self.code, self.line, self.col

    def __str__(self) -> str:
        where = f" at {self.line}:{self.col}" if self.line is not None else ""
        return f"{self.code}{where}"


@dataclass
class Case:
    path: Path
    errors: list[Expectation] = field(default_factory=list)
    warnings: list[Expectation] = field(default_factory=list)
    pad_to: int | None = None

    @property
    def old(self) -> Path | None:
        old = self.path.with_name(self.path.name[: -len(".yaml")] + OLD_SUFFIX)
        return old if old.exists() else None

    @property
    def id(self) -> str:
        return self.path.relative_to(CASES).as_posix()

    @property
    def codes(self) -> set[str]:
        return {e.code for e in (*self.errors, *self.warnings)}


def parse_case(path: Path) -> Case:
    return parse_header(path.read_bytes().decode("latin-1"), path)  # the header is ASCII, the rest may not be


def parse_header(text: str, path: Path) -> Case:
    """Read the leading comment block; a malformed ``# expect`` line is an error, not ignored."""
    case = Case(path)
    for raw in text.splitlines():
        line = raw.strip()
        if not line.startswith("#"):
            break
        if re.match(r"^#\s*expect", line):
            match = _EXPECT.match(line)
            if not match:
                raise ValueError(f"{path}: malformed expectation line: {raw!r}")
            expectation = Expectation(match["code"], int(match["line"]) if match["line"] else None,
                                      int(match["col"]) if match["col"] else None, match["message"])
            (case.warnings if match["warning"] else case.errors).append(expectation)
        elif _PAD.match(line):
            case.pad_to = int(_PAD.match(line)["size"])
    return case


def discover(root: Path) -> list[Case]:
    files = sorted(p for p in root.rglob("*.yaml") if p.name != CONFIG_NAME and not p.name.endswith(OLD_SUFFIX))
    return [parse_case(p) for p in files]


INVALID_CASES = discover(INVALID)
VALID_CASES = discover(VALID)


def nearest_config(directory: Path) -> Path:
    """The kaito-compile.yaml the CLI resolves for a file in ``directory`` (never above tests/cases)."""
    for candidate in (directory, *directory.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
        if candidate == CASES:
            break
    raise AssertionError(f"no {CONFIG_NAME} between {directory} and {CASES}")


def run_validate(*args: str) -> tuple[int, dict]:
    """``kaito-compile --format json validate ARGS`` in-process: exit code and the parsed report."""
    result = CliRunner().invoke(cli, ["--format", "json", "validate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=kaito-compile tests", "-c", "user.email=tests@example.invalid",
                    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
                   cwd=repo, check=True, capture_output=True)


def stage(case: Path, destination: Path, *, name: str | None = None) -> Path:
    """Copy a case and the config that governs it into ``destination`` (a directory of its own)."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(nearest_config(case.parent), destination / CONFIG_NAME)
    target = destination / (name or case.name)
    shutil.copyfile(case, target)
    return target


def diagnose(case: Case, tmp_path: Path) -> tuple[int, dict]:
    """Run one case as a user would: in place, padded in a copy, or as an update against git HEAD."""
    if case.old is not None:
        repo = tmp_path / "repo"
        target = stage(case.old, repo, name=case.path.name)
        git(repo, "init", "-q")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "old revision")
        shutil.copyfile(case.path, target)
        return run_validate(str(target), "--against", "HEAD")
    if case.pad_to is not None:
        target = stage(case.path, tmp_path / "padded")
        filler = b"# padding to exceed the size limit of the loader\n"
        missing = case.pad_to - target.stat().st_size
        with target.open("ab") as fh:
            fh.write(filler * (missing // len(filler) + 1))
        assert target.stat().st_size >= case.pad_to
        return run_validate(str(target))
    return run_validate(str(case.path))


def found(report: dict, severity: str) -> dict[tuple, list[str]]:
    out: dict[tuple, list[str]] = {}
    for d in report["diagnostics"]:
        if d["severity"] == severity:
            out.setdefault((d["code"], d.get("line"), d.get("column")), []).append(d["message"])
    return out


def check_expectations(case: Case, report: dict) -> None:
    for severity, expected in (("error", case.errors), ("warning", case.warnings)):
        actual = found(report, severity)
        wanted = {e.key for e in expected}
        missing = sorted(map(str, (e for e in expected if e.key not in actual)))
        unexpected = sorted(f"{c} at {line}:{col}: {'; '.join(msgs)}" for (c, line, col), msgs in actual.items()
                            if (c, line, col) not in wanted)
        assert not missing and not unexpected, (
            f"{case.id}: {severity}s differ\n  declared but not reported: {missing}\n"
            f"  reported but not declared: {unexpected}")
        for e in expected:
            if e.message is not None:
                assert any(e.message in m for m in actual[e.key]), (
                    f"{case.id}: {e} reported as {actual[e.key]}, expected a message containing {e.message!r}")


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda c: c.id)
def test_invalid_case(case: Case, tmp_path: Path):
    assert case.errors or case.warnings, f"{case.id} declares no expectation"
    exit_code, report = diagnose(case, tmp_path)
    check_expectations(case, report)
    assert exit_code == (1 if case.errors else 0)
    assert report["summary"]["errors"] == sum(1 for d in report["diagnostics"] if d["severity"] == "error")


@pytest.mark.parametrize("case", VALID_CASES, ids=lambda c: c.id)
def test_valid_case(case: Case, tmp_path: Path):
    assert not case.errors, f"{case.id}: a valid case cannot declare errors"
    exit_code, report = diagnose(case, tmp_path)
    check_expectations(case, report)
    assert exit_code == 0
    assert report["summary"]["workspaces"] >= 1, f"{case.id} holds no Workspace the compiler checked"


def test_every_rule_code_has_a_negative_case():
    """The rules ↔ docs contract: docs/rules.md promises a negative example for every code."""
    covered = set().union(*(c.codes for c in INVALID_CASES))
    missing = sorted(set(RULES) - covered)
    assert not missing, f"rule codes without a negative case under tests/cases/invalid: {missing}"


def test_every_loader_and_schema_code_has_a_negative_case():
    covered = set().union(*(c.codes for c in INVALID_CASES))
    assert not sorted(LOADER_AND_SCHEMA_CODES - covered)


def test_cases_only_declare_known_codes():
    known = set(RULES) | LOADER_AND_SCHEMA_CODES
    for case in (*INVALID_CASES, *VALID_CASES):
        assert case.codes <= known, f"{case.id} declares unknown codes {sorted(case.codes - known)}"


def test_case_tree_layout():
    """Cases are grouped by family, every old revision has its new spec, and headers parse."""
    assert INVALID_CASES and VALID_CASES
    for case in INVALID_CASES:  # a case about the project config has a directory of its own, with that config
        family = case.path.parent.parent if (case.path.parent / CONFIG_NAME).is_file() \
            and case.path.parent.parent != INVALID else case.path.parent
        assert family.parent == INVALID, f"{case.id}: put cases in invalid/<family>/ (or invalid/<family>/<case>/)"
    for old in CASES.rglob("*" + OLD_SUFFIX):
        assert old.with_name(old.name[: -len(OLD_SUFFIX)] + ".yaml").exists(), f"{old} has no new revision"
    with pytest.raises(ValueError, match="malformed expectation"):
        parse_header("# expect: KC-I15 at line 3\n", INVALID / "example.yaml")
    parsed = parse_header('# expect: KC-I15 at 3:7 ~ "too many"\n# expect-warning: KC-I14\nkind: x\n# expect: KC-R0\n',
                          INVALID / "example.yaml")
    assert parsed.errors == [Expectation("KC-I15", 3, 7, "too many")]
    assert parsed.warnings == [Expectation("KC-I14", None, None)]


def test_update_cases_need_their_old_revision(tmp_path: Path):
    """Without --against, an update case's new spec alone must not produce its U-codes: the old
    revision, not the file, is what the rule compares against."""
    for case in INVALID_CASES:
        if case.old is None:
            continue
        _, report = run_validate(str(case.path))
        update_codes = {e.code for e in case.errors if e.code.startswith("KC-U") or e.code == "KC-IS5"}
        assert update_codes and not update_codes & {d["code"] for d in report["diagnostics"]}, case.id


def test_example_seeds_validate():
    """examples/seeds: the seeds' three Workspaces with their placeholders replaced."""
    exit_code, report = run_validate(str(EXAMPLE_SEEDS))
    assert exit_code == 0, report["diagnostics"]
    assert report["summary"]["workspaces"] == 3
    assert not [d for d in report["diagnostics"] if d["severity"] != "note"]


@requires_shared(SHARED_SEEDS, "the seed texts")
def test_seed_cases_are_verbatim():
    """The seeds-verbatim cases hold the seeds' YAML exactly as published (after our header)."""
    texts = [p.read_text() for p in sorted(SHARED_SEEDS.iterdir())]
    verbatim = sorted([*INVALID.glob("seeds-verbatim/*.yaml"), *VALID.glob("seeds-verbatim/*.yaml")])
    assert len(verbatim) == 3
    for path in verbatim:
        lines = path.read_text().splitlines(keepends=True)
        body = "".join(lines[next(i for i, line in enumerate(lines) if not line.startswith("#")):])
        assert any(body in text for text in texts), f"{path.name} is not a verbatim excerpt of a seed"
