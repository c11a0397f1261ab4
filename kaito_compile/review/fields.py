"""Field-level differences between two versions of one manifest.

Mappings are compared key by key. Lists of mappings whose items all carry a distinct identifying field
(``name``, ``key``, ``mountPath``: containers, env, ports, volumes, node requirements, …) are matched by that
field, the way ``kubectl`` merges them, so inserting a container does not show every later one as changed.
Any other list (args, command, values) is one value: it changed or it did not.
"""

from __future__ import annotations

from typing import Any

from .model import FieldChange, Segment

IDENTITY_FIELDS = ("name", "key", "mountPath")


def diff_values(old: Any, new: Any, path: tuple[Segment, ...] = ()) -> list[FieldChange]:
    """Every leaf-or-subtree difference from ``old`` to ``new``, in document order."""
    if isinstance(old, dict) and isinstance(new, dict):
        return _diff_mappings(old, new, path)
    if isinstance(old, list) and isinstance(new, list) and (field := _identity_field(old, new)):
        return _diff_keyed_lists(old, new, field, path)
    if old == new and type(old) is type(new):
        return []
    return [FieldChange(path, old, new, "changed")]


def _diff_mappings(old: dict, new: dict, path: tuple[Segment, ...]) -> list[FieldChange]:
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            changes.append(FieldChange((*path, key), old[key], None, "removed"))
        elif key not in old:
            changes.append(FieldChange((*path, key), None, new[key], "added"))
        else:
            changes.extend(diff_values(old[key], new[key], (*path, key)))
    return changes


def _identity_field(old: list, new: list) -> str | None:
    """The field that identifies every item of both lists, if any."""
    items = [*old, *new]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for field in IDENTITY_FIELDS:
        if all(_distinct(items_of, field) for items_of in (old, new)):
            return field
    return None


def _distinct(items: list[dict], field: str) -> bool:
    values = [item.get(field) for item in items]
    return all(isinstance(v, (str, int)) for v in values) and len(set(values)) == len(values)


def _diff_keyed_lists(old: list[dict], new: list[dict], field: str, path: tuple[Segment, ...]) -> list[FieldChange]:
    old_by_id = {item[field]: item for item in old}
    new_by_id = {item[field]: item for item in new}
    changes = []
    common_old = [ident for ident in old_by_id if ident in new_by_id]
    common_new = [ident for ident in new_by_id if ident in old_by_id]
    if common_old != common_new:
        changes.append(FieldChange((*path, f"[{field} order]"), common_old, common_new, "changed"))
    for ident in old_by_id:
        item_path = (*path, f"[{field}={ident}]")
        if ident not in new_by_id:
            changes.append(FieldChange(item_path, old_by_id[ident], None, "removed"))
        else:
            changes.extend(diff_values(old_by_id[ident], new_by_id[ident], item_path))
    changes.extend(FieldChange((*path, f"[{field}={ident}]"), None, item, "added")
                   for ident, item in new_by_id.items() if ident not in old_by_id)
    return changes
