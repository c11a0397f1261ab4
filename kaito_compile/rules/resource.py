"""Resource rules for inference (I1–I9): label selector, BYO nodes and partitions, SKUs, GPU memory."""

from __future__ import annotations

from ..diagnostics import Severity
from ..spec.models import LabelSelector
from . import facts
from .labels import RESERVED_LABELS, sanitized_match_labels
from .registry import RuleContext, StopChecks, define, group

I1 = define("I1", "resource", "deprecated preset", "webhook: 'Model %s is deprecated and no longer supported'")
I2 = define("I2", "resource", "labelSelector not convertible to labels",
            "webhook: LabelSelectorAsMap must succeed: matchLabels and single-value 'In' expressions only")
I3 = define("I3", "resource", "only reserved labels in matchLabels",
            "webhook: 'matchLabels must contain at least one non-reserved label'")
I4 = define("I4", "resource", "invalid GPU partition (BYO)",
            "webhook: MIG needs gate enableMIG, a known profile and no count; accelerator needs gate "
            "enableAccelerator and a count, no profile; the model must fit the MIG slice")
I5 = define("I5", "resource", "BYO nodes missing or not uniform",
            "webhook: nodes matching the selector must exist and carry uniform nvidia.com/gpu.product, "
            "gpu.count and gpu.memory labels")
I6 = define("I6", "resource", "partition needs BYO nodes",
            "webhook: 'GPU partitioning is only supported with BYO nodes (disableNodeAutoProvisioning=true)'")
I7 = define("I7", "resource", "unknown cloud provider", "webhook: CLOUD_PROVIDER must be azure, aws or arc "
            "('Failed to get SKU handler')")
I8 = define("I8", "resource", "unsupported instance type", "webhook: 'Unsupported instance type %s. Supported "
            "SKUs: %s' (Azure Standard_N*/Standard_D* names pass admission and fail at reconcile for presets)")
I9 = define("I9", "resource", "insufficient GPU memory",
            "webhook: count × node GPU memory must hold the model weights (BYO, transformers, v1alpha1); "
            "transformers is single-node only")
P1 = define("P1", "sizing", "model cannot be placed on the GPUs",
            "Kaito's node estimator fails at reconcile ('GPU memory … is too small', MIG slice too small, legacy "
            "SKU on vLLM): the Workspace never becomes ready; kaito-compile reports it before it reaches Git")

BYPASS = "kaito.sh/bypass-resource-checks"
SELECTOR = ("resource", "labelSelector")


def label_selector_map(selector: LabelSelector | None) -> dict[str, str] | str:
    """apimachinery's LabelSelectorAsMap: the labels, or the reason the selector cannot be one."""
    labels = dict((selector.matchLabels if selector else None) or {})
    for expr in (selector.matchExpressions if selector else None) or []:
        if expr.operator != "In":
            return f"{expr.operator!r} cannot be converted into the old label selector format"
        if len(expr.values or []) != 1:
            return f"operator {expr.operator!r} without a single value cannot be converted into the old label " \
                   "selector format"
        labels[expr.key] = expr.values[0]
    return labels


def is_inference(ctx: RuleContext) -> bool:
    return ctx.spec.inference is not None


@group("inference-resource", applies=is_inference)
def check_deprecated_preset(ctx: RuleContext) -> None:
    resolution = facts.preset_resolution(ctx, "inference")
    if facts.is_deprecated(resolution):
        ctx.error(I1, ("inference", "preset", "name"), resolution.message)


@group("inference-resource", applies=is_inference)
def check_label_selector(ctx: RuleContext) -> None:
    selector = ctx.spec.resource.labelSelector
    converted = label_selector_map(selector)
    if isinstance(converted, str):
        ctx.error(I2, SELECTOR, f"invalid value: {converted}: labelSelector", key=True)
        raise StopChecks
    match_labels = selector.matchLabels or {}
    if match_labels and not sanitized_match_labels(selector):
        ctx.error(I3, (*SELECTOR, "matchLabels"), "matchLabels must contain at least one non-reserved label",
                  key=True, notes=(f"reserved: {', '.join(sorted(RESERVED_LABELS & set(match_labels)))}",))
        raise StopChecks


