"""Pieces every workload shares: labels, node affinity, tolerations, security context, volumes."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import cdk8s
from constructs import Construct
from kaito_runtime.layout import HF_HOME, SCRATCH_DIR

from .. import __version__
from ..plan.model import Plan
from . import raw

WORKSPACE_LABEL = "kaito.sh/workspace"
WORKSPACE_NAMESPACE_LABEL = "kaito.sh/workspacenamespace"
MANAGED_BY = {"app.kubernetes.io/managed-by": "kaito-compile"}
SPEC_HASH_ANNOTATION = "kaito-compile.dev/spec-hash"
INFERENCE_PORT = 5000
RUNTIME_UID = 1000


@dataclass(frozen=True)
class Scope:
    """Where one workspace's objects go: the batch's chart, and a prefix that keeps their construct ids unique in
    it (a construct of its own per workspace would cost a round trip to node each)."""

    chart: Construct
    prefix: str

    def at(self, local: str) -> tuple[Construct, str]:
        """The scope and id arguments of an object this workspace calls ``local``."""
        return self.chart, f"{self.prefix}{local}"


def common_labels(plan: Plan) -> dict[str, str]:
    return {WORKSPACE_LABEL: plan.workspace, **MANAGED_BY}


def workload_labels(plan: Plan) -> dict[str, str]:
    """The workload's selector and pod labels: ``kaito.sh/workspace`` plus the labels Kaito copies from the Workspace
    (an InferenceSet replica's ``inferenceset.kaito.sh/created-by``, …)."""
    return {WORKSPACE_LABEL: plan.workspace, **plan.workload_labels}


def workload_replicas(plan: Plan) -> int | None:
    """One pod per node; None (left out) when KEDA owns the field, so GitOps never resets what KEDA scaled."""
    return None if plan.autoscaled_max_nodes is not None else plan.node_count


def scrape_annotations(plan: Plan) -> dict[str, str] | None:
    """When KEDA scales the workload from Prometheus, the pods ask to be scraped (the ``prometheus.io/*`` convention
    of the usual ``kubernetes-pods`` scrape job): both runtimes serve their metrics at ``/metrics`` on the API port."""
    if plan.autoscaled_max_nodes is None:
        return None
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(INFERENCE_PORT), "prometheus.io/path": "/metrics"}


def common_annotations(plan: Plan) -> dict[str, str]:
    return {SPEC_HASH_ANNOTATION: plan.source_hash}


# kube-linter check → Polaris check, both failed by a container that runs as root with a writable root filesystem
ROOT_CHECKS = {"run-as-non-root": "runAsRootAllowed", "no-read-only-root-fs": "notReadOnlyRootFilesystem",
               "privilege-escalation-container": "privilegeEscalationAllowed"}
VLLM_EXEMPTION = ("Kaito's vLLM base image runs as root with a writable root filesystem (and provisions the CUDA "
                  "toolkit on the node through a hostPath); kaito-compile cannot restrict it")
TEMPLATE_EXEMPTION = "the user's pod template (inference.template) sets its own securityContext; kaito-compile keeps it"


def linter_exemptions(reason: str) -> dict[str, str]:
    """kube-linter and Polaris exemptions from the root checks, with the reason, for workloads whose containers
    kaito-compile cannot restrict (Kaito's vLLM image, the user's pod template); our own images are restricted."""
    annotations = {}
    for kube_linter, polaris in ROOT_CHECKS.items():
        annotations[f"ignore-check.kube-linter.io/{kube_linter}"] = reason
        annotations[f"polaris.fairwinds.com/{polaris}-exempt"] = "true"
    return annotations


def untyped_object(scope: Scope, local: str, api_version: str, kind: str, meta: cdk8s.ApiObjectMetadata,
                   body: dict[str, Any]) -> cdk8s.ApiObject:
    """A cdk8s object whose ``body`` (its top-level fields besides apiVersion, kind and metadata, as plain JSON) node
    never sees: it is spliced into the chart's JSON after synthesis (:mod:`.raw`). Every object the emitter makes is
    one. The typed cdk8s+ objects they replace made node convert and resolve every prop, and cost a JSON patch (two
    round trips) for anything they could not type: about a third of an emitted batch's time, and loading cdk8s+
    (bench/PROFILE.md, round 5). The body is kaito-compile's own data: there is nothing in it for cdk8s to resolve."""
    obj = cdk8s.ApiObject(*scope.at(local), api_version=api_version, kind=kind, metadata=meta)
    for field, value in body.items():
        raw.add(obj, f"/{field}", value)
    return obj


def plain(**fields: Any) -> dict[str, Any]:
    """A Kubernetes struct as JSON from Python keyword arguments: keys in camelCase (``volume_mounts`` →
    ``volumeMounts``; the fields the emitter writes have no other spelling), None values left out."""
    return {_camel(name): value for name, value in fields.items() if value is not None}


