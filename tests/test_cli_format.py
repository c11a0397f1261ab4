"""One ``--format text|json|github`` option, honoured by every command and accepted before or after the
subcommand (and between a group and its subcommand): the output is the same JSON wherever it is given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli
from tests.catalog.test_hf_import import LLAMA_CONFIG, make_model
from tests.support.cli import PHI3_WORKSPACE

SPEC = PHI3_WORKSPACE.replace("  name: workspace-phi-3\n", "  name: workspace-phi-3\n  namespace: team\n")
REPO = ["--repo-url", "https://git.example.com/deploy.git", "--repo-path", "out"]
COMMANDS = {  # (group/command words, arguments after them)
    "validate": (["validate"], ["ws.yaml"]),
    "build": (["build"], ["ws.yaml", "-o", "out"]),
    "check": (["check"], ["ws.yaml", "-o", "out"]),
    "plan": (["plan"], ["ws.yaml"]),
    "plan --suggest": (["plan"], ["--suggest", "phi-3-mini-4k-instruct", "--cloud", "azure"]),
    "presets list": (["presets", "list"], []),
    "presets import": (["presets", "import"], ["weights", "--id", "acme/tiny", "--catalog", "local.yaml"]),
    "skus": (["skus"], ["--cloud", "azure"]),
    "diff": (["diff"], ["out", "out"]),
    "gitops argocd": (["gitops", "argocd"], ["out", *REPO]),
    "gitops flux": (["gitops", "flux"], ["out", "--repo-path", "out"]),
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("format")
    (root / ".git").mkdir()
    (root / "kaito-compile.yaml").write_text("cloud: azure\nprovisioner: gpu-provisioner\n")
    (root / "ws.yaml").write_text(SPEC)
    make_model(root / "weights", LLAMA_CONFIG)
    return root


def invoke(project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> tuple[int, object]:
    monkeypatch.chdir(project)
    if not (project / "out").is_dir():
        assert CliRunner().invoke(cli, ["-q", "build", "ws.yaml", "-o", "out"]).exit_code == 0
    (project / "local.yaml").unlink(missing_ok=True)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code in (0, 1), (args, result.output)
    return result.exit_code, json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_format_json_before_after_and_between(project: Path, monkeypatch: pytest.MonkeyPatch, name: str):
    words, rest = COMMANDS[name]
    places = [["--format", "json", *words, *rest], [*words, *rest, "--format", "json"]]
    if len(words) == 2:
        places.append([words[0], "--format", "json", words[1], *rest])
    results = [invoke(project, monkeypatch, args) for args in places]
    assert all(result == results[0] for result in results[1:]), name
    assert isinstance(results[0][1], (dict, list))


@pytest.mark.parametrize("name", ["validate", "plan", "skus", "presets list"])
def test_the_last_format_given_wins(project: Path, monkeypatch: pytest.MonkeyPatch, name: str):
    words, rest = COMMANDS[name]
    monkeypatch.chdir(project)
    text = CliRunner().invoke(cli, ["--format", "json", *words, *rest, "--format", "text"]).stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_github_format_is_accepted_after_the_subcommand(project: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    (project / "bad.yaml").write_text(SPEC.replace("workspace-phi-3", "Bad_Name"))
    result = CliRunner().invoke(cli, ["validate", "bad.yaml", "--format", "github"])
    assert result.exit_code == 1 and result.stdout.startswith("::error file=bad.yaml,line=4")
