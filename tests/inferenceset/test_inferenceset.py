"""InferenceSet pieces that the rule cases and the conformance tests do not pin down: the projection's positions,
Kaito's cron and duration grammar, helm-controller's release names, the v0.6 metrics scheme and the transformers
runtime's scaled Deployment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver
from kaito_compile.plan.inferenceset import helm_release_name
from kaito_compile.rules.inferenceset import cron_problem, formula_variable, go_atoi, go_duration_seconds
from kaito_compile.source import parse_documents
from kaito_compile.spec.inferenceset import parse_inference_set, project_child
from tests.support import kube

SET = """\
apiVersion: kaito.sh/v1beta1
kind: InferenceSet
metadata:
  name: chat
  namespace: team
  labels: {kaito.sh/inference-role: decode, other: x}
  annotations: {kaito.sh/disable-benchmark: "true", scaledobject.kaito.sh/auto-provision: "true"}
spec:
  replicas: 3
  labelSelector:
    matchLabels: {apps: chat}
  template:
    metadata:
      labels: {team: a}
      annotations: {kaito.sh/runtime: vllm}
    resource:
      instanceType: Standard_NC24ads_A100_v4
    inference:
      preset:
        name: phi-4-mini-instruct
"""


def test_projected_child_is_kaitos_child_with_positions_in_the_set():
    docs, problems = parse_documents(SET, "set.yaml")
    assert problems == []
    iset, problems = parse_inference_set(docs[0])
    assert problems == []
    child = project_child(iset, 2, byo=False)
    assert child.plain == {
        "apiVersion": "kaito.sh/v1beta1", "kind": "Workspace",
        "metadata": {"name": "chat-2", "namespace": "team",
                     "labels": {"team": "a", "kaito.sh/inference-role": "decode",
                                "inferenceset.kaito.sh/created-by": "chat"},
                     "annotations": {"kaito.sh/runtime": "vllm", "kaito.sh/disable-benchmark": "true"}},
        "resource": {"instanceType": "Standard_NC24ads_A100_v4", "labelSelector": {"matchLabels": {"apps": "chat"}}},
        "inference": {"preset": {"name": "phi-4-mini-instruct"}},
    }
    span = lambda path: (child.span(path).line, child.span(path).col)  # noqa: E731
    assert span(("inference", "preset", "name")) == (20, 15)
    assert span(("resource", "instanceType")) == (17, 21)
    assert span(("resource", "labelSelector", "matchLabels", "apps")) == (11, 25)
    assert span(("metadata", "name")) == (4, 9)
    assert span(("metadata", "annotations", "kaito.sh/runtime")) == (15, 39)
    assert "instanceType" not in project_child(iset, 0, byo=True).plain["resource"]  # Kaito omits it on BYO


@pytest.mark.parametrize("schedule", ["0 2 * * SUN", "*/15 1-5 ? JAN-MAR mon,wed", "@daily", "@every 1h30m",
                                      "CRON_TZ=UTC 0 0 1 * *", "0 0 * * 0-6"])
def test_cron_accepted(schedule):
    assert cron_problem(schedule) is None


@pytest.mark.parametrize("schedule", ["0 2 * *", "60 * * * *", "0 0 0 * *", "* * * 13 *", "0 0 * * 7",
                                      "5-1 * * * *", "*/0 * * * *", "@weekday", "@every 5x", "0 0 ? * *x"])
def test_cron_refused(schedule):
    assert cron_problem(schedule) is not None


@pytest.mark.parametrize(("text", "seconds"), [("4h", 14400), ("1h30m", 5400), ("0", 0), ("-5m", -300),
                                               ("1.5s", 1.5), ("300ms", 0.3), ("2h0m0s", 7200)])
def test_go_durations(text, seconds):
    assert go_duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "4", "h", "4d", "1h 30m", "--1s", "\u0664h", "1\uff10m"])
def test_go_durations_refused(text):
    assert go_duration_seconds(text) is None


@pytest.mark.parametrize(("text", "value"), [("3", 3), ("+3", 3), ("-2", -2), ("007", 7), (" 3", None),
                                             ("3 ", None), ("1_0", None), ("\u0663", None), ("", None), ("+", None),
                                             ("9223372036854775808", None)])
def test_go_atoi(text, value):
    assert go_atoi(text) == value


def test_helm_release_names_are_shortened_as_helm_controller_does():
    assert helm_release_name("a" * 53) == "a" * 53
    long = "a-very-long-inference-set-name-for-a-model-inferencepool"
    short = helm_release_name(long)
    assert len(short) == 53 and short.startswith(long[:40] + "-")


def test_formula_variables():
    assert formula_variable("vllm:num_requests_waiting") == "vllm_num_requests_waiting"
    assert formula_variable("9lives.x") == "_9lives_x"


def _compile(tmp_path: Path, spec: str, config: dict) -> dict[str, dict]:
    (tmp_path / "kaito-compile.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "set.yaml").write_text(spec)
    report, files = compile_paths([str(tmp_path / "set.yaml")], ConfigResolver(str(tmp_path / "kaito-compile.yaml")),
                                  Catalogs())
    assert not report.errors, [d.message for d in report.errors]
    return {path: yaml.safe_load(data) for path, data in files.items()
            if path.count("/") == 2 and not path.endswith("kustomization.yaml")}


V06 = """\
apiVersion: kaito.sh/v1beta1
kind: InferenceSet
metadata:
  name: phi-3
  annotations:
    scaledobject.kaito.sh/auto-provision: "true"
    scaledobject.kaito.sh/max-replicas: "4"
    scaledobject.kaito.sh/min-replicas: "2"
    scaledobject.kaito.sh/scaleupcooldown: "120"
    scaledobject.kaito.sh/metrics: |
      - {name: vllm:num_requests_waiting, type: gauge, upthreshold: 10, downthreshold: 0.5}
      - {name: vllm:time_to_first_token_seconds, type: histogram, upthreshold: 2, downthreshold: 1,
         metriccachewindow: 120}
