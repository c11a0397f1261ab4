"""How ``kaito-compile validate`` reports: text, JSON and GitHub formats, the summary line, -q/-v,
and the exit codes 0 (clean), 1 (findings), 2 (tool or usage error).

Runs the real CLI entry point in-process (click's CliRunner keeps stdout and stderr apart).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli
from tests.support.cli import PHI3_WORKSPACE

GOOD = PHI3_WORKSPACE

BAD_NAME = GOOD.replace("  name: workspace-phi-3\n", "  name: Phi3_Workspace\n")

TYPO = GOOD.replace("  instanceType:", "  instanceTyp:")

GATED = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-llama
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector:
    matchLabels:
      apps: llama
inference:
  preset:
    name: llama-3.1-8b-instruct
"""

TWO_ERRORS = GOOD.replace("workspace-phi-3", "workspace-phi-3-tuning").replace(
    "inference:\n  preset:\n    name: phi-3-mini-4k-instruct\n",
    "tuning:\n  preset:\n    name: falcon-7b\n  method: dora\n  input:\n    urls: [https://example.com/d.parquet]\n"
    "  output:\n    volumeSource: {emptyDir: {}}\n")

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unrelated\ndata: {a: b}\n---\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A repository root with Kaito's defaults and the transformers runtime; cwd is the root so
    file names in the output are relative."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "kaito-compile.yaml").write_text("cloud: azure\nprovisioner: gpu-provisioner\nruntime: transformers\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def kc(*args: str):
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def write(project: Path, name: str, text: str) -> str:
    (project / name).write_text(text)
    return name


# --- text ---------------------------------------------------------------------------------------------

def test_text_error_with_source_line_and_caret(project: Path):
    result = kc("validate", write(project, "bad.yaml", BAD_NAME))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"bad\.yaml:4:9: error: invalid Workspace name 'Phi3_Workspace': .+ \[KC-R0\]", lines[0])
    assert lines[1] == "  4 |   name: Phi3_Workspace"
    assert lines[2] == "    |         ^^^^^^^^^^^^^^"
    assert lines[-1] == "Found 1 error in 1 file (checked 1 workspace)"
    assert result.stderr == ""


def test_caret_sits_under_the_value_in_a_two_digit_line(project: Path):
    spec = GOOD.replace("Standard_NC24ads_A100_v4", "Basic_A100") + "  adapters:\n    - source:\n        name: a\n" \
        "        image: contoso.azurecr.io/Upper/Case:1\n"
    result = kc("validate", write(project, "spec.yaml", spec))
    lines = result.stdout.splitlines()
    where = lines.index(next(line for line in lines if line.startswith("spec.yaml:16:16: error:")))
    assert lines[where + 1] == "  16 |         image: contoso.azurecr.io/Upper/Case:1"
    assert lines[where + 2] == "     |                " + "^" * len("contoso.azurecr.io/Upper/Case:1")
    assert lines[where].endswith("[KC-A6]")


def test_text_hint_says_did_you_mean(project: Path):
    result = kc("validate", write(project, "typo.yaml", TYPO))
    assert result.exit_code == 1
    assert result.stdout.startswith("typo.yaml:6:3: error: resource: unknown field 'instanceTyp' [KC-S001]\n")
    assert "  hint: did you mean 'instanceType'?\n" in result.stdout


def test_text_warning_does_not_fail(project: Path):
    result = kc("validate", write(project, "gated.yaml", GATED))
    assert result.exit_code == 0
    assert re.search(r"^gated\.yaml:11:3: warning: .*gated model.* \[KC-I14\]$", result.stdout, re.M)
    assert result.stdout.splitlines()[-1] == "Success: no issues found in 1 file (checked 1 workspace)"


def test_diagnostics_are_sorted_by_file_and_position_and_the_summary_is_last(project: Path):
    write(project, "b.yaml", BAD_NAME)
    write(project, "a.yaml", TWO_ERRORS)
    result = kc("validate", "b.yaml", "a.yaml")
    heads = [line for line in result.stdout.splitlines() if re.match(r"^\S+\.yaml:\d+:\d+: ", line)]
    positions = [(h.split(":")[0], int(h.split(":")[1]), int(h.split(":")[2])) for h in heads]
    assert positions == sorted(positions) and len(positions) == 3
    assert [h.rsplit("[", 1)[1] for h in heads] == ["KC-T7]", "KC-T3]", "KC-R0]"]
    assert result.stdout.splitlines()[-1] == "Found 3 errors in 2 files (checked 2 workspaces)"


def test_success_summary(project: Path):
    write(project, "one.yaml", GOOD)
    write(project, "two.yaml", GOOD.replace("workspace-phi-3", "workspace-phi-3-b"))
    result = kc("validate", ".")
    assert result.exit_code == 0
    assert result.stdout == "Success: no issues found in 2 files (checked 2 workspaces)\n"


def test_file_level_diagnostic_has_no_position(project: Path):
    (project / "blob.yaml").write_bytes(b"\x00\x01binary")
    result = kc("validate", "blob.yaml")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "blob.yaml: error: file contains NUL bytes: not a YAML text file [KC-Y004]"


# --- -q and -v -----------------------------------------------------------------------------------------

def test_quiet_success_prints_nothing(project: Path):
    result = kc("-q", "validate", write(project, "gated.yaml", GATED))
    assert result.exit_code == 0 and result.stdout == ""