@functools.cache
def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def plain_metadata(plan: Plan, name: str, *, namespaced: bool = True, labels: dict[str, str] | None = None,
                   annotations: dict[str, str] | None = None) -> cdk8s.ApiObjectMetadata:
    """An object's metadata: ``name``, the workspace's namespace unless the kind is cluster-scoped, the common labels
    and annotations and the given ones."""
    return cdk8s.ApiObjectMetadata(name=name, namespace=plan.namespace if namespaced else None,
                                   labels={**common_labels(plan), **(labels or {})},
                                   annotations={**common_annotations(plan), **(annotations or {})})


def provisioner_terms(plan: Plan) -> list[tuple[str, str]]:
    """The node labels Kaito's provisioners put on the nodes they create for this workspace."""
    if plan.provisioner in ("gpu-provisioner", "machine"):
        return [(WORKSPACE_LABEL, plan.workspace), (WORKSPACE_NAMESPACE_LABEL, plan.namespace)]
    if plan.provisioner == "karpenter":
        return [("karpenter.kaito.sh/workspace-name", plan.workspace),
                ("karpenter.kaito.sh/workspace-namespace", plan.namespace)]
    return []


def _affinity_terms(plan: Plan, with_provisioner: bool) -> list[tuple[str, str]]:
    """Sorted matchLabels, then the provisioner's terms (Kaito's order, made deterministic)."""
    return sorted(plan.match_labels.items()) + (provisioner_terms(plan) if with_provisioner else [])


def node_affinity(plan: Plan, *, with_provisioner: bool = True) -> dict | None:
    """The required node affinity to the workspace's nodes; None when there is nothing to select on."""
    terms = _affinity_terms(plan, with_provisioner)
    if not terms:
        return None
    expressions = [{"key": key, "operator": "In", "values": [value]} for key, value in terms]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": expressions}]}}}


def inference_tolerations(plan: Plan) -> list[dict[str, str]]:
    specs = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
             {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
             *_cloud_toleration_specs(plan)]
    if plan.gpu_resource != "nvidia.com/gpu":
        specs.append({"key": plan.gpu_resource, "operator": "Exists", "effect": "NoSchedule"})
    return specs


def tuning_tolerations(plan: Plan) -> list[dict[str, str]]:
    return [{"key": "gpu", "operator": "Equal", "effect": "NoSchedule"},
            {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
            *_cloud_toleration_specs(plan)]


def _cloud_toleration_specs(plan: Plan) -> list[dict[str, str]]:
    if plan.cloud == "azure":
        return [{"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
                 "effect": "NoSchedule"}]
    return []


def gpu_resources(plan: Plan, count: int) -> dict:
    return {"requests": {plan.gpu_resource: count}, "limits": {plan.gpu_resource: count}}


def restricted_security_context(*, read_only_root: bool = True) -> dict:
    """Non-root, no privilege escalation, no capabilities: our runtime images need nothing more."""
    return plain(run_as_non_root=True, run_as_user=RUNTIME_UID, allow_privilege_escalation=False,
                 read_only_root_filesystem=read_only_root, capabilities={"drop": ["ALL"]},
                 seccomp_profile={"type": "RuntimeDefault"})


def pod_security_context() -> dict:
    return plain(run_as_non_root=True, run_as_user=RUNTIME_UID, run_as_group=RUNTIME_UID, fs_group=RUNTIME_UID,
                 seccomp_profile={"type": "RuntimeDefault"})


def empty_dir(name: str, *, memory: bool = False) -> dict:
    return {"name": name, "emptyDir": {"medium": "Memory"} if memory else {}}


def mount(name: str, path: str, *, read_only: bool | None = None) -> dict:
    return plain(name=name, mount_path=path, read_only=read_only)


def scratch_env() -> list[dict]:
    """HOME and the Hugging Face caches on the `tmp` emptyDir, the one writable place of a container with a
    read-only root filesystem (docs/runtime-contract.md, "Writable paths")."""
    return [{"name": "HOME", "value": SCRATCH_DIR}, {"name": "HF_HOME", "value": HF_HOME}]


def docker_config_volume(name: str, secrets: tuple[str, ...] | list[str], *, single_file: str | None = None
                         ) -> dict:
    """A projected volume of kubernetes.io/dockerconfigjson Secrets: one JSON file per Secret."""
    sources = [{"secret": {"name": secret, "items": [{"key": ".dockerconfigjson",
                                                      "path": single_file or f"{secret}.json"}]}}
               for secret in secrets]
    return {"name": name, "projected": {"sources": sources}}


def provenance() -> str:
    return f"kaito-compile {__version__}"
