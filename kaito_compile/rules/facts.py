"""What the rules need to know from the catalogs and the sizing, computed once per Workspace.

Results are memoised in ``ctx.facts`` so that the planner reuses what the rules established
(resolved model, GPU configuration) instead of deciding it a second time.
"""

from __future__ import annotations

from ..catalog import PresetResolution, PresetStatus
from ..catalog.models import ModelEntry
from ..catalog.catalog import InstanceTypeStatus
from ..catalog.resolve import runtime_validation_error, tuning_error
from ..sizing.gpu import GpuConfig, SizingError, uniform_gpu_config
from ..sizing import (
    TRANSFORMERS_MULTI_NODE,
    estimate_nodes,
    exceeds_one_node,
    explicit_max_model_len,
    insufficient_gpu_memory,
    mig_slice_too_small,
    suggest,
    transformers_fit_error,
)
from .labels import sanitized_match_labels
from .registry import RuleContext

def _memo(ctx: RuleContext, key: str, compute):
    if key not in ctx.facts:
        ctx.facts[key] = compute()
    return ctx.facts[key]


def preset_name(ctx: RuleContext, section: str) -> str | None:
    spec = getattr(ctx.spec, section)
    return spec.preset.name if spec is not None and spec.preset is not None else None


def preset_resolution(ctx: RuleContext, section: str) -> PresetResolution | None:
    name = preset_name(ctx, section)
    if name is None:
        return None
    return _memo(ctx, f"{section}.resolution", lambda: ctx.catalog.resolve(name, section))


def is_deprecated(resolution: PresetResolution | None) -> bool:
    return resolution is not None and resolution.status is PresetStatus.DEPRECATED


def model(ctx: RuleContext, section: str) -> ModelEntry | None:
    resolution = preset_resolution(ctx, section)
    return resolution.entry if resolution is not None and resolution.ok else None


def runtime_problem(ctx: RuleContext, entry: ModelEntry) -> str | None:
    return runtime_validation_error(ctx.catalog.models, entry, ctx.runtime)


def tuning_problem(entry: ModelEntry) -> str | None:
    return tuning_error(entry)


def tunable_names(ctx: RuleContext) -> list[str]:
    return sorted(alias for entry in ctx.catalog.models if entry.tunable for alias in entry.aliases[:1])


def matching_nodes(ctx: RuleContext) -> list[tuple[str, dict[str, str]]]:
    """BYO inventory nodes whose labels include the sanitized matchLabels (an empty selector: all)."""
    wanted = sanitized_match_labels(ctx.spec.resource.labelSelector)
    return [(node.name, node.labels) for node in ctx.config.nodes
            if all(node.labels.get(k) == v for k, v in wanted.items())]


def gpu_config(ctx: RuleContext) -> GpuConfig | None:
    """The GPUs of one node: SKU table (NAP) or the BYO inventory, then the partition applied."""
    return _memo(ctx, "gpu", lambda: _gpu_config(ctx))


def _gpu_config(ctx: RuleContext) -> GpuConfig | None:
    resource = ctx.spec.resource
    if ctx.config.node_auto_provisioning or ctx.ws.api_version == "kaito.sh/v1alpha1":
        lookup = instance_type_lookup(ctx)
        return GpuConfig.from_sku(lookup.sku) if lookup and lookup.sku else None
    partition = resource.partition
    if partition is not None and partition.mode == "mig" and partition.profile:
        try:
            return GpuConfig.from_mig_profile(partition.profile)
        except ValueError:
            return None
    nodes = [n for n in matching_nodes(ctx) if _ready(ctx, n[0])] or matching_nodes(ctx)
    try:
        config = uniform_gpu_config(nodes)
    except SizingError:
        return None
    if partition is not None and partition.mode == "accelerator" and partition.count:
        try:
            return config.scaled_to(partition.count)
        except SizingError:
            return None
    return config


def _ready(ctx: RuleContext, name: str) -> bool:
    return any(node.name == name and node.ready for node in ctx.config.nodes)


def byo_gpu_problem(ctx: RuleContext) -> str | None:
    try:
        uniform_gpu_config(matching_nodes(ctx))
    except SizingError as exc:
        return str(exc)
    return None


def instance_type_lookup(ctx: RuleContext):
    name = ctx.spec.resource.instanceType
    if not name:
        return None
    # Tuning runs kaito-compile's tuning runtime (transformers + peft), whatever the inference runtime:
    # legacy SKUs keep their GPU figures there, as they do for the transformers runtime.
    runtime = "transformers" if ctx.spec.tuning is not None else ctx.runtime
    return _memo(ctx, "instance_type", lambda: ctx.catalog.instance_type(ctx.config.cloud, name, runtime=runtime))


