"""`kaito-compile plan` and `plan --suggest`: snapshot tests of their text and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / "tests" / "plan" / "snapshots"


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def _run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_plan_examples_text(snapshot):
    snapshot.snapshot_dir = SNAPSHOTS
    code, output = _run("plan", "examples")
    assert code == 0
    snapshot.assert_match(output, "plan-examples.txt")


def test_plan_examples_json_agrees_with_the_estimator_table():
    code, output = _run("--format", "json", "plan", "examples")
    assert code == 0
    rows = {row["workspace"]: row for row in json.loads(output) if "workspace" in row}
    # kaito-api.md §2.5(e): llama-3.3-70b on NC24ads_A100_v4 (1×80Gi) needs 3 nodes; phi-3.5 on NV72ads is DP=2.
    assert rows["vllm/workspace-llama-3-3-70b"]["nodes"] == 3
    assert rows["vllm/workspace-llama-3-3-70b"]["parallelism"] == "TP=1 PP=3"
    assert rows["vllm/workspace-phi-3-5-mini"]["parallelism"] == "DP=2 TP=1"
    assert rows["default/workspace-phi-3-mini"]["runtime"] == "transformers"


def test_plan_examples_json_shows_inference_sets():
    code, output = _run("--format", "json", "plan", "examples")
    assert code == 0
    rows = json.loads(output)
    sets = {row["inferenceSet"]: row for row in rows if row.get("kind") == "InferenceSet"}
    static, scaled = sets["inference/llama-3-1-8b"], sets["inference/phi-4-mini"]
    assert static["children"] == ["llama-3-1-8b-0", "llama-3-1-8b-1"]
    assert (static["nodes"], static["gpus"], static["autoscaling"]) == (2, 2, None)
    assert scaled["children"] == ["phi-4-mini-0"]
    assert scaled["autoscaling"] == {"scheme": "v0.6", "minReplicas": 1, "maxReplicas": 5,
                                     "maxFrom": "spec.nodeCountLimit", "target": "StatefulSet/phi-4-mini-0"}
    assert (scaled["nodes"], scaled["nodeCountLimit"]) == (5, 5)
    replicas = {row["workspace"]: row for row in rows if row.get("inferenceSet") == "llama-3-1-8b"}
    assert set(replicas) == {"inference/llama-3-1-8b-0", "inference/llama-3-1-8b-1"}


@pytest.mark.parametrize("runtime", ["vllm", "transformers"])
def test_plan_suggest(snapshot, runtime):
    snapshot.snapshot_dir = SNAPSHOTS
    code, output = _run("--config", "examples/kaito-compile.yaml", "plan", "--suggest", "phi-3-medium-4k-instruct",
                        "--runtime", runtime)
    assert code == 0
    snapshot.assert_match(output, f"suggest-phi-3-medium-{runtime}.txt")


def test_plan_suggest_json_is_smallest_first():
    code, output = _run("--format", "json", "plan", "--suggest", "llama-3.3-70b-instruct", "--runtime", "vllm")
    assert code == 0
    skus = json.loads(output)["skus"]
    totals = [row["totalGpus"] for row in skus]
    assert totals == sorted(totals) and skus


def test_plan_suggest_unknown_model_is_a_tool_error():
    code, output = _run("plan", "--suggest", "no-such-model")
    assert code == 2
