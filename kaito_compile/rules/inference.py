"""Inference spec rules (I10–I14), inference ConfigMap rules (IC1–IC4) and the catalog-bound
tuning preset rules (T7, T8)."""

from __future__ import annotations

import yaml

from . import facts
from ..catalog import PresetStatus
from ..goregex import go_regex
from .k8snames import dns1123_subdomain_errors
from .registry import RuleContext, StopChecks, define, group
from .resource import is_inference
from .tuning import T7, T8, is_tuning

I10 = define("I10", "inference", "preset xor template",
             "webhook: 'Preset or Template must be specified' / 'Preset and Template cannot be set at the same time'")
I11 = define("I11", "inference", "unsupported preset name", "webhook: 'Unsupported inference preset name %s'")
I12 = define("I12", "inference", "model cannot be resolved",
             "webhook: 'failed to get model preset: …' (Kaito asks the Hugging Face API; kaito-compile reads its "
             "catalogs and asks you to import the model first)")
I13 = define("I13", "inference", "runtime does not support the model or adapter strength",
             "webhook: 'Runtime validation: model %s does not support inference with Huggingface Transformers "
             "runtime' / 'Runtime validation: vLLM does not support adapter strength'")
I14 = define("I14", "inference", "gated model needs a modelAccessSecret",
             "webhook: 'This preset requires authentication and needs a modelAccessSecret with HF_TOKEN key under "
             "presetOptions'")
IC1 = define("IC1", "inference-config", "inference ConfigMap not found",
             "webhook (vLLM): \"ConfigMap '%s' specified in 'config' not found in namespace '%s'\"")
IC2 = define("IC2", "inference-config", "inference_config.yaml missing",
             "webhook (vLLM): missing field inference_config.yaml in ConfigMap")
IC3 = define("IC3", "inference-config", "inference_config.yaml does not parse",
             "webhook (vLLM): 'Failed to parse inference_config.yaml: …' (vllm must map flags to scalars)")
IC4 = define("IC4", "inference-config", "max-model-len invalid or above the model's context",
             "webhook (vLLM): 'max-model-len must be an integer' / 'max-model-len %d exceeds model's maximum "
             "supported context window %d (ModelTokenLimit)'")

I17 = define("I17", "inference", "invalid modelAccessSecret or ConfigMap name",
             "not checked by Kaito: presetOptions.modelAccessSecret and inference/tuning config name a Secret or "
             "ConfigMap (DNS-1123 subdomains); the API server refuses the workload otherwise")
I18 = define("I18", "inference", "template is not a pod template",
             "Kaito's CRD keeps inference.template schemaless; kaito-compile requires spec.containers to be a list "
             "of containers with names and images, or the StatefulSet is refused by the API server")

CONFIG_KEY = "inference_config.yaml"


@group("inference", applies=is_inference)
def check_preset_or_template(ctx: RuleContext) -> None:
    inference = ctx.spec.inference
    if inference.preset is None and inference.template is None:
        ctx.error(I10, ("inference",), "missing field(s): Preset or Template must be specified", key=True)
        raise StopChecks
    if inference.preset is not None and inference.template is not None:
        ctx.error(I10, ("inference", "template"), "Preset and Template cannot be set at the same time", key=True)
        raise StopChecks


@group("inference", applies=is_inference)
def check_preset_name(ctx: RuleContext) -> None:
    if ctx.spec.inference.preset is None:
        return
    resolution = facts.preset_resolution(ctx, "inference")
    path = ("inference", "preset", "name")
    if resolution.status is PresetStatus.DEPRECATED:
        raise StopChecks  # reported by I1
    if resolution.status is PresetStatus.UNSUPPORTED:
        ctx.error(I11, path, resolution.message, hints=resolution.hints)
        raise StopChecks
    if not resolution.ok:
        ctx.error(I12, path, resolution.message, hints=resolution.hints)
        raise StopChecks


@group("inference", applies=lambda ctx: ctx.spec.inference is not None or ctx.spec.tuning is not None)
def check_referenced_names(ctx: RuleContext) -> None:
    for section in ("inference", "tuning"):
        spec = getattr(ctx.spec, section)
        if spec is None:
            continue
        options = spec.preset.presetOptions if spec.preset else None
        if options is not None and options.modelAccessSecret is not None:
            _check_object_name(ctx, (section, "preset", "presetOptions", "modelAccessSecret"), "Secret",
                               options.modelAccessSecret)
        if spec.config is not None:
            _check_object_name(ctx, (section, "config"), "ConfigMap", spec.config)


def _check_object_name(ctx: RuleContext, path: tuple, kind: str, name: str) -> None:
    errors = dns1123_subdomain_errors(name)
    if errors:
        ctx.error(I17, path, f"invalid {kind} name {name!r}: {'; '.join(errors)}")


@group("inference", applies=lambda ctx: is_inference(ctx) and ctx.spec.inference.template is not None)
def check_template_shape(ctx: RuleContext) -> None:
    template = ctx.spec.inference.template
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    path = ("inference", "template")
    if not isinstance(containers, list) or not containers:
        ctx.error(I18, (*path, "spec", "containers") if isinstance(spec, dict) else path,
                  "inference.template.spec.containers must be a non-empty list of containers", key=True)
        return
    for i, container in enumerate(containers):
        if not isinstance(container, dict) or not isinstance(container.get("name"), str) or \
                not isinstance(container.get("image"), str):
            ctx.error(I18, (*path, "spec", "containers", i), "each container needs a string name and image")


