"""Two rendered trees (relative path → bytes, as ``compile_paths`` returns or as read from disk) → a TreeDiff.

An object is identified by its workspace directory, kind, namespace and name, not by its file name, so the
diff stays right for trees laid out by other versions of the compiler. Comments (the provenance header),
``kustomization.yaml`` files and the ownership lock are not objects and never show up as changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

import yaml

from ..gitops.sync import SYNC_WAVES
from . import impact
from .fields import diff_values
from .model import ObjectDiff, Status, TreeDiff, WorkspaceDiff

ObjectKey = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name
MANIFEST_SUFFIXES = (".yaml", ".yml")
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml"})


class TreeError(ValueError):
    """A file of a tree cannot be read as Kubernetes manifests."""


def diff_trees(old: Mapping[str, bytes], new: Mapping[str, bytes], gpu_models: Mapping[str, str], *,
               base: str, head: str) -> TreeDiff:
    """Compare two rendered trees workspace by workspace; ``gpu_models`` maps instance types (lower) to GPUs."""
    before, after = workspace_objects(old), workspace_objects(new)
    workspaces = [_diff_workspace(ws, before.get(ws), after.get(ws), gpu_models)
                  for ws in sorted(before.keys() | after.keys())]
    return TreeDiff(base=base, head=head, workspaces=tuple(workspaces))


def workspace_objects(tree: Mapping[str, bytes]) -> dict[str, dict[ObjectKey, dict]]:
    """Workspace directory → its objects, from every manifest file in a directory of the tree."""
    found: dict[str, dict[ObjectKey, dict]] = {}
    for path in sorted(tree):
        posix = PurePosixPath(path)
        if posix.suffix not in MANIFEST_SUFFIXES or posix.name in KUSTOMIZATION_FILES or len(posix.parts) < 2:
            continue
        objects = found.setdefault(str(posix.parent), {})
        for obj in _manifests(path, tree[path]):
            key = object_key(obj)
            if key in objects:
                raise TreeError(f"{path}: {key[0]} {key[2]} is defined twice in {posix.parent}")
            objects[key] = obj
    return found


def _manifests(path: str, data: bytes) -> list[dict]:
    try:
        docs = [doc for doc in yaml.load_all(data, Loader=yaml.CSafeLoader) if doc is not None]
    except yaml.YAMLError as exc:  # where and what, never the offending line itself (it may hold anything)
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        raise TreeError(f"{where}: not YAML: {getattr(exc, 'problem', None) or type(exc).__name__}") from None
    for doc in docs:
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) \
                or not isinstance((doc.get("metadata") or {}).get("name"), str):
            raise TreeError(f"{path}: every document must be a manifest with kind and metadata.name")
    return docs


def object_key(obj: dict) -> ObjectKey:
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace") or "", metadata["name"]


def _sync_order(key: ObjectKey) -> tuple:
    """Objects read in the order Argo CD creates them: nodes, config, workloads, services."""
    return SYNC_WAVES.get(key[0], len(SYNC_WAVES)), key


def _diff_workspace(workspace: str, old: dict[ObjectKey, dict] | None, new: dict[ObjectKey, dict] | None,
                    gpu_models: Mapping[str, str]) -> WorkspaceDiff:
    old_objects, new_objects = old or {}, new or {}
    objects, images, unchanged = [], [], 0
    for key in sorted(old_objects.keys() | new_objects.keys(), key=_sync_order):
        item = _diff_object(old_objects.get(key), new_objects.get(key))
        if item is None:
            unchanged += 1
            continue
        objects.append(item)
        images += impact.image_changes(workspace, item.ref, old_objects.get(key), new_objects.get(key))
    if old is None:
        status = Status.ADDED
    elif new is None:
        status = Status.REMOVED
    else:
        status = Status.CHANGED if objects else Status.UNCHANGED
    return WorkspaceDiff(
        workspace=workspace, status=status,
        old=impact.capacity(list(old_objects.values()), gpu_models),
        new=impact.capacity(list(new_objects.values()), gpu_models),
        objects=tuple(objects), unchanged_objects=unchanged, images=tuple(images))


def _diff_object(old: dict | None, new: dict | None) -> ObjectDiff | None:
    """The difference of one object, None when it is unchanged."""
    present = new if new is not None else old
    kind, namespace, name = object_key(present)
    identity = dict(api_version=present.get("apiVersion", ""), kind=kind, namespace=namespace or None, name=name)
    if old is None:
        return ObjectDiff(**identity, status=Status.ADDED, effect=None)
    if new is None:
        return ObjectDiff(**identity, status=Status.REMOVED, effect=None)
    changes = diff_values(old, new)
    if not changes:
        return None
    replaced = impact.replacements(kind, old, new, changes)
    return ObjectDiff(**identity, status=Status.CHANGED, effect=impact.effect(kind, changes, replaced),
                      changes=tuple(changes), replacements=tuple(replaced))
