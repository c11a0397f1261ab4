"""`kaito-compile diff OLD_TREE NEW_TREE` on two output directories (here: copies of the committed out/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli

REPO = Path(__file__).resolve().parents[2]
LLAMA = "vllm/workspace-llama-3-3-70b"


@pytest.fixture
def trees(tmp_path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REPO / "out", old)
    shutil.copytree(REPO / "out", new)
    return old, new


def _diff(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_identical_trees(trees):
    code, out, _ = _diff("diff", "--exit-code", *map(str, trees))
    assert code == 0
    assert out.splitlines()[1] == f"No changes ({len(list((REPO / 'out').glob('*/*')))} workspaces compared)"


def test_removed_workspace_and_changed_image(trees):
    old, new = trees
    shutil.rmtree(new / "byo")
    statefulset = new / LLAMA / "statefulset-workspace-llama-3-3-70b.yaml"
    statefulset.write_text(statefulset.read_text().replace("kaito-base:0.5.0", "kaito-base:0.6.0"))
    code, out, _ = _diff("--format", "json", "diff", "--exit-code", str(old), str(new))
    assert code == 1
    report = json.loads(out)
    assert [(ws["workspace"], ws["status"], ws["headline"]) for ws in report["workspaces"]] == [
        ("byo/workspace-phi-4", "removed", "-1 nvidia.com/gpu"),
        (LLAMA, "changed", "no capacity change"),
    ]
    (image,) = report["workspaces"][1]["images"]
    assert (image["old"], image["new"]) == ("mcr.microsoft.com/aks/kaito/kaito-base:0.5.0",
                                            "mcr.microsoft.com/aks/kaito/kaito-base:0.6.0")


def test_a_file_that_is_not_a_manifest_is_a_tool_error(trees):
    old, new = trees
    (new / LLAMA / "notes.yaml").write_text("just: [a, broken")
    code, _, err = _diff("diff", str(old), str(new))
    assert code == 2
    assert f"{LLAMA}/notes.yaml:2:1: not YAML" in err and "[KC-E002]" in err
    assert "a, broken" not in err  # where and what, never the line itself


def test_a_missing_tree_is_a_tool_error(trees, tmp_path):
    code, _, err = _diff("diff", str(trees[0]), str(tmp_path / "absent"))
    assert code == 2 and "absent: not a directory [KC-E002]" in err
