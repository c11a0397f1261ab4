"""`kaito-compile diff OLD_TREE NEW_TREE` on two output directories (here: copies of the committed out/)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
LLAMA = "vllm/workspace-llama-3-3-70b"


@pytest.fixture
def trees(tmp_path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REPO / "out", old)
    shutil.copytree(REPO / "out", new)
    return old, new


def test_identical_trees(trees):
    code, out, _ = run_cli("diff", "--exit-code", *map(str, trees))
    assert code == 0
    assert out.splitlines()[1] == f"No changes ({len(list((REPO / 'out').glob('*/*')))} workspaces compared)"


def test_removed_workspace_and_changed_image(trees):
    old, new = trees
    shutil.rmtree(new / "byo")
    statefulset = new / LLAMA / "statefulset-workspace-llama-3-3-70b.yaml"
    statefulset.write_text(statefulset.read_text().replace("kaito-base:0.5.0", "kaito-base:0.6.0"))
    code, out, _ = run_cli("--format", "json", "diff", "--exit-code", str(old), str(new))
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
    code, _, err = run_cli("diff", str(old), str(new))
    assert code == 2
    assert f"{LLAMA}/notes.yaml:2:1: not YAML" in err and "[KC-E002]" in err
    assert "a, broken" not in err  # where and what, never the line itself


def test_a_missing_tree_is_a_tool_error(trees, tmp_path):
    code, _, err = run_cli("diff", str(trees[0]), str(tmp_path / "absent"))
    assert code == 2 and "absent: not a directory [KC-E002]" in err


def test_inference_set_replica_and_autoscaling_changes(trees):
    """A replica added to a fixed-size set and a wider KEDA range on an autoscaled one, as a reviewer sees them."""
    old, new = trees
    static, replica = new / "inference" / "llama-3-1-8b-1", new / "inference" / "llama-3-1-8b-2"
    shutil.copytree(static, replica)
    for path in replica.iterdir():
        path.write_text(path.read_text().replace("llama-3-1-8b-1", "llama-3-1-8b-2").replace("wsef998aee9",
                                                                                               "ws000000002"))
        path.rename(path.with_name(path.name.replace("llama-3-1-8b-1", "llama-3-1-8b-2")
                                   .replace("wsef998aee9", "ws000000002")))
    scaled = new / "inference" / "phi-4-mini" / "scaledobject-phi-4-mini.yaml"
    scaled.write_text(scaled.read_text().replace("maxReplicaCount: 5", "maxReplicaCount: 8"))
    pool = new / "inference" / "phi-4-mini-0" / "nodepool-inference-phi-4-mini-0.yaml"
    pool.write_text(pool.read_text().replace('nodes: "5"', 'nodes: "8"'))
    code, out, _ = run_cli("--format", "json", "diff", str(old), str(new))
    report = json.loads(out)
    headlines = {ws["workspace"]: ws["headline"] for ws in report["workspaces"]}
    assert headlines == {
        "inference/llama-3-1-8b-2": "+1 node, +1 NVIDIA A100 GPU",
        "inference/phi-4-mini": "autoscaling StatefulSet/phi-4-mini-0 1–5 → 1–8 replicas",
        "inference/phi-4-mini-0": "+3 autoscaled nodes at most",
    }
    summary = report["summary"]["capacity"]
    assert summary["new"]["autoscaling"] == [{"target": "StatefulSet/phi-4-mini-0", "minReplicas": 1,
                                              "maxReplicas": 8}]
    assert summary["delta"] == ("+1 node, +1 NVIDIA A100 GPU, +3 autoscaled nodes at most, "
                                "autoscaling StatefulSet/phi-4-mini-0 1–5 → 1–8 replicas")
