"""The plan of an InferenceSet: its replicas, nodes and GPUs, autoscaling and routing, decided from the children's
plans and the project config. Emission reads it (and the children's plans) and nothing else.

Compiled, there is no Kaito controller and no keda-kaito-scaler: every object the set needs is decided here, from
what is in the output or declared in ``kaito-compile.yaml`` (docs/inferenceset.md).

* A set without autoscaling compiles to ``replicas`` children ``<set>-0`` … ``<set>-<replicas-1>``, each with the
  objects of the Workspace Kaito would create.
* An autoscaled set (``scaledobject.kaito.sh/auto-provision: "true"``) compiles to one child ``<set>-0`` whose
  workload runs one pod per replica; a KEDA ScaledObject scales that workload between the min and max replicas.
  Nodes come from a dynamic Karpenter NodePool (limited to max replicas × nodes per replica) or BYO capacity.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from ..config import ProjectConfig
from ..diagnostics import Diagnostic, Severity, SpecError
from ..rules.inferenceset import (
    AUTO_PROVISION,
    IS6,
    IS7,
    IS8,
    IS9,
    IS10,
    IS11,
    IS12,
    Autoscaling,
)
from ..source import FieldPath
from ..spec.inferenceset import ParsedInferenceSet
from .model import Plan

ROUTER_CHART = "oci://ghcr.io/llm-d/charts/llm-d-router-gateway"
ROUTER_VERSION = "v0.9.0"
HELM_RELEASE_NAME_MAX = 53


@dataclass(frozen=True)
class ValidatedSet:
    """An InferenceSet that passed its own rules, with the config that governs it."""

    iset: ParsedInferenceSet
    namespace: str
    config: ProjectConfig
    autoscaling: Autoscaling | None


@dataclass(frozen=True)
class ScalePlan:
    autoscaling: Autoscaling
    min_replicas: int
    max_replicas: int
    max_from: str  # why this maximum: "spec.nodeCountLimit" or the annotation
    target_kind: str  # Deployment | StatefulSet
    target_name: str
    prometheus: str


@dataclass(frozen=True)
class RoutePlan:
    pool: str  # <set>-inferencepool: HelmRelease/OCIRepository name, Helm release name, InferencePool name
    release: str  # the Helm release name helm-controller uses (shortened past 53 characters)
    epp: str  # the endpoint picker's Service
    engine: str  # flux | argocd
    leader_only: bool  # select pod-index 0 only (multi-pod replicas: the leader serves)


@dataclass(frozen=True)
class SetPlan:
    name: str
    namespace: str
    api_version: str
    source_file: str
    source_hash: str
    replicas: int
    children: tuple[str, ...]
    nodes_per_replica: int
    gpus_per_node: int
    runtime: str
    node_count_limit: int | None
    scale: ScalePlan | None
    route: RoutePlan | None
    config: ProjectConfig

    @property
    def planned_nodes(self) -> int:
        """Nodes the set may use: replicas × nodes per replica, or max replicas × nodes per replica when scaled."""
        replicas = self.scale.max_replicas if self.scale else self.replicas
        return replicas * self.nodes_per_replica

    @property
    def planned_gpus(self) -> int:
        return self.planned_nodes * self.gpus_per_node


def child_count(validated: ValidatedSet) -> int:
    """How many children the set compiles to: one workload scaled by KEDA, else one per replica."""
    return 1 if validated.autoscaling is not None else validated.iset.replicas


def plan_set(validated: ValidatedSet, children: list[Plan]) -> tuple[SetPlan, list[Plan], list[Diagnostic]]:
    """The set's plan, its children's plans adjusted for autoscaling, and warnings; SpecError when it cannot be
    compiled (node limit exceeded, autoscaling without scalable nodes or metrics)."""
    iset, config = validated.iset, validated.config
    errors: list[Diagnostic] = []
    first = children[0] if children else None
    nodes_per_replica = first.node_count if first else 0
    scale = _scale(validated, first, errors) if first is not None and validated.autoscaling else None
    if scale is not None:
        children = [dataclasses.replace(child, autoscaled_max_nodes=scale.max_replicas * child.node_count)
                    for child in children]
    warnings: list[Diagnostic] = []
    route = _route(validated, first, scale, warnings)
    plan = SetPlan(iset.name, validated.namespace, iset.api_version, iset.doc.file, _source_hash(iset),
                   iset.replicas, tuple(child.workspace for child in children), nodes_per_replica,
                   first.gpus_per_node if first else 0, first.runtime if first else config.runtime,
                   iset.spec.nodeCountLimit, scale, route, config)
    warnings += _byo_capacity(validated, plan, first)
    limit = iset.spec.nodeCountLimit
    if limit and plan.planned_nodes > limit:
        errors.append(_diag(iset, IS6, ("spec", "nodeCountLimit"), f"the set plans {plan.planned_nodes} nodes "
                            f"({'max ' if scale else ''}{plan.planned_nodes // max(1, nodes_per_replica)} replicas × "
                            f"{nodes_per_replica} node(s) each), more than spec.nodeCountLimit {limit}"))
    if errors:
        raise SpecError(errors)
    return plan, children, warnings


def _scale(validated: ValidatedSet, first: Plan, errors: list[Diagnostic]) -> ScalePlan | None:
    iset, config, scaling = validated.iset, validated.config, validated.autoscaling
    where = ("metadata", "annotations", AUTO_PROVISION)
    if config.provisioner in ("gpu-provisioner", "machine"):
        errors.append(_diag(iset, IS8, where, f"the {config.provisioner} provisioner gets one fixed "
                            f"{'NodeClaim' if config.provisioner == 'gpu-provisioner' else 'Machine'} per node from "
                            "the compiler: replicas KEDA adds would find no node",
                            hints=("use provisioner: karpenter (a NodePool that grows with the replicas) or byo "
                                   "(nodes you bring) in kaito-compile.yaml",)))
    if first.node_count != 1:
        errors.append(_diag(iset, IS9, where, f"each replica needs {first.node_count} nodes (a multi-node vLLM "
                            "deployment); kaito-compile scales replicas as pods of one workload, one node each",
                            hints=("use an instance type whose GPUs hold the model on one node",)))
    prometheus = config.autoscaling.prometheus
    if prometheus is None:
        errors.append(_diag(iset, IS10, where, "KEDA needs a Prometheus server that scrapes the inference pods: set "
                            "autoscaling.prometheus.serverAddress in kaito-compile.yaml"))
    limit = iset.spec.nodeCountLimit
    if limit:
        max_replicas, max_from = max(1, limit // max(1, first.node_count)), "spec.nodeCountLimit"
    else:
        max_replicas, max_from = scaling.max_annotation or 1, "scaledobject.kaito.sh/max-replicas"
    if max_replicas < scaling.min_replicas:
        errors.append(_diag(iset, IS7, ("metadata", "annotations"), f"max replicas {max_replicas} (from {max_from}) "
                            f"is below min replicas {scaling.min_replicas} (keda-kaito-scaler: InvalidReplicaRange)"))
    if errors:
        return None
    kind = "Deployment" if first.runtime == "transformers" and first.kind == "inference-preset" else "StatefulSet"
    return ScalePlan(scaling, scaling.min_replicas, max_replicas, max_from, kind, first.workspace,
                     prometheus.serverAddress)


def _byo_capacity(validated: ValidatedSet, plan: SetPlan, first: Plan | None) -> list[Diagnostic]:
    """On BYO nodes every replica shares the nodes the set's labelSelector matches: warn when they are too few."""
    config = validated.config
    if config.provisioner != "byo" or first is None:
        return []
    ready = [node.name for node in config.nodes if node.ready
             and all(node.labels.get(key) == value for key, value in first.match_labels.items())]
    if len(ready) >= plan.planned_nodes:
        return []
    return [_diag(validated.iset, IS12, ("spec", "labelSelector"), f"the set may use {plan.planned_nodes} nodes "
                  f"({'max ' if plan.scale else ''}replicas × {plan.nodes_per_replica}), but only {len(ready)} "
                  f"ready BYO node(s) match its labelSelector: the other replicas' pods stay Pending",
                  severity=Severity.WARNING, key=True, hints=("add nodes to the inventory in kaito-compile.yaml, "
                                                              "or lower the replicas",))]


