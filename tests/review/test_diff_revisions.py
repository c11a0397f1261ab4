"""`kaito-compile diff --base REV` across two commits of a real git repository: snapshots and the GPU summary.

Update the snapshots on purpose with ``pytest tests/review --snapshot-update``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.review.gitrepo import CHAT, commit, git, make_fleet_repo
from tests.support.cli import run_cli

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_fleet_repo(tmp_path_factory.mktemp("fleet") / "repo")


def run(cwd: Path, monkeypatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(cwd)
    return run_cli(*args)


@pytest.fixture(scope="module")
def outputs(repo) -> dict[str, str]:
    """The three renderings of HEAD~1 → working tree, computed once."""
    patch = pytest.MonkeyPatch()
    try:
        rendered = {}
        for fmt in ("text", "markdown", "json"):
            code, out, err = run(repo, patch, "diff", "--base", "HEAD~1", "--output-format", fmt, "specs")
            assert code == 0, out + err
            rendered[fmt] = out
        return rendered
    finally:
        patch.undo()


@pytest.mark.parametrize("fmt, name", [("text", "fleet.txt"), ("markdown", "fleet.md"), ("json", "fleet.json")])
def test_snapshots(outputs, snapshot, fmt, name):
    snapshot.snapshot_dir = SNAPSHOTS
    snapshot.assert_match(outputs[fmt], name)


def test_gpu_and_node_summary_per_workspace(outputs):
    report = json.loads(outputs["json"])
    headlines = {ws["workspace"]: ws["headline"] for ws in report["workspaces"]}
    assert headlines == {
        "team-a/workspace-chat": "+2 nodes, +16 NVIDIA A100 GPUs",
        "team-a/workspace-new": "+1 node, +1 NVIDIA A100 GPU",
        "team-b/workspace-phi": "+1 NVIDIA A100 GPU; Standard_NC24ads_A100_v4 → Standard_NC48ads_A100_v4",
    }
    chat = next(ws for ws in report["workspaces"] if ws["workspace"] == "team-a/workspace-chat")
    assert chat["capacity"] == {
        "old": {"nodes": 1, "instanceTypes": ["Standard_ND96asr_A100_v4"], "gpus": {"NVIDIA A100": 8}},
        "new": {"nodes": 3, "instanceTypes": ["Standard_ND96asr_A100_v4"], "gpus": {"NVIDIA A100": 24}},
    }
    assert report["summary"]["capacity"]["delta"] == "+3 nodes, +18 NVIDIA A100 GPUs"
    for fmt in ("text", "markdown"):
        assert "+2 nodes, +16 NVIDIA A100 GPUs" in outputs[fmt]
        assert outputs[fmt].index("+16 NVIDIA A100") < outputs[fmt].index("spec.replicas")  # capacity leads


def test_the_base_is_compiled_with_its_own_config(outputs):
    report = json.loads(outputs["json"])
    images = [image for ws in report["workspaces"] for image in ws["images"] if image["old"]]
    assert images == [{"container": "workspace-chat", "object": "Deployment team-a/workspace-chat",
                       "old": "ghcr.io/kaito-compile/kaito-inference:0.1.0",
                       "new": "ghcr.io/kaito-compile/kaito-inference:0.2.0"}]


def test_a_new_instance_type_swaps_node_claims_instead_of_patching_an_immutable_spec(outputs):
    report = json.loads(outputs["json"])
    phi = next(ws for ws in report["workspaces"] if ws["workspace"] == "team-b/workspace-phi")
    claims = sorted(o["status"] for o in phi["objects"] if o["kind"] == "NodeClaim")
    assert claims == ["added", "removed"]
    assert [r for o in phi["objects"] for r in o["replacements"]] == []
    statefulset = next(o for o in phi["objects"] if o["kind"] == "StatefulSet")
    assert statefulset["effect"] == "rollout"


def test_same_revision_has_no_changes_and_exit_code_reports_them(repo, monkeypatch):
    code, out, _ = run(repo, monkeypatch, "diff", "--base", "HEAD", "specs")
    assert (code, out.splitlines()[1]) == (0, "No changes (3 workspaces compared)")
    code, _, _ = run(repo, monkeypatch, "diff", "--base", "HEAD", "--exit-code", "specs")
    assert code == 0
    code, _, _ = run(repo, monkeypatch, "diff", "--base", "HEAD~1", "--exit-code", "specs")
    assert code == 1


def test_runs_from_a_subdirectory_and_leaves_no_worktree_behind(repo, monkeypatch, outputs):
    code, out, _ = run(repo / "specs", monkeypatch, "--format", "json", "diff", "--base", "HEAD~1")
    assert code == 0
    assert json.loads(out)["workspaces"] == json.loads(outputs["json"])["workspaces"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_path_absent_at_the_base_is_all_new(repo, monkeypatch):
    code, out, _ = run(repo, monkeypatch, "--format", "json", "diff", "--base", "HEAD~1", "specs/new.yaml")
    assert code == 0
    assert [(ws["workspace"], ws["status"]) for ws in json.loads(out)["workspaces"]] == [
        ("team-a/workspace-new", "added")]


def test_unknown_revision_is_a_tool_error(repo, monkeypatch):
    code, _, err = run(repo, monkeypatch, "diff", "--base", "no-such-branch", "specs")
    assert code == 2
    assert "--base no-such-branch: not a commit" in err and "[KC-E003]" in err


def test_specs_that_do_not_compile_at_the_base_are_reported(tmp_path, monkeypatch):
    repo = tmp_path / "broken"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"specs/chat.yaml": "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: chat\n"},
           "broken")
    commit(repo, {"specs/chat.yaml": CHAT.format(count=1)}, "fixed")
    code, out, err = run(repo, monkeypatch, "diff", "--base", "HEAD~1", "specs")
    assert code == 1
    assert "the specs at HEAD~1 do not compile" in err
    assert "specs/chat.yaml:1:1: error: document: missing required field 'resource' [KC-S002]" in out


def test_usage(repo, monkeypatch):
    code, _, err = run(repo, monkeypatch, "diff", "only-one-tree")
    assert code == 2 and "give --base REV [PATH...], or two output directories" in err


@pytest.mark.parametrize("path, message", [("../elsewhere", "../elsewhere is outside the repository"),
                                           ("-", "stdin has no earlier revision")])
def test_paths_the_base_cannot_have_are_refused(repo, monkeypatch, path, message):
    code, _, err = run(repo, monkeypatch, "diff", "--base", "HEAD~1", path)
    assert code == 2 and message in err and "[KC-E002]" in err
