"""Stage 4, plan: a validated Workspace → a Plan (sizing, runtime, images, names of every object).

The plan reuses what the rules established (resolved model, GPU configuration) and adds the
decisions Kaito's controller makes at reconcile time: node count, parallelism, flags, volumes.
"""

from __future__ import annotations

import hashlib
import json

from kaito_runtime.tuning import config as training

from ..catalog.models import ModelEntry
from ..diagnostics import Diagnostic, SpecError
from ..rules import Validated, facts
from ..rules.registry import RuleContext
from ..rules.labels import sanitized_match_labels
from ..rules.resource import P1
from ..sizing.gpu import GpuConfig, SizingError
from ..spec.inferenceset import CREATED_BY_LABEL, PROPAGATED_LABELS
from ..sizing.transformers import transformers_dtype
from ..sizing.vllm import estimate_nodes, explicit_max_model_len, sizing_flags
from .model import AdapterPlan, ConfigMapPlan, Images, Plan, TuningPlan
from .names import node_claim_name

__all__ = ["Plan", "build_plan", "source_hash"]

DEFAULT_TUNING_DISK = "1024Gi"
KV_EVENTS = "'{\"enable_kv_cache_events\":true}'"


def source_hash(validated: Validated) -> str:
    canonical = json.dumps(validated.ws.doc.plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _images(validated: Validated) -> Images:
    images = validated.config.images

    def ours(name: str, digest: str | None) -> str:
        ref = f"{images.registry}/{name}:{images.tag}"
        return f"{ref}@{digest}" if digest else ref

    return Images(ours("kaito-inference", images.inferenceDigest), ours("kaito-tuning", images.tuningDigest),
                  images.kaitoBase)


def build_plan(validated: Validated) -> Plan:
    """Decide everything about one Workspace; SpecError (KC-P1) when it cannot be placed."""
    ctx = RuleContext(validated.ws, validated.config, validated.catalog, facts=validated.facts)
    spec = ctx.spec
    kind = "tuning" if spec.tuning else ("inference-template" if spec.inference.template is not None
                                         else "inference-preset")
    section = "tuning" if kind == "tuning" else "inference"
    model = facts.model(ctx, section) if kind != "inference-template" else None
    gpu = facts.gpu_config(ctx)
    if gpu is None and kind != "inference-template":  # e.g. a v1alpha1 Workspace on BYO nodes without instanceType
        raise _fail(ctx, ("resource",), f"cannot size {section} without GPU figures: give resource.instanceType (a "
                    f"{ctx.ws.api_version} Workspace is sized from its instance type, not from BYO nodes)")
    node_count, why = _node_count(ctx, kind, model, gpu)
    config = validated.config
    plan_kwargs = dict(
        workspace=validated.ws.name,
        namespace=validated.namespace,
        source_file=validated.ws.doc.file,
        source_hash=source_hash(validated),
        kind=kind,
        runtime=ctx.runtime,
        cloud=config.cloud,
        provisioner=config.provisioner,
        instance_type=spec.resource.instanceType,
        match_labels=sanitized_match_labels(spec.resource.labelSelector),
        node_count=node_count,
        gpu=gpu,
        images=_images(validated),
        model=model,
        annotations=dict(spec.metadata.annotations or {}),
        node_names=_node_names(validated, node_count),
        node_image_family=(validated.ws.annotation("kaito.sh/node-image-family") or
                           config.defaultNodeImageFamily).strip().lower(),
        node_class=validated.ws.annotation("kaito.sh/node-class-name") or config.karpenter.defaultNodeClass,
        inference_set=(spec.metadata.labels or {}).get(CREATED_BY_LABEL),
        workload_labels=_workload_labels(spec.metadata.labels or {}),
    )
    if gpu is not None and kind != "inference-template":
        why.extend(_gpu_reasons(ctx, model, gpu, node_count))
    plan_kwargs["why"] = tuple(why)
    if kind == "tuning":
        return Plan(**plan_kwargs, **_tuning_parts(ctx, model))
    if kind == "inference-template":
        return Plan(**plan_kwargs, template=spec.inference.template, config_maps=_declared_config_maps(ctx))
    return Plan(**plan_kwargs, **_preset_parts(ctx, model, gpu, node_count))


def _workload_labels(labels: dict[str, str]) -> dict[str, str]:
    """Kaito copies these Workspace labels to the workload's selector and pod labels (kaito-api.md §4.3)."""
    return {key: labels[key] for key in (CREATED_BY_LABEL, *PROPAGATED_LABELS) if key in labels}


def _fail(ctx: RuleContext, path: tuple, message: str, hints: tuple[str, ...] = ()) -> SpecError:
    return SpecError([Diagnostic(P1, message, span=ctx.ws.doc.span(path), hints=hints)])


def _node_count(ctx: RuleContext, kind: str, model: ModelEntry | None, gpu: GpuConfig | None
                ) -> tuple[int, list[str]]:
    count = ctx.spec.resource.count or 1
    if kind == "tuning":
        return 1, ["tuning runs on one node (Kaito: multi-node tuning is not supported)"]
    if kind == "inference-template" or ctx.runtime == "transformers" or model is None or gpu is None:
        reason = "template workspace" if kind == "inference-template" else "transformers runtime"
        return count, [f"{reason}: {count} node(s) from resource.count, each an independent replica"]
    max_len = ctx.facts.get("max_model_len")
    try:
        nodes = estimate_nodes(model, gpu, max_model_len=max_len, requested_count=count)
    except SizingError as exc:
        raise _fail(ctx, ("resource", "instanceType") if ctx.spec.resource.instanceType else
                    ("resource", "labelSelector"), str(exc)) from exc
    context = max_len or 2048
    return nodes, [f"vLLM estimator: {model.fileSize} of weights, {model.bytes_per_token} KV bytes/token × "
                   f"{context} tokens on {gpu.gpu_count} × {gpu.per_gpu_bytes // (1 << 30)}Gi GPUs → {nodes} "
                   "node(s)"]


def _gpu_reasons(ctx: RuleContext, model: ModelEntry | None, gpu: GpuConfig, node_count: int) -> list[str]:
    reasons = []
    if ctx.runtime == "transformers" or ctx.spec.tuning is not None:
        if not gpu.supports_bfloat16:
            reasons.append(f"float16: {gpu.gpu_model or 'the GPU'} has compute capability "
                           f"{gpu.compute_capability:.1f} (bfloat16 needs 8.0)")
        return reasons
    if model is None:
        return reasons
    flags = sizing_flags(model, gpu, node_count)
    if "data-parallel-size" in flags:
        reasons.append(f"data parallel ×{gpu.gpu_count}: {model.fileSize} is under half of one GPU, so each GPU "
                       "serves a replica")
    elif node_count > 1:
        reasons.append(f"pipeline parallel over {node_count} nodes (Ray), tensor parallel ×{gpu.gpu_count} within "
                       "each")
    elif gpu.gpu_count > 1:
        reasons.append(f"tensor parallel ×{gpu.gpu_count}: the weights are sharded over the node's GPUs")
    reasons.append(f"gpu-memory-utilization {flags['gpu-memory-utilization']} for {gpu.gpu_model}")
    return reasons


def _node_names(validated: Validated, node_count: int) -> tuple[str, ...]:
    if validated.config.provisioner not in ("gpu-provisioner", "machine"):
        return ()
    instance_type = validated.ws.spec.resource.instanceType or ""
    return tuple(node_claim_name(validated.namespace, validated.ws.name, instance_type, i) for i in range(node_count))


def _adapters(ctx: RuleContext) -> tuple[AdapterPlan, ...]:
    return tuple(AdapterPlan(a.source.name, a.source.image, a.source.volumeSource,
                             tuple(a.source.imagePullSecrets or ()), a.strength)
                 for a in ctx.spec.inference.adapters or [])


def _access_secret(preset) -> str | None:
    return preset.presetOptions.modelAccessSecret if preset and preset.presetOptions else None


def _declared_config_maps(ctx: RuleContext) -> tuple[ConfigMapPlan, ...]:
    """ConfigMaps the spec names and kaito-compile.yaml declares: emitted so GitOps applies them."""
    names = []
    if ctx.spec.inference is not None and ctx.spec.inference.config:
        names.append(ctx.spec.inference.config)
    if ctx.spec.tuning is not None and ctx.spec.tuning.config:
        names.append(ctx.spec.tuning.config)
    found = []
    for name in names:
        data = ctx.config.config_map(ctx.namespace, name)
        if data is not None:
            found.append(ConfigMapPlan(name, dict(sorted(data.items()))))
    return tuple(found)


LOCAL_WEIGHTS_ROOT = "/opt/kaito/models"


def local_weights_path(ctx: RuleContext) -> str | None:
    """Kaito's node-local weights directory: the preset name lower-cased, ``/`` → ``-``."""
    if ctx.ws.annotation("kaito.sh/use-local-weights") != "true":
        return None
    return f"{LOCAL_WEIGHTS_ROOT}/{ctx.spec.inference.preset.name.lower().replace('/', '-')}"


def _preset_parts(ctx: RuleContext, model: ModelEntry, gpu: GpuConfig, node_count: int) -> dict:
    inference = ctx.spec.inference
    parts = dict(
        local_weights=local_weights_path(ctx),
        adapters=_adapters(ctx),
        model_access_secret=_access_secret(inference.preset),
        inference_config=inference.config,
        config_maps=_declared_config_maps(ctx),
        disk_size=model.disk_storage_requirement,
        readiness_failure_threshold=model.startup_failure_threshold,
    )
    family = ctx.catalog.models.transformers_params(model) or {}
    if ctx.runtime == "transformers":
        dtype = family.get("torch_dtype", "auto")
        if not gpu.supports_bfloat16:
            dtype = transformers_dtype(gpu)
        parts.update(transformers_args=dict(family), dtype=dtype)
    else:
        parts.update(vllm_args=_vllm_args(ctx, model, gpu, node_count))
    return parts


def _served_model_name(ctx: RuleContext, model: ModelEntry) -> str:
    """Kaito: a MultiRoleInference replica serves the short name, an InferenceSet replica the set's name."""
    labels = ctx.spec.metadata.labels or {}
    if PROPAGATED_LABELS[1] in labels:
        return model.short_name
    return labels.get(CREATED_BY_LABEL) or model.short_name


def _vllm_args(ctx: RuleContext, model: ModelEntry, gpu: GpuConfig, node_count: int) -> dict[str, str]:
    args = model.vllm.static_args()
    args.update({
        "served-model-name": _served_model_name(ctx, model),
        "max-model-len": "auto",
        "kv-events-config": KV_EVENTS,
        "compilation-config.pass_config.fuse_allreduce_rms": "False",
        "model": model.model_id,
        "download-dir": "/workspace/weights",
    })
    args.update(sizing_flags(model, gpu, node_count))
    if ctx.spec.inference.adapters:
        args["enable-lora"] = ""
    mode = ctx.ws.annotation("kaito.sh/performance-mode")
    if mode and mode != "balanced":
        args["performance-mode"] = mode
    local = local_weights_path(ctx)
    if local:
        for flag in ("load_format", "download-dir"):
            args.pop(flag, None)
        args.update({"model": local, "load-format": "runai_streamer"})
    return args


def _tuning_parts(ctx: RuleContext, model: ModelEntry) -> dict:
    tuning = ctx.spec.tuning
    method = tuning.method.lower()
    config_maps = list(_declared_config_maps(ctx))
    if tuning.config:
        text = (ctx.config.config_map(ctx.namespace, tuning.config) or {}).get(training.CONFIG_FILE_NAME, "")
        config_map, default = tuning.config, None
    else:
        text = default = training.default_training_config(method)
        config_map = f"{ctx.ws.name}-{method}-params"
        config_maps.append(ConfigMapPlan(config_map, {training.CONFIG_FILE_NAME: default}))
    try:
        output_dir = training.resolve_output_dir(text)
    except (ValueError, training.TrainingConfigError) as exc:
        raise _fail(ctx, ("tuning", "config"), f"cannot derive the training output directory: {exc}") from exc
    source, output = tuning.input, tuning.output
    plan = TuningPlan(
        method=method, preset_name=tuning.preset.name, config_map=config_map, default_config=default, output_dir=output_dir,
        input_urls=tuple(source.urls or ()), input_image=source.image, input_name=source.name,
        input_pull_secrets=tuple(source.imagePullSecrets or ()), input_volume=source.volumeSource,
        output_image=output.image, output_push_secret=output.imagePushSecret, output_volume=output.volumeSource)
    family = ctx.catalog.models.transformers_params(model) or {}
    return dict(tuning=plan, config_maps=tuple(config_maps), model_access_secret=_access_secret(tuning.preset),
                transformers_args=dict(family), disk_size=DEFAULT_TUNING_DISK)
