"""A TreeDiff as text (terminal), Markdown (pull-request comment) or JSON (machines).

Both human formats lead with what a reviewer must weigh: node and GPU count per workspace, objects the
sync has to delete and recreate (immutable fields), image changes; the field-level changes come last.
Objects whose only change is the spec-hash annotation are counted, not listed.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from typing import Any

from .impact import SPEC_HASH_PATH, capacity_delta, is_resource_name, total_capacity
from .model import Capacity, Effect, FieldChange, ImageChange, ObjectDiff, Status, TreeDiff, WorkspaceDiff

VALUE_LIMIT = 120
LONG_TEXT = 80  # strings longer than this are compared word by word
MARKDOWN_LIMIT = 60_000  # GitHub refuses comments over 65,536 characters
SIGNS = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~"}
_SPEC_HASH = SPEC_HASH_PATH[-1]


# --- shared phrasing ----------------------------------------------------------------------------------------

def summary_line(diff: TreeDiff) -> str:
    changed = [ws for ws in diff.workspaces if ws.status is not Status.UNCHANGED]
    if not changed:
        return f"No changes ({len(diff.workspaces)} workspaces compared)"
    added = sum(ws.status is Status.ADDED for ws in changed)
    removed = sum(ws.status is Status.REMOVED for ws in changed)
    text = (f"{_plural(len(changed), 'workspace')} changed ({added} added, {removed} removed); objects: "
            f"{diff.count(Status.ADDED)} added, {diff.count(Status.REMOVED)} removed, "
            f"{diff.count(Status.CHANGED)} changed")
    delta = capacity_delta(*_totals(diff))
    return f"{text}; {delta}" if delta else text


def _totals(diff: TreeDiff) -> tuple[Capacity, Capacity]:
    return (total_capacity([ws.old for ws in diff.workspaces]), total_capacity([ws.new for ws in diff.workspaces]))


def workspace_headline(ws: WorkspaceDiff) -> str:
    """``+2 nodes, +16 NVIDIA A100 GPUs; Standard_NC24ads_A100_v4 → Standard_NC48ads_A100_v4``."""
    parts = [capacity_delta(ws.old, ws.new)]
    if ws.old.instance_types and ws.new.instance_types and ws.old.instance_types != ws.new.instance_types:
        parts.append(f"{', '.join(ws.old.instance_types)} → {', '.join(ws.new.instance_types)}")
    return "; ".join(part for part in parts if part) or "no capacity change"


def capacity_cells(ws: WorkspaceDiff) -> tuple[str, str, str]:
    """Nodes, GPUs and instance types as ``old → new`` (or a single value when unchanged)."""
    units = sorted({unit for unit, _ in (*ws.old.gpus, *ws.new.gpus)})
    gpus = ", ".join(_arrow(ws.old.gpu_count(u), ws.new.gpu_count(u)) + f" {_unit_label(u)}" for u in units)
    types = _arrow(", ".join(ws.old.instance_types) or "—", ", ".join(ws.new.instance_types) or "—")
    return _arrow(ws.old.nodes, ws.new.nodes), gpus or "0", types


def _unit_label(unit: str) -> str:
    return unit if is_resource_name(unit) else f"{unit} GPUs"


def _arrow(old: Any, new: Any) -> str:
    return str(new) if old == new else f"{old} → {new}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def short(value: Any, limit: int = VALUE_LIMIT) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_changes(old: Any, new: Any) -> tuple[list[str], list[str]] | None:
    """Removed and added words (long strings) or items (lists of scalars); None for other values.

    Items replaced one for one are compared word by word when they are long strings (a shell command line).
    """
    if _long_strings(old, new):
        return _word_changes(old, new)
    if not (_scalar_list(old) and _scalar_list(new)):
        return None
    removed, added = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i2 - i1 == j2 - j1 and all(_long_strings(a, b) for a, b in zip(old[i1:i2], new[j1:j2])):
            for a, b in zip(old[i1:i2], new[j1:j2]):
                words_removed, words_added = _word_changes(a, b)
                removed += words_removed
                added += words_added
        else:
            removed += [short(v) for v in old[i1:i2]]
            added += [short(v) for v in new[j1:j2]]
    return removed, added


def _long_strings(old: Any, new: Any) -> bool:
    return isinstance(old, str) and isinstance(new, str) and max(len(old), len(new)) > LONG_TEXT


def _word_changes(old: str, new: str) -> tuple[list[str], list[str]]:
    before, after = old.split(), new.split()
    removed, added = [], []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += before[i1:i2]
            added += after[j1:j2]
    return removed, added


def _scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value)


def _visible(obj: ObjectDiff) -> bool:
    return obj.effect is not Effect.PROVENANCE


def _shown_changes(obj: ObjectDiff) -> list[FieldChange]:
    """The field changes worth reading: a new spec hash only says the source spec changed, which the rest shows."""
    return [change for change in obj.changes if change.path != SPEC_HASH_PATH]


def _provenance_only(diff: TreeDiff) -> int:
    return sum(1 for ws in diff.workspaces for obj in ws.objects if obj.effect is Effect.PROVENANCE)


def _image_text(image: ImageChange, mark: str = "") -> str:
    """``old → new``, or which of the two is missing; each reference between two ``mark`` (Markdown's backtick)."""
    if image.old is None:
        return f"{mark}{image.new}{mark} (new container)"
    if image.new is None:
        return f"{mark}{image.old}{mark} (container removed)"
    return f"{mark}{image.old}{mark} → {mark}{image.new}{mark}"


def _object_title(obj: ObjectDiff) -> str:
    return f"{obj.ref} ({obj.effect.value})" if obj.effect else obj.ref


# --- text ---------------------------------------------------------------------------------------------------

def render_text(diff: TreeDiff) -> str:
    lines = [f"kaito-compile diff {diff.base} → {diff.head}", summary_line(diff)]
    changed = [ws for ws in diff.workspaces if ws.status is not Status.UNCHANGED]
    if changed:
        lines += ["", "Capacity"]
        width = max(len(ws.workspace) for ws in changed) + 10
        for ws in changed:
            name = ws.workspace if ws.status is Status.CHANGED else f"{ws.workspace} ({ws.status.value})"
            nodes, gpus, types = capacity_cells(ws)
            lines.append(f"  {name:<{width}} {workspace_headline(ws)}")
            lines.append(f"  {'':<{width}} nodes {nodes}; GPUs {gpus}; instance type {types}")
    if diff.replacements:
        lines += ["", "Replaced on sync (immutable fields: the object must be deleted and created again)"]
        lines += [f"  {ws}: {obj.ref}: {r.path}: {r.reason}" for ws, obj in diff.replacements for r in obj.replacements]
    if diff.images:
        lines += ["", "Images"]
        lines += [f"  {i.workspace}: {i.object_ref} container {i.container}: {_image_text(i)}" for i in diff.images]
    for ws in changed:
        lines += ["", f"{SIGNS[ws.status]} {ws.workspace}"]
        for obj in filter(_visible, ws.objects):
            lines.append(f"  {SIGNS[obj.status]} {_object_title(obj)}")
            lines += [f"      {line}" for change in _shown_changes(obj) for line in _text_field(change)]
    if count := _provenance_only(diff):
        lines += ["", f"{_plural(count, 'other object')} changed only the {_SPEC_HASH} annotation"]
    return "\n".join(lines) + "\n"


def _text_field(change: FieldChange) -> list[str]:
    path = change.display_path
    if change.op == "added":
        return [f"+ {path}: {short(change.new)}"]
    if change.op == "removed":
        return [f"- {path}: {short(change.old)}"]
    items = item_changes(change.old, change.new)
    if items is None:
        return [f"{path}: {short(change.old)} → {short(change.new)}"]
    removed, added = items
    return [f"{path}:", *(f"  - {item}" for item in removed), *(f"  + {item}" for item in added)]


# --- markdown -----------------------------------------------------------------------------------------------

def render_markdown(diff: TreeDiff, *, max_chars: int = MARKDOWN_LIMIT) -> str:
    """A pull-request comment; the per-object details are dropped when the whole would exceed ``max_chars``."""
    head = _markdown_head(diff)
    details = _markdown_details(diff)
    if len(head) + len(details) <= max_chars:
        return head + details
    note = (f"\n_Object details omitted: they would make this comment longer than {max_chars:,} characters. "
            f"Run `kaito-compile diff` locally to see them._\n")
    return head + note


def _markdown_head(diff: TreeDiff) -> str:
    lines = [f"### kaito-compile diff: `{diff.base}` → `{diff.head}`", "", f"**{summary_line(diff)}**"]
    changed = [ws for ws in diff.workspaces if ws.status is not Status.UNCHANGED]
    if changed:
        lines += ["", "| Workspace | Change | Nodes | GPUs | Instance type |", "|---|---|---|---|---|"]
        for ws in changed:
            name = f"`{ws.workspace}`" + ("" if ws.status is Status.CHANGED else f" ({ws.status.value})")
            nodes, gpus, types = capacity_cells(ws)
            lines.append(f"| {name} | **{workspace_headline(ws)}** | {nodes} | {gpus} | {types} |")
    if diff.replacements:
        lines += ["", "#### :warning: Replaced on sync (immutable fields)", "",
                  "Applying these fails unless the object is deleted and created again (Argo CD: the "
                  "`Force=true,Replace=true` sync options; Flux: `spec.force: true`).", ""]
        lines += [f"- `{obj.ref}` in `{ws}`: `{r.path}`: {r.reason}"
                  for ws, obj in diff.replacements for r in obj.replacements]
    if diff.images:
        lines += ["", "#### Images", ""]
        lines += [f"- `{i.object_ref}` container `{i.container}`: {_image_text(i, '`')}" for i in diff.images]
    return "\n".join(lines) + "\n"


def _markdown_details(diff: TreeDiff) -> str:
    blocks = []
    for ws in diff.workspaces:
        visible = [obj for obj in ws.objects if _visible(obj)]
        if not visible:
            continue
        tally = Counter(obj.status.value for obj in visible)
        counts = ", ".join(f"{tally[s.value]} {s.value}" for s in (Status.ADDED, Status.REMOVED, Status.CHANGED)
                           if tally[s.value])
        body = [line for obj in visible for line in _markdown_object(obj)]
        blocks.append(f"<details><summary><code>{ws.workspace}</code>: {counts}</summary>\n\n"
                      "```diff\n" + "\n".join(body) + "\n```\n\n</details>\n")
    if count := _provenance_only(diff):
        blocks.append(f"\n{_plural(count, 'other object')} changed only the `{_SPEC_HASH}` annotation.\n")
    return ("\n#### Objects\n\n" + "\n".join(blocks)) if blocks else ""


def _markdown_object(obj: ObjectDiff) -> list[str]:
    if obj.status is not Status.CHANGED:
        return [f"{SIGNS[obj.status]} {obj.ref}"]
    return [f"  {_object_title(obj)}", *(line for change in _shown_changes(obj) for line in _markdown_field(change))]


def _markdown_field(change: FieldChange) -> list[str]:
    """``diff`` lines: ``-``/``+`` in the first column so GitHub colours them."""
    path = change.display_path
    if change.op == "added":
        return [f"+   {path}: {short(change.new)}"]
    if change.op == "removed":
        return [f"-   {path}: {short(change.old)}"]
    items = item_changes(change.old, change.new)
    if items is None:
        return [f"-   {path}: {short(change.old)}", f"+   {path}: {short(change.new)}"]
    removed, added = items
    return [f"    {path}:", *(f"-     {item}" for item in removed), *(f"+     {item}" for item in added)]


# --- json ---------------------------------------------------------------------------------------------------

def render_json(diff: TreeDiff) -> str:
    old, new = _totals(diff)
    document = {
        "base": diff.base,
        "head": diff.head,
        "changed": diff.changed,
        "summary": {
            "text": summary_line(diff),
            "objects": {s.value: diff.count(s) for s in (Status.ADDED, Status.REMOVED, Status.CHANGED)},
            "capacity": {"old": _capacity_json(old), "new": _capacity_json(new), "delta": capacity_delta(old, new)},
        },
        "workspaces": [_workspace_json(ws) for ws in diff.workspaces if ws.status is not Status.UNCHANGED],
        "unchangedWorkspaces": [ws.workspace for ws in diff.workspaces if ws.status is Status.UNCHANGED],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _capacity_json(cap: Capacity) -> dict:
    found = {"nodes": cap.nodes, "instanceTypes": list(cap.instance_types), "gpus": dict(cap.gpus)}
    if cap.max_nodes:
        found["maxAutoscaledNodes"] = cap.max_nodes
    if cap.autoscaling:
        found["autoscaling"] = [{"target": target, "minReplicas": low, "maxReplicas": high}
                                for target, low, high in cap.autoscaling]
    return found


def _workspace_json(ws: WorkspaceDiff) -> dict:
    return {
        "workspace": ws.workspace,
        "status": ws.status.value,
        "headline": workspace_headline(ws),
        "capacity": {"old": _capacity_json(ws.old), "new": _capacity_json(ws.new)},
        "images": [{"object": i.object_ref, "container": i.container, "old": i.old, "new": i.new} for i in ws.images],
        "objects": [_object_json(obj) for obj in ws.objects],
        "unchangedObjects": ws.unchanged_objects,
    }


def _object_json(obj: ObjectDiff) -> dict:
    return {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "namespace": obj.namespace,
        "name": obj.name,
        "status": obj.status.value,
        "effect": obj.effect.value if obj.effect else None,
        "replacements": [{"path": r.path, "reason": r.reason} for r in obj.replacements],
        "changes": [{"path": c.display_path, "op": c.op, "old": c.old, "new": c.new} for c in obj.changes],
    }