def test_quiet_failure_prints_errors_and_the_verdict_only(project: Path):
    write(project, "gated.yaml", GATED)
    write(project, "bad.yaml", BAD_NAME)
    result = kc("-q", "validate", "gated.yaml", "bad.yaml")
    assert result.exit_code == 1
    assert "[KC-R0]" in result.stdout and "KC-I14" not in result.stdout
    assert result.stdout.splitlines()[-1] == "Found 1 error in 1 file (checked 2 workspaces)"


def test_notes_only_with_verbose(project: Path):
    write(project, "mixed.yaml", CONFIG_MAP + GOOD)
    quiet = kc("validate", "mixed.yaml")
    verbose = kc("-v", "validate", "mixed.yaml")
    assert "KC-N001" not in quiet.stdout and quiet.exit_code == 0
    assert re.search(r"^mixed\.yaml:1:1: note: ConfigMap \(v1\) 'unrelated' is not a kaito\.sh Workspace; ignored "
                     r"\[KC-N001\]$", verbose.stdout, re.M)
    assert verbose.exit_code == 0
    assert verbose.stdout.splitlines()[-1] == quiet.stdout.splitlines()[-1]


# --- json ----------------------------------------------------------------------------------------------

def test_json_carries_code_line_column(project: Path):
    write(project, "mixed.yaml", CONFIG_MAP + GATED)
    write(project, "bad.yaml", BAD_NAME)
    result = kc("--format", "json", "validate", "mixed.yaml", "bad.yaml")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_code = {d["code"]: d for d in report["diagnostics"]}
    assert by_code["KC-R0"] == {**by_code["KC-R0"], "severity": "error", "file": "bad.yaml", "line": 4, "column": 9}
    assert by_code["KC-I14"]["severity"] == "warning" and by_code["KC-I14"]["line"] == 17
    assert by_code["KC-I14"]["hints"]
    note = by_code["KC-N001"]
    assert note["severity"] == "note" and (note["line"], note["column"]) == (1, 1)
    assert report["summary"] == {"errors": 1, "warnings": 1, "files": 2, "workspaces": 2}


def test_json_is_the_only_output(project: Path):
    result = kc("--format", "json", "validate", write(project, "good.yaml", GOOD))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"diagnostics": [], "summary": {"errors": 0, "files": 1, "warnings": 0,
                                                                         "workspaces": 1}}


def test_json_file_level_diagnostic_has_no_line(project: Path):
    (project / "blob.yaml").write_bytes(b"\x00binary")
    (diag,) = json.loads(kc("--format", "json", "validate", "blob.yaml").stdout)["diagnostics"]
    assert diag["code"] == "KC-Y004" and diag["file"] == "blob.yaml" and "line" not in diag


# --- github --------------------------------------------------------------------------------------------

def test_github_annotations(project: Path):
    write(project, "bad.yaml", BAD_NAME)
    write(project, "typo.yaml", TYPO)
    write(project, "gated.yaml", GATED)
    result = kc("--format", "github", "validate", "bad.yaml", "gated.yaml", "typo.yaml")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"::error file=bad\.yaml,line=4,col=9,title=KC-R0::invalid Workspace name 'Phi3_Workspace'"
                        r": [^\n]+", lines[0])
    assert lines[1].startswith("::warning file=gated.yaml,line=11,col=3,title=KC-I14::")
    assert lines[2] == ("::error file=typo.yaml,line=6,col=3,title=KC-S001::resource: unknown field 'instanceTyp'"
                        "%0Ahint: did you mean 'instanceType'?")
    assert lines[-1] == "Found 2 errors in 2 files (checked 2 workspaces)"


def test_github_notices_only_with_verbose(project: Path):
    write(project, "mixed.yaml", CONFIG_MAP + GOOD)
    assert "::notice" not in kc("--format", "github", "validate", "mixed.yaml").stdout
    verbose = kc("-v", "--format", "github", "validate", "mixed.yaml").stdout
    assert "::notice file=mixed.yaml,line=1,col=1,title=KC-N001::ConfigMap (v1) 'unrelated'" in verbose


def test_github_escapes_percent_and_newlines(project: Path):
    spec = GOOD + "  adapters:\n    - source:\n        name: 50%-off\n        image: contoso.azurecr.io/a:1\n"
    result = kc("--format", "github", "validate", write(project, "pct.yaml", spec))
    (annotation,) = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert annotation.startswith("::error file=pct.yaml,line=15,col=15,title=KC-A3::invalid adapter name '50%25-off'")
    assert "%" not in annotation.replace("%25", "").replace("%0A", "")  # every % and newline escaped


# --- exit codes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_exit_codes(project: Path, fmt: str):
    write(project, "good.yaml", GOOD)
    write(project, "bad.yaml", BAD_NAME)
    assert kc("--format", fmt, "validate", "good.yaml").exit_code == 0
    assert kc("--format", fmt, "validate", "good.yaml", "bad.yaml").exit_code == 1
    missing = kc("--format", fmt, "validate", "good.yaml", "absent.yaml")
    assert missing.exit_code == 2
    assert missing.stderr == "kaito-compile: error: absent.yaml: no such file or directory [KC-E002]\n"
    assert missing.stdout == ""


def test_usage_errors_exit_2(project: Path):
    assert kc("validate").exit_code == 2  # no PATHS
    assert kc("--format", "yaml", "validate", ".").exit_code == 2
    assert kc("validate", "--no-such-option", ".").exit_code == 2
