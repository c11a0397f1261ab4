"""The diff model: what changed between two rendered trees, per workspace and per object.

Plain frozen dataclasses, built by :mod:`.diff` and read by the renderers; nothing here parses or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

Segment = str | int


class Status(str, Enum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


class Effect(str, Enum):
    """What applying a changed object does in the cluster, most disruptive first."""

    REPLACE = "replace"  # an immutable field changed: the object must be deleted and created again
    NODES_REPLACED = "nodes-replaced"  # Karpenter sees its NodePool template drift and replaces the nodes
    ROLLOUT = "rollout"  # the pod template changed: the workload's pods are recreated
    UPDATE = "update"  # updated in place
    PROVENANCE = "provenance"  # only the spec-hash annotation changed (the spec file changed elsewhere)


@dataclass(frozen=True)
class FieldChange:
    path: tuple[Segment, ...]  # keys; list items as ints, or as "[name=value]" in lists keyed by a field
    old: Any  # None with op "added"
    new: Any  # None with op "removed"
    op: str  # "added" | "removed" | "changed"

    @property
    def display_path(self) -> str:
        return display_path(self.path)


@dataclass(frozen=True)
class Replacement:
    path: str  # the immutable field, e.g. "spec.selector"
    reason: str


@dataclass(frozen=True)
class ObjectDiff:
    api_version: str
    kind: str
    namespace: str | None
    name: str
    status: Status
    effect: Effect | None  # None unless status is CHANGED
    changes: tuple[FieldChange, ...] = ()
    replacements: tuple[Replacement, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Capacity:
    """What one workspace runs on: node objects, instance types and GPUs requested by its pods."""

    nodes: int = 0
    instance_types: tuple[str, ...] = ()
    gpus: tuple[tuple[str, int], ...] = ()  # (unit, count): unit is a GPU model, or a resource name when unknown
    max_nodes: int = 0  # nodes dynamic NodePools may add (limits.nodes): an autoscaled InferenceSet's capacity
    autoscaling: tuple[tuple[str, int, int], ...] = ()  # (scale target "Kind/name", min, max) per ScaledObject

    def gpu_count(self, unit: str) -> int:
        return dict(self.gpus).get(unit, 0)


@dataclass(frozen=True)
class ImageChange:
    workspace: str
    object_ref: str
    container: str
    old: str | None  # None: a container added
    new: str | None  # None: a container removed


@dataclass(frozen=True)
class WorkspaceDiff:
    workspace: str  # the directory, "<namespace>/<workspace>"
    status: Status
    old: Capacity
    new: Capacity
    objects: tuple[ObjectDiff, ...] = ()  # added, removed and changed objects, in sync order
    unchanged_objects: int = 0
    images: tuple[ImageChange, ...] = ()

    def count(self, status: Status) -> int:
        return sum(1 for obj in self.objects if obj.status is status)


@dataclass(frozen=True)
class TreeDiff:
    base: str  # what the old tree is (a revision or a directory), for the headings
    head: str
    workspaces: tuple[WorkspaceDiff, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        return any(ws.status is not Status.UNCHANGED for ws in self.workspaces)

    def count(self, status: Status) -> int:
        return sum(ws.count(status) for ws in self.workspaces)

    @property
    def replacements(self) -> list[tuple[str, ObjectDiff]]:
        return [(ws.workspace, obj) for ws in self.workspaces for obj in ws.objects if obj.replacements]

    @property
    def images(self) -> list[ImageChange]:
        return [image for ws in self.workspaces for image in ws.images]


def display_path(path: tuple[Segment, ...]) -> str:
    """``spec.template.spec.containers[name=vllm].image``; keys that are not identifiers are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("[") and part.endswith("]"):
            text += part
        elif part.replace("_", "").replace("-", "").isalnum():
            text += f".{part}" if text else part
        else:
            text += f'["{part}"]'
    return text