def _route(validated: ValidatedSet, first: Plan | None, scale: ScalePlan | None,
           warnings: list[Diagnostic]) -> RoutePlan | None:
    """Kaito's llm-d router for the set, when the gate is on, the replicas run vLLM with a preset and one exists."""
    iset, config = validated.iset, validated.config
    if not config.featureGates.gatewayAPIInferenceExtension or first is None:
        return None
    if first.runtime != "vllm" or first.kind != "inference-preset":
        warnings.append(_diag(iset, IS11, ("metadata", "name"), f"featureGates.gatewayAPIInferenceExtension has no "
                              f"effect on InferenceSet {iset.name!r}: its replicas run "
                              f"{'a pod template' if first.kind != 'inference-preset' else first.runtime}, and Kaito "
                              "routes only vLLM presets", severity=Severity.WARNING,
                              hints=('annotate the template with kaito.sh/runtime: "vllm"',)))
        return None
    pool = f"{iset.name}-inferencepool"
    release = helm_release_name(pool)  # Argo CD passes the name to `helm template`, which allows 53 characters too
    return RoutePlan(pool, release, f"{release.lower().strip()[:40]}-epp", config.routing.helmEngine,
                     leader_only=scale is None)


def helm_release_name(name: str) -> str:
    """helm-controller's release name for a HelmRelease without ``releaseName``: the name, or past 53 characters
    its first 40 characters, ``-`` and 12 hex characters of its SHA-256 (reference §2.8)."""
    if len(name) <= HELM_RELEASE_NAME_MAX:
        return name
    return f"{name[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"


def _diag(iset: ParsedInferenceSet, code: str, path: FieldPath, message: str, *, hints: tuple[str, ...] = (),
          severity: Severity = Severity.ERROR, key: bool = False) -> Diagnostic:
    return Diagnostic(code, message, severity, iset.doc.span(path, key=key), hints=hints)


def _source_hash(iset: ParsedInferenceSet) -> str:
    import json

    canonical = json.dumps(iset.doc.plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