@group("inference", applies=is_inference)
def check_runtime_support(ctx: RuleContext) -> None:
    model = facts.model(ctx, "inference")
    problem = facts.runtime_problem(ctx, model) if model is not None and ctx.runtime == "transformers" else None
    if problem:
        ctx.error(I13, ("inference", "preset", "name"), problem,
                  hints=("annotate the Workspace with kaito.sh/runtime: vllm",))
    if ctx.runtime == "vllm":
        for i, adapter in enumerate(ctx.spec.inference.adapters or []):
            if adapter.strength is not None:
                ctx.error(I13, ("inference", "adapters", i, "strength"),
                          "Runtime validation: vLLM does not support adapter strength",
                          hints=("drop strength, or use the transformers runtime",))


@group("inference", applies=is_inference)
def check_access_secret(ctx: RuleContext) -> None:
    model = facts.model(ctx, "inference")
    preset = ctx.spec.inference.preset
    secret = preset.presetOptions.modelAccessSecret if preset and preset.presetOptions else None
    if model is not None and model.gated and not secret:
        # Kaito admits catalog models without a token (I14 is unreachable there) and the download then
        # fails in the pod: a warning, not an error, so Kaito's own examples still compile.
        ctx.warning(I14, ("inference", "preset"), f"{model.hfId} is a gated model: this preset requires "
                    "authentication and needs a modelAccessSecret with HF_TOKEN key under presetOptions",
                    key=True, hints=("create a Secret with key HF_TOKEN and name it in "
                                     "presetOptions.modelAccessSecret",))


@group("inference-config", applies=lambda ctx: is_inference(ctx) and ctx.runtime == "vllm"
       and bool(ctx.spec.inference.config))
def check_inference_config(ctx: RuleContext) -> None:
    name = ctx.spec.inference.config
    path = ("inference", "config")
    data = ctx.config.config_map(ctx.namespace, name)
    if data is None:
        ctx.error(IC1, path, f"ConfigMap '{name}' specified in 'config' not found in namespace '{ctx.namespace}'",
                  hints=("declare it under configMaps in kaito-compile.yaml (inline data or a file)",))
        return
    if CONFIG_KEY not in data:
        ctx.error(IC2, path, f"missing field(s): {CONFIG_KEY} in ConfigMap '{name}'")
        return
    parsed = _parse_inference_config(data[CONFIG_KEY])
    if isinstance(parsed, str):
        ctx.error(IC3, path, f"Failed to parse {CONFIG_KEY} of ConfigMap '{name}': {parsed}")
        return
    _check_max_model_len(ctx, path, parsed)
    facts.max_model_len(ctx)  # what the planner's estimator uses (Kaito's line-based reading)


def _parse_inference_config(text: str) -> dict[str, str] | str:
    """The ``vllm`` map (flag → scalar) or the reason it does not parse as Kaito's struct."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return str(exc).replace("\n", " ")
    if document is None:
        return {}
    if not isinstance(document, dict):
        return "the document must be a mapping"
    vllm = document.get("vllm") or {}
    if not isinstance(vllm, dict):
        return "'vllm' must be a mapping of flag names to values"
    for key, value in vllm.items():
        if isinstance(value, (dict, list)):
            return f"vllm.{key} must be a scalar, not a {'mapping' if isinstance(value, dict) else 'list'}"
    return {str(k): "" if v is None else str(v) for k, v in vllm.items()}


def _check_max_model_len(ctx: RuleContext, path: tuple, vllm: dict[str, str]) -> int | None:
    raw = vllm.get("max-model-len", "").strip()
    if not raw:
        return None
    if not go_regex(r"^[+-]?[0-9]+$").match(raw):  # Go's strconv.Atoi: no Unicode digits, no '_' (int() takes both)
        ctx.error(IC4, path, f"max-model-len must be an integer, got {raw!r}")
        return None
    value = int(raw)
    model = facts.model(ctx, "inference")
    limit = model.contextLimit if model is not None else 0
    if limit and value > limit:
        ctx.error(IC4, path, f"max-model-len {value} exceeds model's maximum supported context window {limit} "
                  "(ModelTokenLimit)")
    return value if value > 0 else None


@group("tuning", applies=is_tuning)
def check_tuning_preset(ctx: RuleContext) -> None:
    if ctx.spec.tuning.preset is None:
        ctx.error(T7, ("tuning",), "missing field(s): Preset", key=True)
        return
    resolution = facts.preset_resolution(ctx, "tuning")
    path = ("tuning", "preset", "name")
    if not resolution.ok:
        ctx.error(T7, path, resolution.message, hints=resolution.hints)
        return
    problem = facts.tuning_problem(resolution.entry)
    if problem:
        ctx.error(T8, path, problem, hints=(f"tunable presets: {', '.join(facts.tunable_names(ctx))}",))
