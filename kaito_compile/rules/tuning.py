"""Tuning rules (T1–T7, TC1–TC4) and the tuning-specific decisions of kaito-api.md §1.7.

The training config is validated by ``kaito_runtime.tuning.config``: the same code the tuning
runner uses at start-up, so the compiler and the runtime cannot disagree about a config.
"""

from __future__ import annotations

from kaito_runtime.tuning import config as training

from .datasource import image_problem, url_problem
from .k8snames import dns1123_label_errors, dns1123_subdomain_errors
from . import facts
from .registry import RuleContext, define, group

T1 = define("T1", "tuning", "tuning is single-node",
            "webhook: 'Tuning does not currently support multinode configurations. Please set the node count to 1'")
T2 = define("T2", "tuning", "no GPU partitioning for tuning",
            "webhook: 'GPU partitioning is not supported for tuning workloads'")
T3 = define("T3", "tuning", "tuning method must be lora or qlora",
            "webhook lower-cases the method and accepts lora/qlora; the controller then compares it "
            "case-sensitively (§1.7.1), so kaito-compile requires lower case")
T4 = define("T4", "tuning", "training ConfigMap must exist",
            "webhook: 'Failed to evaluate validateConfigMap': the ConfigMap named by tuning.config must exist in "
            "the Workspace namespace (kaito-compile reads it from the project config)")
T5 = define("T5", "tuning", "invalid tuning input",
            "webhook: exactly one of URLs, Volume or Image; http(s) URLs only, no local/metadata/private targets "
            "(SSRF); the image reference must parse")
T6 = define("T6", "tuning", "invalid tuning output",
            "webhook: exactly one of Volume or Image; an image needs imagePushSecret and must parse")
T7 = define("T7", "tuning", "tuning preset missing or unknown",
            "webhook: missing field Preset / 'Unsupported tuning preset name %s'")
T8 = define("T8", "tuning", "model cannot be tuned",
            "not checked by Kaito (§1.7.2): presets without tuning parameters crash the controller; kaito-compile "
            "refuses them")
T9 = define("T9", "tuning", "tuning needs an instance type with known GPUs",
            "Kaito's controller cannot size tuning without an instanceType whose GPUs it knows (§1.7.3, §3.3: "
            "GetGPUConfigBySKU fails at reconcile)")
T10 = define("T10", "tuning", "invalid Secret name",
             "not checked by Kaito: imagePushSecret and imagePullSecrets must name Secrets (DNS-1123 subdomains), "
             "else the Job waits for a Secret that cannot exist")
TC1 = define("TC1", "tuning-config", "training_config.yaml missing",
             "webhook: the ConfigMap must have the key training_config.yaml")
TC2 = define("TC2", "tuning-config", "training_config sections",
             "webhook: top-level training_config map; sections ModelConfig, QuantizationConfig, LoraConfig, "
             "TrainingArguments, DatasetConfig, DataCollator only ('Unrecognized section: %s')")
TC3 = define("TC3", "tuning-config", "quantization settings vs method",
             "webhook: load_in_4bit/load_in_8bit booleans, not both; lora must not quantize; qlora must")
TC4 = define("TC4", "tuning-config", "output_dir must be a directory under /mnt",
             "webhook: \"Invalid output_dir specified: '%s', must be a directory\"")

SHARED_INPUT_VOLUME = "docker-config-{}-tuning-input"


def _tuning(ctx: RuleContext):
    return ctx.spec.tuning


is_tuning = lambda ctx: ctx.spec.tuning is not None  # noqa: E731


@group("tuning-resource", applies=is_tuning)
def check_single_node(ctx: RuleContext) -> None:
    count = ctx.spec.resource.count
    if count is not None and count > 1:
        ctx.error(T1, ("resource", "count"), "Tuning does not currently support multinode configurations. "
                  "Please set the node count to 1", hints=("remove resource.count or set it to 1",))


@group("tuning-resource", applies=is_tuning)
def check_no_partition(ctx: RuleContext) -> None:
    if ctx.spec.resource.partition is not None:
        ctx.error(T2, ("resource", "partition"), "GPU partitioning is not supported for tuning workloads", key=True)