spec:
  labelSelector:
    matchLabels: {apps: phi-3}
  template:
    resource:
      instanceType: Standard_NC24ads_A100_v4
    inference:
      preset:
        name: phi-3-mini-4k-instruct
"""


def test_v06_scheme_on_the_transformers_runtime_scales_our_deployment(tmp_path: Path):
    config = {"provisioner": "byo", "runtime": "transformers",
              "autoscaling": {"prometheus": {"serverAddress": "http://prom:9090"}},
              "nodes": [{"name": f"n{i}", "labels": {"apps": "phi-3", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                                                    "nvidia.com/gpu.count": "1", "nvidia.com/gpu.memory": "81920"}}
                        for i in range(4)]}
    objects = _compile(tmp_path, V06.replace("      instanceType: Standard_NC24ads_A100_v4\n", "      {}\n")
                       .replace("    resource:\n      {}\n", ""), config)
    for path, obj in objects.items():
        assert kube.validate_manifest(obj) == [], path
    deployment = objects["default/phi-3-0/deployment-phi-3-0.yaml"]
    assert "replicas" not in deployment["spec"]
    scaled = objects["default/phi-3/scaledobject-phi-3.yaml"]["spec"]
    assert scaled["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "phi-3-0"}
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 4)
    assert scaled["advanced"]["scalingModifiers"] == {
        "target": "1", "metricType": "Value",
        "formula": "(vllm_num_requests_waiting > 10 && vllm_time_to_first_token_seconds > 2) ? 2.0 : "
                   "((vllm_num_requests_waiting < 0.5 && vllm_time_to_first_token_seconds < 1) ? 0.5 : 1.0)"}
    assert scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["policies"][0][
        "periodSeconds"] == 120
    selector = 'namespace="default",pod=~"phi-3-0-[a-z0-9]+-[a-z0-9]+"'
    assert [t["metadata"]["query"] for t in scaled["triggers"]] == [
        f"avg(vllm:num_requests_waiting{{{selector}}})",
        f"sum(rate(vllm:time_to_first_token_seconds_sum{{{selector}}}[120s])) / "
        f"sum(rate(vllm:time_to_first_token_seconds_count{{{selector}}}[120s]))"]
    assert [t["name"] for t in scaled["triggers"]] == ["vllm_num_requests_waiting", "vllm_time_to_first_token_seconds"]


def test_compiling_a_set_twice_gives_the_same_bytes(tmp_path: Path):
    config = {"provisioner": "karpenter", "runtime": "vllm",
              "autoscaling": {"prometheus": {"serverAddress": "http://prom:9090"}}}
    first = _compile(tmp_path, V06, config)
    assert _compile(tmp_path, V06, config) == first