@group("inference-resource", applies=is_inference)
def check_nodes(ctx: RuleContext) -> None:
    if ctx.ws.api_version != "kaito.sh/v1beta1":
        return
    partition = ctx.spec.resource.partition
    if ctx.config.node_auto_provisioning:
        if partition is not None:
            ctx.error(I6, ("resource", "partition"), "GPU partitioning is only supported with BYO nodes "
                      "(disableNodeAutoProvisioning=true)", key=True)
            raise StopChecks
        return
    if partition is not None:
        before = sum(d.severity is Severity.ERROR for d in ctx.diagnostics)
        _check_partition(ctx, partition)
        if sum(d.severity is Severity.ERROR for d in ctx.diagnostics) > before:
            raise StopChecks
        return  # Kaito's webhook returns here; the vLLM estimator (P1) still sizes the slice at reconcile
    if facts.preset_name(ctx, "inference"):
        _check_byo_nodes(ctx)


def _check_partition(ctx: RuleContext, partition) -> None:
    path = ("resource", "partition")
    gates = ctx.config.featureGates
    if partition.mode == "mig":
        if not gates.enableMIG:
            ctx.error(I4, (*path, "mode"), "MIG support is not enabled, set feature gate enableMIG=true",
                      hints=("set featureGates.enableMIG: true in kaito-compile.yaml",))
        if partition.count is not None:
            ctx.error(I4, (*path, "count"), "count is only valid for accelerator mode")
        problem = facts.mig_profile_problem(ctx, partition.profile)
        if problem:
            ctx.error(I4, (*path, "profile") if partition.profile else path, problem, key=not partition.profile)
        elif partition.profile:
            problem = facts.mig_fit_problem(ctx, partition.profile)
            if problem:
                _memory_error(ctx, I4, (*path, "profile"), problem)
    elif partition.mode == "accelerator":
        if not gates.enableAccelerator:
            ctx.error(I4, (*path, "mode"), "accelerator partitioning is not enabled, set feature gate "
                      "enableAccelerator=true")
        if partition.profile is not None:
            ctx.error(I4, (*path, "profile"), "profile is not valid for accelerator mode")
        if partition.count is None:
            ctx.error(I4, path, "missing field(s): count is required for accelerator mode", key=True)
    else:
        ctx.error(I4, (*path, "mode"), f"unsupported partition mode {partition.mode!r}, supported modes are mig, "
                  "accelerator")


def _check_byo_nodes(ctx: RuleContext) -> None:
    problem = facts.byo_gpu_problem(ctx)
    if problem:
        ctx.error(I5, SELECTOR, problem, key=True,
                  notes=("BYO nodes come from the 'nodes' inventory of kaito-compile.yaml",))


@group("inference-resource", applies=is_inference)
def check_instance_type(ctx: RuleContext) -> None:
    if not ctx.config.node_auto_provisioning and ctx.ws.api_version == "kaito.sh/v1beta1":
        return
    if ctx.config.cloud not in ("azure", "aws", "arc"):
        ctx.error(I7, ("resource", "instanceType"), f"Failed to get SKU handler: unsupported cloud provider "
                  f"{ctx.config.cloud!r}", notes=("the cloud comes from kaito-compile.yaml; use azure, aws or arc",))
        raise StopChecks
    problem = facts.sku_problem(ctx)
    if problem:
        message, hints = problem
        ctx.error(I8, ("resource", "instanceType"), message, hints=hints)
        raise StopChecks


@group("inference-resource", applies=is_inference)
def check_gpu_memory(ctx: RuleContext) -> None:
    needs_check = (not ctx.config.node_auto_provisioning or ctx.runtime != "vllm"
                   or ctx.ws.api_version == "kaito.sh/v1alpha1")
    if not needs_check or ctx.spec.resource.partition is not None:
        return
    problem = facts.gpu_memory_problem(ctx)
    if problem:
        _memory_error(ctx, I9, ("resource", "instanceType") if ctx.spec.resource.instanceType else SELECTOR,
                      problem)


@group("inference-resource", applies=lambda ctx: is_inference(ctx) and ctx.runtime == "vllm")
def check_vllm_sizing(ctx: RuleContext) -> None:
    problem = facts.vllm_sizing_problem(ctx)
    if problem:
        ctx.error(P1, ("resource", "instanceType") if ctx.spec.resource.instanceType else SELECTOR, problem,
                  hints=facts.suggestions(ctx, facts.model(ctx, "inference")))


def _memory_error(ctx: RuleContext, code: str, path: tuple, problem: tuple[str, tuple[str, ...]]) -> None:
    message, hints = problem
    if ctx.ws.annotation(BYPASS) is not None:
        ctx.warning(code, path, message, notes=(f"downgraded to a warning by the {BYPASS} annotation",))
    else:
        ctx.error(code, path, message, hints=hints)
