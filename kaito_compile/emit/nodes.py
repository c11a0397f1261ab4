"""Node provisioning objects: NodeClaims (gpu-provisioner), legacy Machines, a NodePool (karpenter).

These are cluster-scoped custom resources, emitted in a chart without a namespace. Names are derived from
namespace, workspace and index only (Kaito's are random).
"""

from __future__ import annotations


import cdk8s

from ..plan.model import Plan
from ..plan.names import node_pool_name
from .common import Scope, WORKSPACE_LABEL, WORKSPACE_NAMESPACE_LABEL, plain_metadata, untyped_object

NODEPOOL_LABEL = "karpenter.sh/nodepool"
TAINTS = [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
NODE_CLASS_REF = {
    "azure": {"group": "kaito.sh", "kind": "KaitoNodeClass", "name": "default"},
    "aws": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
}


def _api_object(scope: Scope, plan: Plan, api_version: str, kind: str, name: str, labels: dict[str, str],
                annotations: dict[str, str], spec: dict) -> cdk8s.ApiObject:
    meta = plain_metadata(plan, name, namespaced=False, labels=labels, annotations=annotations)
    return untyped_object(scope, f"{kind}-{name}", api_version, kind, meta, {"spec": spec})


def _workspace_node_labels(plan: Plan) -> dict[str, str]:
    return {WORKSPACE_LABEL: plan.workspace, WORKSPACE_NAMESPACE_LABEL: plan.namespace, **plan.match_labels}


def _base_requirements(plan: Plan, pool_key: str, pool_value: str) -> list[dict]:
    requirements = [
        {"key": pool_key, "operator": "In", "values": [pool_value]},
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [plan.instance_type]},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
    ]
    if plan.cloud == "azure":
        requirements.append({"key": "karpenter.azure.com/sku-name", "operator": "In", "values": [plan.instance_type]})
    elif plan.cloud == "aws":
        requirements.append({"key": "karpenter.k8s.aws/instance-gpu-count", "operator": "Gt", "values": ["0"]})
    return requirements


def emit_node_claims(scope: Scope, plan: Plan) -> list[cdk8s.ApiObject]:
    return [_node_claim(scope, plan, name) for name in plan.node_names]


def _node_claim(scope: Scope, plan: Plan, name: str) -> cdk8s.ApiObject:
    return _api_object(scope, plan, "karpenter.sh/v1", "NodeClaim", name,
                       labels={NODEPOOL_LABEL: "kaito", **_workspace_node_labels(plan)},
                       annotations={"karpenter.sh/do-not-disrupt": "true",
                                    "kaito.sh/node-image-family": plan.node_image_family},
                       spec={
                           "nodeClassRef": NODE_CLASS_REF.get(plan.cloud, {"group": "", "kind": "", "name": "default"}),
                           "requirements": _base_requirements(plan, NODEPOOL_LABEL, "kaito"),
                           "resources": {"requests": {"storage": plan.disk_size}},
                           "taints": TAINTS,
                       })


def emit_machines(scope: Scope, plan: Plan) -> list[cdk8s.ApiObject]:
    """The karpenter.sh/v1alpha5 Machine that gpu-provisioner consumed before NodeClaim (the seeds' era)."""
    return [_machine(scope, plan, name) for name in plan.node_names]


def _machine(scope: Scope, plan: Plan, name: str) -> cdk8s.ApiObject:
    return _api_object(scope, plan, "karpenter.sh/v1alpha5", "Machine", name,
                       labels={"karpenter.sh/provisioner-name": "default", **_workspace_node_labels(plan)},
                       annotations={"kaito.sh/node-image-family": plan.node_image_family},
                       spec={
                           "machineTemplateRef": {"name": name},
                           "requirements": _base_requirements(plan, "karpenter.sh/provisioner-name", "default"),
                           "resources": {"requests": {"storage": plan.disk_size}},
                           "taints": TAINTS,
                       })


def emit_node_pool(scope: Scope, plan: Plan, node_class_group: str, node_class_kind: str) -> cdk8s.ApiObject:
    workspace_labels = {"karpenter.kaito.sh/workspace-name": plan.workspace,
                        "karpenter.kaito.sh/workspace-namespace": plan.namespace}
    if plan.inference_set:
        workspace_labels.update({"karpenter.kaito.sh/inferenceset": plan.inference_set,
                                 "karpenter.kaito.sh/inferenceset-namespace": plan.namespace})
    requirements = [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [plan.instance_type]}]
    if node_class_group == "karpenter.azure.com":
        requirements.append({"key": "karpenter.azure.com/placement-scope", "operator": "In", "values": ["regional"]})
    return _api_object(scope, plan, "karpenter.sh/v1", "NodePool", node_pool_name(plan.namespace, plan.workspace),
                       labels={"karpenter.kaito.sh/managed-by": "kaito", **workspace_labels}, annotations={},
                       spec={
                           **_node_pool_size(plan),
                           "template": {
                               "metadata": {"labels": {**workspace_labels, **plan.match_labels}},
                               "spec": {
                                   "nodeClassRef": {"group": node_class_group, "kind": node_class_kind,
                                                    "name": plan.node_class},
                                   "requirements": requirements,
                                   "taints": TAINTS,
                               },
                           },
                           "disruption": {"consolidateAfter": "0s",
                                          "budgets": [{"nodes": "0" if plan.inference_set else "1",
                                                       "reasons": ["Drifted"]}]},
                       })


def _node_pool_size(plan: Plan) -> dict:
    """Static (``replicas``) as Kaito's NodePool; dynamic with a node limit when KEDA scales the workload, so
    Karpenter creates a node for each pending replica pod, up to the set's maximum."""
    if plan.autoscaled_max_nodes is None:
        return {"replicas": plan.node_count}
    return {"limits": {"nodes": str(plan.autoscaled_max_nodes)}}