def sku_problem(ctx: RuleContext) -> tuple[str, tuple[str, ...]] | None:
    """Kaito's I8, and the compiler's refusal to size a preset on an SKU it has no figures for."""
    lookup = instance_type_lookup(ctx)
    if lookup is None or lookup.status is InstanceTypeStatus.KNOWN:
        return None
    if lookup.status is InstanceTypeStatus.UNLISTED_AZURE:
        if ctx.spec.inference is not None and ctx.spec.inference.template is not None:
            return None  # Kaito runs template workspaces on SKUs it does not know
        return (f"{lookup.message}: kaito-compile has no GPU figures for it, so it cannot size a preset "
                "(Kaito admits the name and fails at reconcile)", lookup.hints)
    return lookup.message or "Unsupported instance type", lookup.hints


def mig_profile_problem(ctx: RuleContext, profile: str | None) -> str | None:
    if not profile:
        return "missing field(s): profile is required for mig mode"
    return ctx.catalog.skus.mig_profile_error(profile)


def mig_fit_problem(ctx: RuleContext, profile: str) -> tuple[str, tuple[str, ...]] | None:
    entry = model(ctx, "inference")
    problem = mig_slice_too_small(entry, preset_name(ctx, "inference"), profile) if entry else None
    return (problem, ("choose a larger MIG profile",)) if problem else None


def gpu_memory_problem(ctx: RuleContext) -> tuple[str, tuple[str, ...]] | None:
    """Kaito's I9 (count × node GPU memory ≥ weights; transformers is single-node) and, for our
    transformers runtime, the fit with its stated margin (kaito_compile.sizing.transformers)."""
    entry, gpu = model(ctx, "inference"), gpu_config(ctx)
    if entry is None or gpu is None:
        return None
    byo = not ctx.config.node_auto_provisioning and ctx.ws.api_version == "kaito.sh/v1beta1"
    machines = len(matching_nodes(ctx)) if byo else (ctx.spec.resource.count or 1)
    label = ctx.spec.resource.instanceType or "of the BYO nodes"
    problem = insufficient_gpu_memory(entry, preset_name(ctx, "inference"), gpu, machines, label)
    if problem:
        return problem, suggestions(ctx, entry)
    if ctx.runtime != "transformers":
        return None
    if exceeds_one_node(entry, gpu):
        return TRANSFORMERS_MULTI_NODE, suggestions(ctx, entry)
    problem = transformers_fit_error(entry, gpu, ctx.catalog.skus, ctx.config.cloud)
    return (problem, ()) if problem else None


def max_model_len(ctx: RuleContext) -> int | None:
    """The user's ``vllm.max-model-len`` as Kaito's estimator reads it (``ParseExplicitMaxModelLen`` over
    the inference ConfigMap). Read from the ConfigMap here: the sizing checks run before the IC checks."""
    def compute() -> int | None:
        inference = ctx.spec.inference
        if inference is None or not inference.config or ctx.runtime != "vllm":
            return None
        text = (ctx.config.config_map(ctx.namespace, inference.config) or {}).get("inference_config.yaml")
        return explicit_max_model_len(text) if text else None

    return _memo(ctx, "max_model_len", compute)


def vllm_sizing_problem(ctx: RuleContext) -> str | None:
    entry, gpu = model(ctx, "inference"), gpu_config(ctx)
    if entry is None or gpu is None:
        return None
    try:
        estimate_nodes(entry, gpu, max_model_len=max_model_len(ctx),
                       requested_count=ctx.spec.resource.count or 1)
    except SizingError as exc:
        return str(exc)
    return None


def suggestions(ctx: RuleContext, entry: ModelEntry | None, limit: int = 3) -> tuple[str, ...]:
    """The smallest SKUs of the cloud that would serve the model on this runtime, as hints."""
    if entry is None:
        return ()
    found = suggest(entry, ctx.catalog.skus, ctx.config.cloud, ctx.runtime,
                    max_model_len=max_model_len(ctx))
    if not found:
        return (f"no {ctx.config.cloud} SKU serves {entry.short_name} on the {ctx.runtime} runtime",)
    fits = ", ".join(f"{s.sku.name} ({s.nodes} node{'s' if s.nodes > 1 else ''})" for s in found[:limit])
    hints = [f"SKUs that fit {entry.short_name} on the {ctx.runtime} runtime: {fits}"]
    gpu = gpu_config(ctx)
    if ctx.runtime == "transformers" and gpu is not None and not gpu.legacy:
        try:
            nodes = estimate_nodes(entry, gpu)
            hints.append(f"with the annotation kaito.sh/runtime: vllm, {gpu.sku} fits it on {nodes} node"
                         f"{'s' if nodes > 1 else ''}")
        except SizingError:
            pass
    return tuple(hints)