@group("tuning-resource", applies=is_tuning)
def check_tuning_has_instance_type(ctx: RuleContext) -> None:
    if not ctx.spec.resource.instanceType:
        if ctx.ws.api_version == "kaito.sh/v1beta1" and not ctx.config.node_auto_provisioning:
            ctx.error(T9, ("resource",), "tuning needs resource.instanceType to size the Job's GPUs, which BYO "
                      "nodes (provisioner byo) cannot give", key=True,
                      notes=("Kaito's controller fails such a Workspace at reconcile time",))
        return
    if ctx.config.cloud in ("azure", "aws", "arc") and facts.gpu_config(ctx) is None:
        lookup = facts.instance_type_lookup(ctx)
        ctx.error(T9, ("resource", "instanceType"), f"tuning needs the GPUs of {ctx.spec.resource.instanceType}, "
                  f"which is not a known {ctx.config.cloud} GPU SKU", hints=lookup.hints if lookup else (),
                  notes=("Kaito admits the name and its controller fails to size the Job",))


@group("tuning", applies=is_tuning)
def check_method(ctx: RuleContext) -> None:
    method = _tuning(ctx).method
    if method is None:
        ctx.error(T3, ("tuning",), "missing field(s): method (lora or qlora)", key=True)
    elif method.lower() not in training.METHODS:
        ctx.error(T3, ("tuning", "method"), f"invalid value: {method}: Method; use lora or qlora")
    elif method != method.lower():
        ctx.error(T3, ("tuning", "method"), f"tuning method {method!r} must be written in lower case",
                  hints=(f"write '{method.lower()}'",),
                  notes=("Kaito's webhook accepts it but its controller then finds no default configuration",))


@group("tuning", applies=is_tuning)
def check_training_config(ctx: RuleContext) -> None:
    tuning = _tuning(ctx)
    method = (tuning.method or "").lower()
    if method not in training.METHODS:
        return
    if not tuning.config:
        return  # Kaito's own template for the method, valid by construction (tested in the runtime suite)
    data = ctx.config.config_map(ctx.namespace, tuning.config)
    if data is None:
        ctx.error(T4, ("tuning", "config"), f"Failed to evaluate validateConfigMap: ConfigMap '{tuning.config}' "
                  f"not found in namespace '{ctx.namespace}'",
                  hints=("declare it under configMaps in kaito-compile.yaml (inline data or a file)",))
        return
    for problem in training.validate_training_config(data.get(training.CONFIG_FILE_NAME), method):
        where = ".".join(problem.path)
        ctx.error(f"KC-{problem.code}", ("tuning", "config"), "Failed to evaluate validateConfigMap: "
                  f"{tuning.config}/{training.CONFIG_FILE_NAME}" + (f": {where}" if where else "")
                  + f": {problem.message}")


@group("tuning", applies=is_tuning)
def check_input(ctx: RuleContext) -> None:
    source = _tuning(ctx).input
    base = ("tuning", "input")
    given = [k for k in ("urls", "image", "volumeSource") if getattr(source, k)]
    if len(given) != 1:
        ctx.error(T5, base if not given else (*base, given[-1]), "Exactly one of URLs, Volume, or Image must be "
                  "specified" + (f" (found {', '.join(given)})" if given else ""), key=True)
    for i, url in enumerate(source.urls or []):
        problem = url_problem(url)
        if problem:
            ctx.error(T5, (*base, "urls", i), problem)
    if source.image:
        problem = image_problem(source.image)
        if problem:
            ctx.error(T5, (*base, "image"), f"Unable to parse input image reference: {problem}")
        name = source.name or ""
        if dns1123_label_errors(SHARED_INPUT_VOLUME.format(name)) or not name:
            ctx.error(T5, (*base, "name") if name else base,
                      f"input name {name!r} cannot name the pull-secret volume "
                      f"{SHARED_INPUT_VOLUME.format(name)!r}: give a short lowercase name without dots",
                      key=not name)
    _check_secret_names(ctx, (*base, "imagePullSecrets"), source.imagePullSecrets or [])


@group("tuning", applies=is_tuning)
def check_output(ctx: RuleContext) -> None:
    output = _tuning(ctx).output
    base = ("tuning", "output")
    if bool(output.image) == bool(output.volumeSource):
        ctx.error(T6, base, "missing field(s): Exactly one of Volume or Image must be specified", key=True)
    if output.image:
        problem = image_problem(output.image)
        if problem:
            ctx.error(T6, (*base, "image"), f"Unable to parse output image reference: {problem}")
        if not output.imagePushSecret:
            ctx.error(T6, base, "missing field(s): Must specify imagePushSecret with destination image", key=True)
    if output.imagePushSecret:
        _check_secret_names(ctx, (*base, "imagePushSecret"), [output.imagePushSecret], single=True)


def _check_secret_names(ctx: RuleContext, path: tuple, names: list[str], single: bool = False) -> None:
    for i, name in enumerate(names):
        errors = dns1123_subdomain_errors(name)
        if errors:
            ctx.error(T10, path if single else (*path, i),
                      f"invalid Secret name {name!r}: Secret names are lowercase DNS-1123 subdomains")
