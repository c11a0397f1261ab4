"""What a change means in the cluster: GPU capacity, images, and changes the API server refuses to apply.

Capacity is read from the rendered objects alone: nodes are the NodeClaim/Machine objects plus the replicas
of static NodePools (a dynamic NodePool's ``limits.nodes`` counts apart, as what autoscaling may add; a KEDA
ScaledObject contributes its target's replica range); GPUs are what the pods request (replicas × the pod's effective request, init
containers included as the scheduler counts them), named after the GPU model of the instance type the
node objects ask for. Bring-your-own workspaces have no node objects, so their GPUs keep the resource name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from .model import Capacity, Effect, FieldChange, ImageChange, Replacement

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
SPEC_HASH_PATH = ("metadata", "annotations", "kaito-compile.dev/spec-hash")
NODE_OBJECT_KINDS = frozenset({"NodeClaim", "Machine"})
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "Job"})

# Fields the API server (or the CRD's validation rules) refuses to change on an existing object.
IMMUTABLE_FIELDS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "Deployment": ((("spec", "selector"), "a Deployment's selector is immutable"),),
    "Job": (
        (("spec", "template"), "a Job's pod template is immutable"),
        (("spec", "selector"), "a Job's selector is immutable"),
        (("spec", "completionMode"), "a Job's completionMode is immutable"),
        (("spec", "podFailurePolicy"), "a Job's podFailurePolicy is immutable"),
    ),
    "Service": (
        (("spec", "clusterIP"), "a Service's clusterIP cannot change once allocated"),
        (("spec", "clusterIPs"), "a Service's clusterIPs cannot change once allocated"),
    ),
    "NodeClaim": ((("spec",), "karpenter.sh/v1 NodeClaim: spec is immutable (CRD rule self == oldSelf)"),),
    "NodePool": (
        (("spec", "template", "spec", "nodeClassRef", "group"), "NodePool nodeClassRef.group is immutable"),
        (("spec", "template", "spec", "nodeClassRef", "kind"), "NodePool nodeClassRef.kind is immutable"),
    ),
}
STATEFULSET_MUTABLE_SPEC = frozenset(
    {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"}
)
STATEFULSET_REASON = ("a StatefulSet's spec is immutable except replicas, ordinals, template, updateStrategy, "
                      "persistentVolumeClaimRetentionPolicy and minReadySeconds")


# --- capacity -----------------------------------------------------------------------------------------------

def capacity(objects: list[dict], gpu_models: Mapping[str, str]) -> Capacity:
    """Nodes, instance types and GPUs of one workspace's objects; ``gpu_models``: instance type (lower) → model."""
    instance_types = sorted({t for obj in objects for t in _instance_types(obj)})
    models = {gpu_models.get(t.lower()) for t in instance_types}
    model = models.pop() if len(models) == 1 else None
    gpus: Counter[str] = Counter()
    for obj in objects:
        for resource, count in _workload_gpus(obj).items():
            gpus[model if model and resource.endswith("/gpu") else resource] += count
    return Capacity(nodes=sum(_node_count(obj) for obj in objects), instance_types=tuple(instance_types),
                    gpus=tuple(sorted((unit, n) for unit, n in gpus.items() if n)),
                    max_nodes=sum(_node_limit(obj) for obj in objects),
                    autoscaling=tuple(sorted(scale for obj in objects if (scale := _autoscaling(obj)))))


