"""Sync order of the emitted objects, as annotations Argo CD reads (Flux ignores them).

Waves go nodes → config → workloads → services → scaling and routing → routes: GPU nodes take minutes to join,
so their NodeClaims are created first; Argo CD waits for a wave to be healthy before it applies the next (it ships health checks for
karpenter.sh NodeClaim and NodePool), and deletes in the reverse order, so Services go first and the nodes
last. An InferenceSet's ScaledObject and router chart (Flux OCIRepository/HelmRelease, Argo CD Application) come
after the workloads they scale and select, its HTTPRoute after the InferencePool the chart creates. Custom
resources (NodeClaim, NodePool, Machine and those): ``SkipDryRunOnMissingResource=true`` lets the
first sync go ahead while their controllers are still installing their CRDs.
"""

from __future__ import annotations

SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS_ANNOTATION = "argocd.argoproj.io/sync-options"
SKIP_DRY_RUN = "SkipDryRunOnMissingResource=true"

NODES, CONFIG, WORKLOADS, SERVICES, SCALING, ROUTES = 0, 1, 2, 3, 4, 5
SYNC_WAVES: dict[str, int] = {
    "NodeClaim": NODES,
    "NodePool": NODES,
    "Machine": NODES,
    "ConfigMap": CONFIG,
    "Deployment": WORKLOADS,
    "StatefulSet": WORKLOADS,
    "Job": WORKLOADS,
    "Service": SERVICES,
    "ScaledObject": SCALING,
    "OCIRepository": SCALING,
    "HelmRelease": SCALING,
    "Application": SCALING,
    "HTTPRoute": ROUTES,
}
CUSTOM_RESOURCE_KINDS = frozenset({"NodeClaim", "NodePool", "Machine", "ScaledObject", "OCIRepository",
                                   "HelmRelease", "Application", "HTTPRoute"})


class UnknownKind(ValueError):
    """An emitter produced a kind with no sync wave: it has to be placed in :data:`SYNC_WAVES` on purpose."""


def sync_annotations(kind: str) -> dict[str, str]:
    """The Argo CD annotations every object of ``kind`` carries."""
    if kind not in SYNC_WAVES:
        raise UnknownKind(f"no Argo CD sync wave for kind {kind!r}; add it to kaito_compile.gitops.sync.SYNC_WAVES")
    annotations = {SYNC_WAVE_ANNOTATION: str(SYNC_WAVES[kind])}
    if kind in CUSTOM_RESOURCE_KINDS:
        annotations[SYNC_OPTIONS_ANNOTATION] = SKIP_DRY_RUN
    return annotations


def annotate_for_sync(objects: list[dict]) -> list[dict]:
    """Add the sync annotations of each object's kind to ``objects`` (in place, returned for chaining)."""
    for obj in objects:
        metadata = obj.setdefault("metadata", {})
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **sync_annotations(obj["kind"])}
    return objects
