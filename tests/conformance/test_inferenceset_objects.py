"""InferenceSet conformance: Kaito's own InferenceSet and gateway examples, compiled, compared field by field with
reference/kaito-inferenceset.md (§2.1 children, §2.8 the llm-d router objects, §3.3/§3.5 the ScaledObject) and with
the GWIE guide's HTTPRoute (``kaito/examples/gateway-api-inference-extension/httproute.yaml``).

The InferenceSet examples are compiled on the cluster they need to scale (KEDA_CLUSTER: Karpenter, a Prometheus
server, the gateway gate on, a Gateway named as in Kaito's guide) and, with their ``scaledobject.kaito.sh``
annotations removed, as fixed-size sets (STATIC_CLUSTER, Kaito's gpu-provisioner default). Expected values are
written HERE from the reference's tables, not derived from the compiler.

Deliberate differences (each asserted in its shape below; README "Deliberate differences" lists them too):

- child names ``<set>-<index>`` instead of ``generateName: <set>-`` + 5 random characters (§5); no ownerReferences.
- an autoscaled set compiles to ONE child ``<set>-0`` whose workload runs one pod per replica (its ``replicas`` left
  to KEDA); Kaito creates one Workspace per replica and scales the InferenceSet's scale subresource.
- ScaledObject: ``scaleTargetRef`` is that workload (apps/v1), not the InferenceSet; triggers are ``prometheus``
  queries of the metric (no keda-kaito-scaler, no ClusterTriggerAuthentication, no readiness gate); no
  ``scaledobject.kaito.sh/managed-by`` annotation (nothing else manages it).
- the scaled workload's pods carry the ``prometheus.io/{scrape,port,path}`` annotations (KEDA reads Prometheus).
- the scaled vLLM StatefulSet deletes a scaled-in pod's PVC (``whenScaled: Delete``; Kaito retains it).
- OCIRepository/HelmRelease: ``interval: 10m`` (Kaito's MultiRoleInference value) instead of the unset ``0s``; an
  autoscaled set's pool selects every pod (no ``apps.kubernetes.io/pod-index: "0"``: each pod is a replica).
- HTTPRoute: named ``<set>-inferencepool`` (the guide's ``llm-route``), one per set, parent from kaito-compile.yaml.
- every object: ``app.kubernetes.io/managed-by``, the spec-hash annotation and Argo CD sync annotations; set objects
  carry ``inferenceset.kaito.sh/created-by: <set>`` as a label.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver
from tests.support import kube

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "upstream" / "kaito" / "examples"
pytestmark = pytest.mark.skipif(not UPSTREAM.is_dir(), reason=f"{UPSTREAM} (upstream conformance data) is absent")

PROMETHEUS = "http://prometheus.monitoring.svc:9090"
KEDA_CLUSTER = {"cloud": "azure", "provisioner": "karpenter", "runtime": "vllm",
                "featureGates": {"gatewayAPIInferenceExtension": True},
                "autoscaling": {"prometheus": {"serverAddress": PROMETHEUS}},
                "routing": {"helmEngine": "flux", "gateway": {"name": "inference-gateway"}}}
STATIC_CLUSTER = {"cloud": "azure", "provisioner": "gpu-provisioner", "runtime": "vllm",
                  "featureGates": {"gatewayAPIInferenceExtension": True}}
SCALED_EXAMPLES = {  # file → (set name, namespace, nodeCountLimit, replicas)
    "kaito_inferenceset_llama-3.1_8b_instruct.yaml": ("llama-3-1-8b", "default", 10, 2),
    "kaito_inferenceset_mistral_7b-instruct.yaml": ("mistral-7b-instruct", "default", 5, 1),
    "kaito_inferenceset_phi_4_mini.yaml": ("phi-4-mini", "default", 5, 1),
}
CREATED_BY = "inferenceset.kaito.sh/created-by"


def compile_example(tmp_path: Path, name: str, config: dict, *, static: bool = False) -> dict[str, dict]:
    """``{"<dir>/<file>": object}`` of one upstream example compiled with ``config``."""
    documents = [doc for doc in yaml.safe_load_all((UPSTREAM / "inference" / name).read_text())
                 if doc and doc.get("kind") == "InferenceSet"]
    if static:
        for doc in documents:
            doc["metadata"].pop("annotations", None)
    (tmp_path / name).write_text(yaml.safe_dump_all(documents))
    (tmp_path / "kaito-compile.yaml").write_text(yaml.safe_dump(config))
    report, files = compile_paths([str(tmp_path / name)], ConfigResolver(str(tmp_path / "kaito-compile.yaml")),
                                  Catalogs())
    assert not report.errors, [d.message for d in report.errors]
    return {path: yaml.safe_load(data) for path, data in files.items()
            if path.count("/") == 2 and not path.endswith("kustomization.yaml")}


def by_kind(objects: dict[str, dict], kind: str) -> list[dict]:
    return [obj for obj in objects.values() if obj["kind"] == kind]


def kaito_helm_values(set_name: str, *, leader_only: bool) -> dict:
    """§2.8: the values Kaito's controller writes into the HelmRelease."""
    labels = {CREATED_BY: set_name}
    if leader_only:
        labels["apps.kubernetes.io/pod-index"] = "0"
    return {"router": {
        "epp": {"flags": {"secure-serving": False},
                "image": {"pullPolicy": "IfNotPresent", "registry": "mcr.microsoft.com/oss/v2/llm-d",
                          "repository": "llm-d-router-endpoint-picker", "tag": "v0.9.0"},
                "resources": {"limits": {"memory": "16Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}}},
        "modelServers": {"matchLabels": labels, "targetPorts": [{"number": 5000}]},
    }}


@pytest.mark.parametrize("name", sorted(SCALED_EXAMPLES))
def test_autoscaled_example(name: str, tmp_path: Path):
    set_name, namespace, limit, _ = SCALED_EXAMPLES[name]
    objects = compile_example(tmp_path, name, KEDA_CLUSTER)
    for path, obj in objects.items():
        assert kube.validate_manifest(obj) == [], path
    child = f"{set_name}-0"
    (workload,) = by_kind(objects, "StatefulSet")
    assert workload["metadata"]["name"] == child and "replicas" not in workload["spec"]
    # deliberate: a scaled-in pod's local weight cache goes with it (Kaito: Retain)
    assert workload["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Delete"
    # kaito-api.md §4.3: the created-by label joins the selector and the pod labels; §4.3.3 served name = set name
    assert workload["spec"]["selector"]["matchLabels"] == {"kaito.sh/workspace": child, CREATED_BY: set_name}
    assert workload["spec"]["template"]["metadata"]["labels"][CREATED_BY] == set_name
    assert workload["spec"]["template"]["metadata"]["annotations"] == {  # deliberate: KEDA reads Prometheus
        "prometheus.io/scrape": "true", "prometheus.io/port": "5000", "prometheus.io/path": "/metrics"}
    command = workload["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert f"--served-model-name={set_name}" in command.split()
    # §4.8: the NodePool of an InferenceSet workspace: two more labels, drift budget 0; dynamic, ≤ nodeCountLimit
    (pool,) = by_kind(objects, "NodePool")
    for labels in (pool["metadata"]["labels"], pool["spec"]["template"]["metadata"]["labels"]):
        assert labels["karpenter.kaito.sh/inferenceset"] == set_name
        assert labels["karpenter.kaito.sh/inferenceset-namespace"] == namespace
    assert pool["spec"]["disruption"]["budgets"] == [{"nodes": "0", "reasons": ["Drifted"]}]
    assert "replicas" not in pool["spec"] and pool["spec"]["limits"] == {"nodes": str(limit)}
    # §3.5 (the annotations are the legacy scheme): min 1, max nodeCountLimit / 1 node, polling 15, v0.5.1 behaviour
    (scaled,) = by_kind(objects, "ScaledObject")
    assert (scaled["metadata"]["name"], scaled["metadata"]["namespace"]) == (set_name, namespace)
    spec = scaled["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"], spec["pollingInterval"]) == (1, limit, 15)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == {
        "scaleUp": {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}], "tolerance": "100m"},
        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 600}], "tolerance": "500m"}}
    (trigger,) = spec["triggers"]
    assert (trigger["name"], trigger["metricType"], trigger["metadata"]["threshold"]) == (
        "keda-kaito-scaler", "AverageValue", "10")
    # deliberate: our workload and a Prometheus query instead of the InferenceSet and keda-kaito-scaler
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": child}
    assert trigger["type"] == "prometheus" and trigger["metadata"]["serverAddress"] == PROMETHEUS
    assert trigger["metadata"]["query"] == (f'sum(vllm:num_requests_waiting{{namespace="{namespace}",'
                                            f'pod=~"{child}-[0-9]+"}})')
    # §2.8: the router chart, every pod selected (each pod is a replica)
    check_router(objects, set_name, namespace, leader_only=False)