def _node_limit(obj: dict) -> int:
    """A dynamic NodePool's ``limits.nodes`` (Karpenter adds nodes for pending pods up to it)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") != "NodePool" or "replicas" in spec:
        return 0
    limit = str((spec.get("limits") or {}).get("nodes") or "0")
    return int(limit) if limit.isdigit() else 0


def _autoscaling(obj: dict) -> tuple[str, int, int] | None:
    """A KEDA ScaledObject's target and replica range (KEDA's defaults: min 0, max 100)."""
    if obj.get("kind") != "ScaledObject":
        return None
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    return (f"{target.get('kind', 'Deployment')}/{target.get('name', '?')}", int(spec.get("minReplicaCount", 0)),
            int(spec.get("maxReplicaCount", 100)))


def _node_count(obj: dict) -> int:
    if obj.get("kind") in NODE_OBJECT_KINDS:
        return 1
    if obj.get("kind") == "NodePool":
        return int((obj.get("spec") or {}).get("replicas") or 0)
    return 0


def _instance_types(obj: dict) -> list[str]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "NodePool":
        spec = ((spec.get("template") or {}).get("spec")) or {}
    elif obj.get("kind") not in NODE_OBJECT_KINDS:
        return []
    return [value for requirement in spec.get("requirements") or []
            if requirement.get("key") == INSTANCE_TYPE_LABEL and requirement.get("operator") == "In"
            for value in requirement.get("values") or []]


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") not in POD_TEMPLATE_KINDS:
        return None
    return ((obj.get("spec") or {}).get("template") or {}).get("spec")


def _pods(obj: dict) -> int:
    spec = obj.get("spec") or {}
    field = "parallelism" if obj.get("kind") == "Job" else "replicas"
    value = spec.get(field)
    return 1 if value is None else int(value)


def _workload_gpus(obj: dict) -> Counter[str]:
    spec = pod_spec(obj)
    if spec is None:
        return Counter()
    per_pod = effective_gpu_request(spec)
    return Counter({resource: count * _pods(obj) for resource, count in per_pod.items()})


def effective_gpu_request(spec: dict) -> Counter[str]:
    """The scheduler's rule: max(app containers + sidecars, the largest run-to-completion init container)."""
    sidecars = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    one_shot = [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") != "Always"]
    total: Counter[str] = Counter()
    for container in [*(spec.get("containers") or []), *sidecars]:
        total.update(_gpu_requests(container))
    for container in one_shot:
        for resource, count in _gpu_requests(container).items():
            total[resource] = max(total[resource], count)
    return total


def _gpu_requests(container: dict) -> dict[str, int]:
    resources = container.get("resources") or {}
    amounts = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return {name: int(str(value)) for name, value in amounts.items() if is_gpu_resource(name)}


def is_gpu_resource(name: str) -> bool:
    return name.endswith("/gpu") or name.startswith("nvidia.com/mig-")


def is_resource_name(unit: str) -> bool:
    """Whether a GPU unit is a Kubernetes resource name (``domain/name``) rather than a GPU model."""
    return "/" in unit


def capacity_delta(old: Capacity, new: Capacity) -> str:
    """``+2 nodes, +16 NVIDIA A100 GPUs, autoscaling StatefulSet/x 1–5 → 1–8 replicas`` (empty when nothing
    changed)."""
    parts = []
    if new.nodes != old.nodes:
        parts.append(_signed(new.nodes - old.nodes, "node"))
    units = sorted({unit for unit, _ in (*old.gpus, *new.gpus)})
    for unit in units:
        delta = new.gpu_count(unit) - old.gpu_count(unit)
        if delta:
            parts.append(f"{delta:+d} {unit}" if is_resource_name(unit) else _signed(delta, f"{unit} GPU"))
    if new.max_nodes != old.max_nodes:
        parts.append(f"{new.max_nodes - old.max_nodes:+d} autoscaled nodes at most")
    return ", ".join(parts + autoscaling_changes(old, new))


def autoscaling_changes(old: Capacity, new: Capacity) -> list[str]:
    """``autoscaling StatefulSet/x 1–5 → 1–8 replicas``, ``+autoscaling …``, ``-autoscaling …`` per scale target."""
    before = {target: (low, high) for target, low, high in old.autoscaling}
    after = {target: (low, high) for target, low, high in new.autoscaling}
    changes = []
    for target in sorted(before.keys() | after.keys()):
        was, now = before.get(target), after.get(target)
        if was == now:
            continue
        if was is None:
            changes.append(f"+autoscaling {target} {now[0]}–{now[1]} replicas")
        elif now is None:
            changes.append(f"-autoscaling {target} {was[0]}–{was[1]} replicas")
        else:
            changes.append(f"autoscaling {target} {was[0]}–{was[1]} → {now[0]}–{now[1]} replicas")
    return changes


def _signed(delta: int, noun: str) -> str:
    return f"{delta:+d} {noun}{'' if abs(delta) == 1 else 's'}"


def total_capacity(capacities: list[Capacity]) -> Capacity:
    gpus: Counter[str] = Counter()
    for cap in capacities:
        gpus.update(dict(cap.gpus))
    return Capacity(nodes=sum(c.nodes for c in capacities),
                    instance_types=tuple(sorted({t for c in capacities for t in c.instance_types})),
                    gpus=tuple(sorted(gpus.items())), max_nodes=sum(c.max_nodes for c in capacities),
                    autoscaling=tuple(sorted(scale for c in capacities for scale in c.autoscaling)))


# --- images -------------------------------------------------------------------------------------------------

def container_images(obj: dict | None) -> dict[str, str]:
    """Container name → image, init containers included (their names are unique within a pod too)."""
    spec = pod_spec(obj) if obj else None
    if not spec:
        return {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return {c["name"]: c.get("image", "") for c in containers}


def image_changes(workspace: str, ref: str, old: dict | None, new: dict | None) -> list[ImageChange]:
    before, after = container_images(old), container_images(new)
    return [ImageChange(workspace, ref, name, before.get(name), after.get(name))
            for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]


# --- replacement and effect ---------------------------------------------------------------------------------

def replacements(kind: str, old: dict, new: dict, changes: list[FieldChange]) -> list[Replacement]:
    """The immutable fields ``changes`` touch: applying them fails unless the object is recreated."""
    found: dict[str, str] = {}
    for change in changes:
        for prefix, reason in IMMUTABLE_FIELDS.get(kind, ()):
            if _overlaps(change.path, prefix):
                found.setdefault(".".join(prefix), reason)
        if kind == "StatefulSet" and len(change.path) >= 2 and change.path[0] == "spec" \
                and change.path[1] not in STATEFULSET_MUTABLE_SPEC:
            found.setdefault(f"spec.{change.path[1]}", STATEFULSET_REASON)
    if kind == "ConfigMap" and old.get("immutable") is True:
        if any(change.path[:1] in (("data",), ("binaryData",), ("immutable",)) for change in changes):
            found.setdefault("data", "the ConfigMap is marked immutable")
    if kind == "NodePool" and ("replicas" in (old.get("spec") or {})) != ("replicas" in (new.get("spec") or {})):
        found.setdefault("spec.replicas", "a NodePool cannot switch between static (replicas) and dynamic")
    return [Replacement(path, reason) for path, reason in sorted(found.items())]


def _overlaps(path: tuple, prefix: tuple) -> bool:
    shorter = min(len(path), len(prefix))
    return tuple(path[:shorter]) == tuple(prefix[:shorter])


def effect(kind: str, changes: list[FieldChange], replaced: list[Replacement]) -> Effect:
    if replaced:
        return Effect.REPLACE
    if all(change.path == SPEC_HASH_PATH for change in changes):
        return Effect.PROVENANCE
    under_template = any(change.path[:2] == ("spec", "template") for change in changes)
    if kind == "NodePool" and under_template:
        return Effect.NODES_REPLACED
    if kind in POD_TEMPLATE_KINDS and under_template:
        return Effect.ROLLOUT
    return Effect.UPDATE
