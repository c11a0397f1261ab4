"""Update rules (U1–U8): what Kaito's webhook refuses to change on an existing Workspace.

``validate --against REF`` compares each Workspace with the same namespace/name at a git revision,
so an immutable-field change fails in review instead of at the API server.
"""

from __future__ import annotations

from .registry import RuleContext, define, group
from .resource import label_selector_map

U1 = define("U1", "update", "inference/tuning cannot be toggled",
            "webhook (update): 'Inference field cannot be toggled once set' / 'Tuning field cannot be toggled "
            "once set'")
U2 = define("U2", "update", "count and partition are immutable", "webhook (update): field is immutable")
U3 = define("U3", "update", "instanceType cannot change", "webhook (update): 'instanceType cannot be changed once "
            "set' (with node auto-provisioning it must also stay non-empty)")
U4 = define("U4", "update", "labelSelector is immutable",
            "webhook (update): \"Only allow matchLabels or 'IN' matchExpression\" / field is immutable")
U5 = define("U5", "update", "node class re-checked on change", "webhook (update): a changed "
            "kaito.sh/node-class-name is checked again against the KAITO-managed NodeClasses")
U6 = define("U6", "update", "inference preset is immutable; template cannot be set or unset",
            "webhook (update): field is immutable / 'field cannot be unset/set if it was set/unset'")
U8 = define("U8", "update", "tuning preset, method and input name are immutable",
            "webhook (update): 'Preset cannot be changed', 'Method cannot be changed', 'During tuning Name field "
            "cannot be changed once set'")

has_old = lambda ctx: ctx.old is not None  # noqa: E731


@group("update", applies=has_old)
def check_toggles(ctx: RuleContext) -> None:
    old, new = ctx.old.spec, ctx.spec
    for field, label in (("inference", "Inference"), ("tuning", "Tuning")):
        if (getattr(old, field) is None) != (getattr(new, field) is None):
            ctx.error(U1, (field,) if getattr(new, field) is not None else (), f"{label} field cannot be toggled "
                      "once set", key=True)


@group("update", applies=has_old)
def check_count_and_partition(ctx: RuleContext) -> None:
    old, new = ctx.old.spec.resource, ctx.spec.resource
    if old.count is not None and new.count is not None and old.count != new.count:
        ctx.error(U2, ("resource", "count"), f"field is immutable: resource.count (was {old.count})")
    if old.partition != new.partition:
        ctx.error(U2, ("resource", "partition"), "field is immutable: resource.partition", key=True)


@group("update", applies=has_old)
def check_instance_type(ctx: RuleContext) -> None:
    old = ctx.old.spec.resource.instanceType or ""
    new = ctx.spec.resource.instanceType or ""
    path = ("resource", "instanceType")
    if ctx.config.node_auto_provisioning:
        if not new:
            ctx.error(U3, ("resource",), "instanceType is required when node auto-provisioning is enabled", key=True)
        elif old and old != new:
            ctx.error(U3, path, f"instanceType cannot be changed once set when node auto-provisioning is enabled "
                      f"(was {old})", hints=("create a new Workspace for the new instance type",))
    elif (not old and new) or (old and new and old != new):
        ctx.error(U3, path, f"instanceType cannot be changed once set (was {old or 'empty'})")


@group("update", applies=has_old)
def check_label_selector(ctx: RuleContext) -> None:
    old_map = label_selector_map(ctx.old.spec.resource.labelSelector)
    new_map = label_selector_map(ctx.spec.resource.labelSelector)
    if isinstance(old_map, str) or isinstance(new_map, str):
        ctx.error(U4, ("resource", "labelSelector"), "Only allow matchLabels or 'IN' matchExpression", key=True)
    elif old_map != new_map:
        ctx.error(U4, ("resource", "labelSelector"), "field is immutable: resource.labelSelector", key=True)


@group("update", applies=has_old)
def check_node_class_change(ctx: RuleContext) -> None:
    key = "kaito.sh/node-class-name"
    old, new = ctx.old.annotation(key), ctx.ws.annotation(key)
    allowed = ctx.config.karpenter.nodeClasses
    if new != old and new and ctx.config.provisioner == "karpenter" and new not in allowed:
        ctx.error(U5, ("metadata", "annotations", key),
                  f"{new!r} is not a KAITO-managed NodeClass, supported values are [{', '.join(allowed)}]")


@group("update", applies=has_old)
def check_inference_preset(ctx: RuleContext) -> None:
    old, new = ctx.old.spec.inference, ctx.spec.inference
    if old is None or new is None:
        return
    if old.preset != new.preset:
        ctx.error(U6, ("inference", "preset"), "field is immutable: inference.preset", key=True,
                  notes=(f"was {old.preset.name if old.preset else 'unset'}",))
    if (old.template is None) != (new.template is None):
        state = "unset" if new.template is None else "set"
        ctx.error(U6, ("inference", "template") if new.template is not None else ("inference",),
                  f"field cannot be {state} if it was {'set' if state == 'unset' else 'unset'}", key=True)


@group("update", applies=has_old)
def check_tuning(ctx: RuleContext) -> None:
    old, new = ctx.old.spec.tuning, ctx.spec.tuning
    if old is None or new is None:
        return
    if old.input.name != new.input.name:
        ctx.error(U8, ("tuning", "input", "name"), "During tuning Name field cannot be changed once set")
    if old.preset != new.preset:
        ctx.error(U8, ("tuning", "preset"), "Preset cannot be changed", key=True)
    if (old.method or "").lower() != (new.method or "").lower():
        ctx.error(U8, ("tuning", "method"), "Method cannot be changed")