@pytest.mark.parametrize("name", sorted(SCALED_EXAMPLES))
def test_static_example(name: str, tmp_path: Path):
    set_name, namespace, limit, replicas = SCALED_EXAMPLES[name]
    objects = compile_example(tmp_path, name, STATIC_CLUSTER, static=True)
    for path, obj in objects.items():
        assert kube.validate_manifest(obj) == [], path
    workloads = {obj["metadata"]["name"]: obj for obj in by_kind(objects, "StatefulSet")}
    assert sorted(workloads) == [f"{set_name}-{i}" for i in range(replicas)]
    for child, workload in workloads.items():
        assert workload["spec"]["replicas"] == 1
        assert workload["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain"
        assert "annotations" not in workload["spec"]["template"]["metadata"]
        assert workload["spec"]["selector"]["matchLabels"] == {"kaito.sh/workspace": child, CREATED_BY: set_name}
        assert f"{namespace}/{child}/statefulset-{child}.yaml" in objects
    assert len(by_kind(objects, "NodeClaim")) == replicas
    assert by_kind(objects, "ScaledObject") == [] and by_kind(objects, "HTTPRoute") == []
    check_router(objects, set_name, namespace, leader_only=True)


def check_router(objects: dict[str, dict], set_name: str, namespace: str, *, leader_only: bool) -> None:
    pool = f"{set_name}-inferencepool"
    (oci,) = by_kind(objects, "OCIRepository")
    (release,) = by_kind(objects, "HelmRelease")
    for obj in (oci, release):
        assert (obj["metadata"]["name"], obj["metadata"]["namespace"]) == (pool, namespace)
        assert obj["spec"]["interval"] == "10m"  # deliberate (Kaito: unset, 0s)
    assert {k: v for k, v in oci["spec"].items() if k != "interval"} == {
        "url": "oci://ghcr.io/llm-d/charts/llm-d-router-gateway", "ref": {"tag": "v0.9.0"}}
    assert {k: v for k, v in release["spec"].items() if k != "interval"} == {
        "chartRef": {"kind": "OCIRepository", "namespace": namespace, "name": pool},
        "values": kaito_helm_values(set_name, leader_only=leader_only)}


def test_http_route_matches_the_guide(tmp_path: Path):
    """The guide's HTTPRoute for phi-4-mini: same parent, backend and match; our name is <set>-inferencepool."""
    guide = yaml.safe_load((UPSTREAM / "gateway-api-inference-extension" / "httproute.yaml").read_text())
    objects = compile_example(tmp_path, "kaito_inferenceset_phi_4_mini.yaml", KEDA_CLUSTER)
    (route,) = by_kind(objects, "HTTPRoute")
    assert route["spec"] == guide["spec"]
    assert route["metadata"]["name"] == "phi-4-mini-inferencepool" != guide["metadata"]["name"]


def test_argocd_installs_the_same_chart_and_values(tmp_path: Path):
    config = {**KEDA_CLUSTER, "routing": {"helmEngine": "argocd", "argocdNamespace": "argocd"}}
    objects = compile_example(tmp_path, "kaito_inferenceset_phi_4_mini.yaml", config)
    assert by_kind(objects, "HelmRelease") == [] and by_kind(objects, "OCIRepository") == []
    (application,) = by_kind(objects, "Application")
    assert kube.validate_manifest(application) == []
    source = application["spec"]["source"]
    assert (source["repoURL"], source["targetRevision"], source["path"]) == (
        "oci://ghcr.io/llm-d/charts/llm-d-router-gateway", "v0.9.0", ".")
    assert source["helm"] == {"releaseName": "phi-4-mini-inferencepool",
                              "valuesObject": kaito_helm_values("phi-4-mini", leader_only=False)}
    assert application["spec"]["destination"]["namespace"] == "default"
    assert application["metadata"]["namespace"] == "argocd"


def test_mig_examples_compile_on_their_byo_cluster(tmp_path: Path):
    """kaito_inferenceset_mig_single_strategy.yaml (MIG single strategy: whole nvidia.com/gpu slices), fixed size,
    on the BYO nodes it selects: two children scheduled by the set's labelSelector (§2.1), no node objects."""
    config = {"cloud": "azure", "provisioner": "byo", "runtime": "vllm", "featureGates": {"enableMIG": True},
              "nodes": [{"name": f"mig-{i}", "labels": {
                  "kaito-inferenceset": "phi-4-mini", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                  "nvidia.com/gpu.count": "1", "nvidia.com/gpu.memory": "81920",
                  "nvidia.com/mig.config": "all-2g.20gb", "nvidia.com/mig.config.state": "success"}}
                  for i in range(2)]}
    objects = compile_example(tmp_path, "kaito_inferenceset_mig_single_strategy.yaml", config, static=True)
    workloads = by_kind(objects, "StatefulSet")
    assert sorted(w["metadata"]["name"] for w in workloads) == ["phi-4-mini-0", "phi-4-mini-1"]
    for workload in workloads:
        terms = workload["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
        assert {"key": "kaito-inferenceset", "operator": "In", "values": ["phi-4-mini"]} in terms
    assert by_kind(objects, "NodeClaim") == [] and by_kind(objects, "NodePool") == []
