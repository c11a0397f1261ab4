"""Hypothesis strategies for Workspaces and project configs, derived from the pydantic models.

:func:`from_model` walks a model's fields: every required field is drawn, every optional one is left out or
drawn, each from the strategy of its annotation (``Literal`` → its values, nested models → recursion, lists,
dicts, scalars). Fields whose plain type says little (a preset name is a ``str``) take realistic values from
:data:`FIELD_VALUES`, keyed by ``(model, field)``, mixed with a little hostile or random input: the catalogs'
preset names, aliases and deprecated names, every SKU of every cloud, MIG profiles, label selectors, adapters,
tuning inputs and outputs, Kaito's annotations.

Two flavours of each strategy: ``realistic`` draws mostly values Kaito would admit, so that a fair share of
Workspaces compile and their objects can be checked; ``wild`` also draws random text, wrong types and unknown
fields everywhere, so that the rules and the loader see what no example shows.

Wild values include the inputs the hostile corpus first found admitted (since refused: C9, C10, I17, I18,
S004/S005): label keys and values that are not Kubernetes labels, Secret and ConfigMap names that are paths,
pod templates that are not pod templates, node counts large enough to exhaust memory, and project configs whose
ConfigMaps read files outside the repository.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Annotated, Any, Literal, Union

from hypothesis import strategies as st
from pydantic import BaseModel

from kaito_compile.catalog import load_catalog
from kaito_compile.spec import models as spec

NAMESPACES = ("default", "team-a", "kaito-workloads")
LABEL_KEYS = ("apps", "app", "pool", "kaito.sh/workspace", "example.com/gpu-pool")
LABEL_VALUES = ("phi-3", "a100", "tuning", "gpu", "x")
ANNOTATIONS = {  # Kaito's annotations and the values it admits
    "kaito.sh/runtime": ("vllm", "transformers"),
    "kaito.sh/use-local-weights": ("true", "false"),
    "kaito.sh/performance-mode": ("balanced", "interactivity", "throughput"),
    "kaito.sh/bypass-resource-checks": ("True",),
    "kaito.sh/node-image-family": ("ubuntu", "azurelinux"),
    "kaito.sh/disable-benchmark": ("true", "false"),
    "kaito.sh/node-class-name": ("image-family-ubuntu", "image-family-azure-linux"),
}
BAD_ANNOTATIONS = ({"kaito.sh/runtime": "VLLM"}, {"kaito.sh/runtime": "sglang"}, {"kaito.sh/use-local-weights": "yes"},
                   {"kaito.sh/performance-mode": "turbo"}, {"kaito.sh/node-image-family": "windows"},
                   {"kaito.sh/node-class-name": "custom"}, {"kaito.sh/runtime": ""})
INFERENCE_CONFIG_MAPS = ("vllm-config", "long-context")
TRAINING_CONFIG_MAPS = ("lora-params", "qlora-params", "broken-params")
SECRETS = ("hf-token", "acr-secret", "registry.example.com")
IMAGES = ("contosoacr.azurecr.io/adapters/phi-3-adapter:0.0.1", "ghcr.io/example/adapter@sha256:" + "a" * 64,
          "registry.example.com:5000/team/data:v1", "docker.io/library/busybox:1.36")
BAD_IMAGES = ("UPPER.io/x:1", "x::1", "", "registry.example.com/x:tag with space")
URLS = ("https://huggingface.co/datasets/philschmid/dolly-15k-oai-style/resolve/main/train.parquet",
        "https://example.com/data.jsonl?download=true", "http://data.example.org/a/b/c.csv")
BAD_URLS = ("http://169.254.169.254/latest/meta-data/", "http://localhost/x.parquet", "file:///etc/passwd",
            "http://10.0.0.1/x", "ftp://example.com/x", "https://example.com/a b", "http://[::1]/x", "not a url")
VOLUME_SOURCES = ({"emptyDir": {}}, {"persistentVolumeClaim": {"claimName": "data-pvc"}},
                  {"configMap": {"name": "files"}}, {"secret": {"secretName": "adapters"}})
GPU_NODES = {  # nvidia.com/gpu.product → (count, MiB per GPU)
    "NVIDIA-A100-SXM4-80GB": ("1", "81920"),
    "NVIDIA-A10": ("2", "23028"),
    "NVIDIA-H100-80GB-HBM3": ("8", "81559"),
    "Tesla-T4": ("1", "15360"),
}
TRAINING_CONFIGS = {
    "lora-params": "training_config:\n  ModelConfig:\n    torch_dtype: bfloat16\n  TrainingArguments:\n"
                   "    output_dir: /mnt/results\n    num_train_epochs: 1\n",
    "qlora-params": "training_config:\n  QuantizationConfig:\n    load_in_4bit: true\n  TrainingArguments:\n"
                    "    output_dir: /mnt/results\n",
    "broken-params": "training_config:\n  Unknown: {}\n",
}
INFERENCE_CONFIGS = {
    "vllm-config": "vllm:\n  max-model-len: 4096\n  enable-prefix-caching: true\n",
    "long-context": "vllm:\n  max-model-len: 131072\n",
}


@cache
def catalog():
    return load_catalog()


def preset_names() -> list[str]:
    models = catalog().models
    names = {name for entry in models for name in (entry.short_name, entry.hfId, *entry.aliases)}
    return sorted(names | set(models.rejected))


def tunable_names() -> list[str]:
    return sorted(e.short_name for e in catalog().models if e.tuning is not None and e.tuning.supported)


def instance_types() -> list[str]:
    return sorted({sku.name for skus in catalog().skus.clouds.values() for sku in skus})


def mig_profiles() -> list[str]:
    return sorted(catalog().skus.mig_profiles)


# --- generic: a strategy from a type annotation ----------------------------------------------------------------

def dns_labels(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.from_regex(rf"\A[a-z]([-a-z0-9]{{0,{max_size - 2}}}[a-z0-9])?\Z")


def noisy(realistic: st.SearchStrategy, wild: bool, *junk: Any, percent: int = 5) -> st.SearchStrategy:
    """``realistic``; with ``wild``, ``percent`` % of the time one of the ``junk`` values or random text instead.

    (``one_of`` would pick its branches evenly; a weighted draw keeps most fields realistic, so that one junk
    value at a time reaches the rules instead of the first one stopping the document.)"""
    if not wild:
        return realistic
    bad = st.one_of(st.sampled_from(junk), st.text(max_size=12)) if junk else st.text(max_size=12)
    return st.integers(0, 99).flatmap(lambda roll: realistic if roll >= percent else bad)


def json_values() -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8))
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)), max_leaves=6)


def for_annotation(annotation: Any, wild: bool) -> st.SearchStrategy:
    """The strategy for a field's type annotation (without realistic overrides)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return for_annotation(args[0], wild)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return st.one_of(*(for_annotation(a, wild) for a in options))
    if origin is Literal:
        return noisy(st.sampled_from(args), wild, *[str(a).upper() for a in args])
    if origin is list:
        return st.lists(for_annotation(args[0], wild), max_size=3)
    if origin is dict:
        value = json_values() if args[1] is Any else for_annotation(args[1], wild)
        return st.dictionaries(st.text(max_size=10), value, max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return from_model(annotation, wild)
    if annotation is Any:
        return json_values()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return noisy(st.integers(0, 4), wild, -1, 2**31, "3")
    if annotation is str:
        return noisy(st.text(min_size=1, max_size=12), wild)
    raise TypeError(f"no strategy for {annotation!r}")


def from_model(model: type[BaseModel], wild: bool = False) -> st.SearchStrategy[dict]:
    """Dicts shaped like ``model``: required fields always, optional ones sometimes.

    Realistic dicts also always have the fields of :data:`USUALLY_SET` and exactly one field of each group in
    :data:`ONE_OF` (the rules refuse the other combinations, which wild dicts keep drawing); wild dicts of the
    models in :data:`UNKNOWN_FIELDS_IN` at times carry an unknown field (the models forbid extra keys)."""
    required, optional = {}, {}
    for name, field in model.model_fields.items():
        override = FIELD_VALUES.get((model.__name__, name))
        strategy = override(wild) if override else for_annotation(field.annotation, wild)
        always = field.is_required() or (not wild and (model.__name__, name) in USUALLY_SET)
        (required if always else optional)[name] = strategy
    group = () if wild else ONE_OF.get(model.__name__, ())
    shaped = st.fixed_dictionaries(required, optional={k: v for k, v in optional.items() if k not in group})
    if group:
        one = st.sampled_from(group).flatmap(lambda key: st.fixed_dictionaries({key: optional[key]}))
        shaped = st.builds(lambda known, chosen: {**known, **chosen}, shaped, one)
    if wild and model.__name__ in UNKNOWN_FIELDS_IN:
        unknown = noisy(st.just({}), True, {"gpuCount": 8}, {"spec": {}}, {"Name": "x"}, percent=2)
        shaped = st.builds(lambda known, extra: {**known, **extra} if isinstance(extra, dict) else known,
                           shaped, unknown)
    return shaped


# --- realistic values, field by field ----------------------------------------------------------------------------

def _names(wild: bool) -> st.SearchStrategy:
    return noisy(st.one_of(st.just("workspace-phi-3"), dns_labels(30)), wild, "Workspace_1", "9lives", "a" * 64,
                 "../x", "")


def _namespaces(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(NAMESPACES), wild, "Default", "a/b", "n" * 64)


def _annotations(wild: bool) -> st.SearchStrategy:
    known = st.dictionaries(st.sampled_from(sorted(ANNOTATIONS)), st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({key: st.sampled_from(ANNOTATIONS[key]) for key in keys}))
    return noisy(known, wild, *BAD_ANNOTATIONS)


def _labels(wild: bool) -> st.SearchStrategy:
    labels = st.dictionaries(st.sampled_from(LABEL_KEYS), st.sampled_from(LABEL_VALUES), min_size=1, max_size=2)
    return noisy(labels, wild, {"../../evil": "x"}, {"apps": "$(id);x"}, {"k" * 64: "v"}, {"apps": "v" * 64},
                 {"apps": ""})


def _match_expressions(wild: bool) -> st.SearchStrategy:
    expression = st.fixed_dictionaries(
        {"key": st.sampled_from(LABEL_KEYS), "operator": st.sampled_from(("In", "In", "NotIn", "Exists"))},
        optional={"values": st.lists(st.sampled_from(LABEL_VALUES), max_size=2)})
    return st.lists(expression, max_size=2)


def _instance_types(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(instance_types()), wild, "Standard_NC999_x", "Standard_D4s_v3", "m5.large", "")


def _counts(wild: bool) -> st.SearchStrategy:
    return noisy(st.integers(1, 3), wild, 0, -1, 1001, 10**8)


def _partition_modes(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(("mig", "accelerator")), wild, "MIG", "time-slicing")


def _mig_profiles(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(mig_profiles()), wild, "3g.40", "0g.10gb", "9g.999gb")


def _preset_names(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(preset_names()), wild, "PHI-3-MINI-4K-INSTRUCT", "org/unknown-model", "")


def _tuning_preset_names(wild: bool) -> st.SearchStrategy:
    return noisy(st.one_of(st.sampled_from(tunable_names()), st.sampled_from(preset_names())), wild)


def _secret(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(SECRETS), wild, "../../etc/passwd", "Bad_Secret", "a" * 254)


def _secrets(wild: bool) -> st.SearchStrategy:
    return st.lists(noisy(st.sampled_from(SECRETS), wild, "Bad_Secret", "../x"), max_size=2)


def _inference_config(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(INFERENCE_CONFIG_MAPS), wild, "missing-config")


def _training_config(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(TRAINING_CONFIG_MAPS), wild, "missing-config")


def _templates(wild: bool) -> st.SearchStrategy:
    container = st.fixed_dictionaries(
        {"name": dns_labels(12), "image": st.sampled_from(IMAGES)},
        optional={"args": st.lists(st.text(max_size=8), max_size=2),
                  "ports": st.just([{"containerPort": 5000}]),
                  "resources": st.just({"limits": {"nvidia.com/gpu": "1"}}),
                  "securityContext": st.just({"runAsNonRoot": True, "allowPrivilegeEscalation": False})})
    containers = st.lists(container, min_size=1, max_size=2, unique_by=lambda c: c["name"])
    pod = st.fixed_dictionaries({"containers": containers},
                                optional={"tolerations": st.just([{"key": "team", "operator": "Exists"}])})
    template = st.fixed_dictionaries({"spec": pod}, optional={"metadata": st.just({"labels": {"team": "a"}})})
    return noisy(template, wild, {"spec": {"containers": 42}}, {"spec": None}, {"metadata": [1, 2]},
                 {"spec": {"containers": [{"name": "c"}]}}, {"spec": {"containers": []}})


def _adapters(wild: bool) -> st.SearchStrategy:
    name = noisy(st.sampled_from(("phi-3-adapter", "adapter-b", "c")), wild, "Bad.Name", "a" * 60)
    image, volume = noisy(st.sampled_from(IMAGES), wild, *BAD_IMAGES), st.sampled_from(VOLUME_SOURCES)
    if wild:
        source = st.fixed_dictionaries({}, optional={"name": name, "image": image, "volumeSource": volume,
                                                     "imagePullSecrets": _secrets(wild),
                                                     "urls": st.lists(st.sampled_from(URLS), max_size=1)})
    else:  # a name and exactly one of image and volumeSource, as Kaito requires
        source = st.one_of(st.fixed_dictionaries({"name": name, "image": image},
                                                 optional={"imagePullSecrets": _secrets(wild)}),
                           st.fixed_dictionaries({"name": name, "volumeSource": volume}))
    adapter = st.fixed_dictionaries({"source": source}, optional={
        "strength": noisy(st.sampled_from(("0.5", "1.0", "0", "1")), wild, "1.5", "-0.1", "abc", "nan")})
    if wild:
        return st.lists(adapter, max_size=12)
    return st.lists(adapter, max_size=3, unique_by=lambda a: a["source"]["name"])


def _urls(wild: bool) -> st.SearchStrategy:
    return st.lists(noisy(st.sampled_from(URLS), wild, *BAD_URLS), min_size=1, max_size=3)


def _volume_source(wild: bool) -> st.SearchStrategy:
    return st.sampled_from(VOLUME_SOURCES)


def _images(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(IMAGES), wild, *BAD_IMAGES)


def _methods(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(("lora", "qlora")), wild, "LoRA", "full")


def _data_source(wild: bool) -> st.SearchStrategy:
    """Tuning input: mostly exactly one of urls, image (with a name), volumeSource."""
    one = st.one_of(
        st.fixed_dictionaries({"urls": _urls(wild)}),
        st.fixed_dictionaries({"image": _images(wild), "name": st.sampled_from(("dolly", "data"))},
                              optional={"imagePullSecrets": _secrets(wild)}),
        st.fixed_dictionaries({"volumeSource": _volume_source(wild)}))
    return noisy(one, wild, {}, {"urls": list(URLS[:1]), "volumeSource": {"emptyDir": {}}})


def _data_destination(wild: bool) -> st.SearchStrategy:
    one = st.one_of(
        st.fixed_dictionaries({"volumeSource": _volume_source(wild)}),
        st.fixed_dictionaries({"image": _images(wild), "imagePushSecret": st.sampled_from(SECRETS)}))
    return noisy(one, wild, {}, {"image": IMAGES[0]})


def _api_version(version: str):
    return lambda wild: noisy(st.just(version), wild, "kaito.sh/v1", "v1", percent=3)


def _kind(wild: bool) -> st.SearchStrategy:
    return noisy(st.just("Workspace"), wild, "workspace", percent=3)


def _status(wild: bool) -> st.SearchStrategy:
    return st.just({"conditions": []})


def _no(wild: bool) -> st.SearchStrategy:
    return st.nothing()


FIELD_VALUES = {
    ("WorkspaceV1beta1", "apiVersion"): _api_version("kaito.sh/v1beta1"),
    ("WorkspaceV1alpha1", "apiVersion"): _api_version("kaito.sh/v1alpha1"),
    ("WorkspaceV1beta1", "kind"): _kind,
    ("WorkspaceV1alpha1", "kind"): _kind,
    ("WorkspaceV1beta1", "status"): _status,
    ("WorkspaceV1alpha1", "status"): _status,
    ("ObjectMeta", "name"): _names,
    ("ObjectMeta", "namespace"): _namespaces,
    ("ObjectMeta", "annotations"): _annotations,
    ("ObjectMeta", "labels"): _labels,
    ("LabelSelector", "matchLabels"): _labels,
    ("LabelSelector", "matchExpressions"): _match_expressions,
    ("ResourceSpecBeta", "instanceType"): _instance_types,
    ("ResourceSpecAlpha", "instanceType"): _instance_types,
    ("ResourceSpecBeta", "count"): _counts,
    ("ResourceSpecAlpha", "count"): _counts,
    ("PartitionSpec", "mode"): _partition_modes,
    ("PartitionSpec", "profile"): _mig_profiles,
    ("PresetSpecBeta", "name"): _preset_names,
    ("PresetSpecAlpha", "name"): _preset_names,
    ("PresetOptionsBeta", "modelAccessSecret"): _secret,
    ("PresetOptionsBeta", "imagePullSecrets"): _secrets,
    ("PresetOptionsAlpha", "imagePullSecrets"): _secrets,
    ("PresetOptionsBeta", "image"): _images,
    ("PresetOptionsAlpha", "image"): _images,
    ("InferenceSpecBeta", "template"): _templates,
    ("InferenceSpecAlpha", "template"): _templates,
    ("InferenceSpecBeta", "config"): _inference_config,
    ("InferenceSpecAlpha", "config"): _inference_config,
    ("InferenceSpecBeta", "adapters"): _adapters,
    ("InferenceSpecAlpha", "adapters"): _adapters,
    ("TuningSpecBeta", "method"): _methods,
    ("TuningSpecAlpha", "method"): _methods,
    ("TuningSpecBeta", "config"): _training_config,
    ("TuningSpecAlpha", "config"): _training_config,
    ("TuningSpecBeta", "input"): _data_source,
    ("TuningSpecAlpha", "input"): _data_source,
    ("TuningSpecBeta", "output"): _data_destination,
    ("TuningSpecAlpha", "output"): _data_destination,
    # Kubernetes bookkeeping Workspaces may carry but no rule reads: rarely worth a draw
    ("ObjectMeta", "managedFields"): _no,
    ("ObjectMeta", "ownerReferences"): _no,
    ("ObjectMeta", "generateName"): _no,
}


UNKNOWN_FIELDS_IN = {"WorkspaceV1beta1", "WorkspaceV1alpha1", "ResourceSpecBeta", "AdapterSpec"}  # a few places:
# the schema refuses a document for its first unknown field, before any rule runs
USUALLY_SET = {("ObjectMeta", "name"), ("ResourceSpecBeta", "instanceType"), ("ResourceSpecAlpha", "instanceType"),
               ("TuningSpecBeta", "preset"), ("TuningSpecAlpha", "preset"), ("TuningSpecBeta", "method"),
               ("TuningSpecAlpha", "method")}
ONE_OF = {"InferenceSpecBeta": ("preset", "template"), "InferenceSpecAlpha": ("preset", "template")}


def _inference_or_tuning(workspace: st.SearchStrategy[dict], model: type[BaseModel], wild: bool) -> st.SearchStrategy:
    """A Workspace has inference or tuning (the models allow both or neither: the rules refuse those)."""
    inference = from_model(typing.get_args(model.model_fields["inference"].annotation)[0], wild)
    tuning = from_model(typing.get_args(model.model_fields["tuning"].annotation)[0], wild)
    if wild:
        section = st.one_of(st.fixed_dictionaries({"inference": inference}), st.fixed_dictionaries({"tuning": tuning}),
                            st.fixed_dictionaries({}, optional={"inference": inference, "tuning": tuning}))
    else:
        section = st.one_of(st.fixed_dictionaries({"inference": inference}), st.fixed_dictionaries({"tuning": tuning}))
    return st.builds(lambda ws, part: {**{k: v for k, v in ws.items() if k not in ("inference", "tuning")}, **part},
                     workspace, section)


def workspaces(wild: bool = False) -> st.SearchStrategy[dict]:
    """Workspace documents of both apiVersions."""
    return st.one_of(*(_inference_or_tuning(from_model(model, wild), model, wild)
                       for model in (spec.WorkspaceV1beta1, spec.WorkspaceV1alpha1)))


# --- the project config: the cluster the Workspace is compiled for -------------------------------------------------

def _byo_nodes() -> st.SearchStrategy[list[dict]]:
    def node(index: int, product: str, labels: dict) -> dict:
        count, memory = GPU_NODES[product]
        return {"name": f"gpu-node-{index}", "labels": {**labels, "nvidia.com/gpu.product": product,
                                                        "nvidia.com/gpu.count": count, "nvidia.com/gpu.memory": memory}}

    pool = st.tuples(st.sampled_from(sorted(GPU_NODES)), _labels(False), st.integers(1, 2))
    return st.lists(pool, max_size=2).map(
        lambda pools: [node(10 * i + j, product, labels) for i, (product, labels, size) in enumerate(pools)
                       for j in range(size)])


def _config_maps() -> st.SearchStrategy[list[dict]]:
    def config_map(name: str, text: str, namespace: str) -> dict:
        key = "inference_config.yaml" if name in INFERENCE_CONFIGS else "training_config.yaml"
        return {"name": name, "namespace": namespace, "data": {key: text}}

    known = {**INFERENCE_CONFIGS, **TRAINING_CONFIGS}
    return st.lists(st.tuples(st.sampled_from(sorted(known)), st.sampled_from(NAMESPACES)), max_size=4,
                    unique=True).map(lambda pairs: [config_map(name, known[name], ns) for name, ns in pairs])


HOSTILE_CONFIG_MAPS = (
    [{"name": "vllm-config", "namespace": "default", "files": {"inference_config.yaml": "/proc/version"}}],
    [{"name": "vllm-config", "namespace": "default", "files": {"x": "../../../../../../../../proc/version"}}],
    [{"name": "../../../tmp/pwned", "namespace": "default", "data": {"inference_config.yaml": "x: 1"}}],
)


def project_configs(wild: bool = False) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({}, optional={
        "cloud": st.sampled_from(("azure", "azure", "aws", "arc")),
        "provisioner": st.sampled_from(("gpu-provisioner", "machine", "karpenter", "byo")),
        "runtime": st.sampled_from(("transformers", "vllm")),
        "nvmeStorageClass": st.booleans(),
        "featureGates": st.fixed_dictionaries({}, optional={"vLLM": st.booleans(), "enableMIG": st.booleans(),
                                                            "enableAccelerator": st.booleans(),
                                                            "gatewayAPIInferenceExtension": st.booleans()}),
        "nodes": _byo_nodes(),
        "configMaps": noisy(_config_maps(), wild, *HOSTILE_CONFIG_MAPS),
        "autoscaling": noisy(st.just({"prometheus": {"serverAddress": "http://prometheus.monitoring:9090"}}), wild,
                             {"prometheus": {"serverAddress": "prometheus:9090"}}, {"prometheus": {}}),
        "routing": noisy(st.fixed_dictionaries({"helmEngine": st.sampled_from(("flux", "argocd"))}, optional={
            "gateway": st.just({"name": "inference-gateway"})}), wild, {"helmEngine": "helm"},
            {"gateway": {"name": "Bad Name"}}),
    })


# --- coherent pairs: a Workspace fitted to the cluster it is compiled for -------------------------------------------

@cache
def fitting_skus(preset: str, cloud: str, runtime: str) -> tuple[str, ...]:
    """The SKUs of ``cloud`` that serve ``preset`` on ``runtime`` (the compiler's own --suggest)."""
    from kaito_compile.sizing.suggest import suggest

    entry = catalog().resolve(preset).entry
    if entry is None:
        return ()
    return tuple(s.sku.name for s in suggest(entry, catalog().skus, cloud, runtime))


@cache
def servable_presets(runtime: str) -> list[str]:
    """Preset names that resolve to a model ``runtime`` serves."""
    entries = [e for e in catalog().models if runtime == "vllm" or e.transformers]
    names = {name for e in entries for name in (e.short_name, *e.aliases)}
    return sorted(name for name in names if catalog().resolve(name).ok)


def effective_runtime(workspace: dict, config: dict) -> str:
    """The runtime the rules will pick (feature gate, annotation, project default)."""
    if not config.get("featureGates", {}).get("vLLM", True):
        return "transformers"
    annotation = (workspace["metadata"].get("annotations") or {}).get("kaito.sh/runtime")
    if annotation is None:
        return config.get("runtime", "transformers")
    return "transformers" if annotation == "transformers" else "vllm"


@st.composite
def fitted_examples(draw) -> tuple[dict, dict]:
    """(workspace, config) where the Workspace mostly fits the config: a preset the runtime serves, on a SKU of the
    cloud that fits it (or on the BYO nodes, selected by their labels), in a namespace holding the ConfigMaps it
    names. Each fix-up is skipped now and then, so that near misses are drawn as well."""
    config = draw(project_configs())
    workspace = draw(workspaces())
    meta = workspace["metadata"]
    runtime = effective_runtime(workspace, config)
    section = "tuning" if "tuning" in workspace else "inference"
    spec = workspace[section]
    fix = lambda: draw(st.integers(0, 9)) < 9  # noqa: E731 - nine times in ten (and in the simplest example)
    if section == "tuning" and fix():
        workspace["resource"].pop("count", None)  # tuning is single-node
        if config.get("provisioner") == "byo":
            config["provisioner"] = "gpu-provisioner"  # tuning is sized from an instance type
    if runtime == "vllm" and fix():
        for adapter in spec.get("adapters", []):
            adapter.pop("strength", None)  # vLLM takes no adapter strength
    if "preset" in spec and fix():
        names = tunable_names() if section == "tuning" else servable_presets(runtime)
        spec["preset"]["name"] = draw(st.sampled_from(names))
    resource = workspace["resource"]
    if fix():
        resource.pop("partition", None)
        resource["labelSelector"] = {"matchLabels": draw(_labels(False))}
    byo = config.get("provisioner") == "byo"
    if byo and config.get("nodes") and fix():
        resource["labelSelector"] = {"matchLabels": {k: v for k, v in config["nodes"][0]["labels"].items()
                                                     if not k.startswith("nvidia.com/")}}
        resource.pop("instanceType", None)
    elif not byo and "preset" in spec and fix():
        skus = fitting_skus(spec["preset"]["name"], config.get("cloud", "azure"),
                            "transformers" if section == "tuning" else runtime)
        if skus:
            resource["instanceType"] = draw(st.sampled_from(skus))
    names = [cm["name"] for cm in config.get("configMaps", [])]
    if spec.get("config") in names and fix():
        meta["namespace"] = next(cm["namespace"] for cm in config["configMaps"] if cm["name"] == spec["config"])
    elif "config" in spec and fix():
        del spec["config"]
    return workspace, config


# --- InferenceSets ---------------------------------------------------------------------------------------------------

SCALE_ANNOTATIONS = (  # keda-kaito-scaler's two schemes, and what it refuses
    {},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/threshold": "10"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/metricName": "vllm:num_requests_waiting",
     "scaledobject.kaito.sh/threshold": "5", "scaledobject.kaito.sh/max-replicas": "3"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/max-replicas": "4",
     "scaledobject.kaito.sh/metrics": "- {name: vllm:num_requests_waiting, type: gauge, upthreshold: 10, "
                                      "downthreshold: 1}"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/min-replicas": "2",
     "scaledobject.kaito.sh/metrics": '[{"name": "vllm:e2e_request_latency_seconds", "type": "histogram", '
                                      '"upthreshold": 2, "downthreshold": 0.5, "metriccachewindow": 60}]'},
)
BAD_SCALE_ANNOTATIONS = (
    {"scaledobject.kaito.sh/auto-provision": "yes", "scaledobject.kaito.sh/threshold": "10"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/threshold": "-1"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/metrics": "{not: a list}"},
    {"scaledobject.kaito.sh/auto-provision": "true", "scaledobject.kaito.sh/max-replicas": "1",
     "scaledobject.kaito.sh/metrics": "- {name: x, type: summary, upthreshold: nan, downthreshold: 1}"},
)
SET_PRESETS = ("phi-3-mini-4k-instruct", "phi-4-mini-instruct", "llama-3.1-8b-instruct", "mistral-7b-instruct")


def _set_annotations(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(SCALE_ANNOTATIONS), wild, *BAD_SCALE_ANNOTATIONS, percent=20)


def _replicas(wild: bool) -> st.SearchStrategy:
    return noisy(st.integers(0, 3), wild, -1, 5000, "2", None)


def _node_count_limits(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from((1, 2, 4, 8)), wild, 0, -3, "4")


def _template_annotations(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(({}, {"kaito.sh/runtime": "vllm"}, {"kaito.sh/runtime": "transformers"})), wild,
                 *BAD_ANNOTATIONS)


def _set_api_version(version: str):
    return lambda wild: noisy(st.just(version), wild, "kaito.sh/v1", "kaito.sh/v2")


def _set_kind(wild: bool) -> st.SearchStrategy:
    return st.just("InferenceSet")


def _schedules(wild: bool) -> st.SearchStrategy:
    return noisy(st.sampled_from(("0 2 * * SUN", "@daily", "*/30 * * * *")), wild, "0 24 * * *", "", "@every 5x",
                 "* * *")


FIELD_VALUES.update({
    ("InferenceSetV1beta1", "apiVersion"): _set_api_version("kaito.sh/v1beta1"),
    ("InferenceSetV1alpha1", "apiVersion"): _set_api_version("kaito.sh/v1alpha1"),
    ("InferenceSetV1beta1", "kind"): _set_kind,
    ("InferenceSetV1alpha1", "kind"): _set_kind,
    ("InferenceSetV1beta1", "status"): _no,
    ("InferenceSetV1alpha1", "status"): _no,
    ("SetSpecBeta", "replicas"): _replicas,
    ("SetSpecAlpha", "replicas"): _replicas,
    ("SetSpecBeta", "nodeCountLimit"): _node_count_limits,
    ("SetSpecAlpha", "nodeCountLimit"): _node_count_limits,
    ("SetSpecBeta", "updateStrategy"): _no,
    ("SetSpecAlpha", "updateStrategy"): _no,
    ("TemplateMeta", "annotations"): _template_annotations,
    ("TemplateMeta", "labels"): _labels,
    ("TemplateResourceBeta", "instanceType"): _instance_types,
    ("TemplateResourceAlpha", "instanceType"): _instance_types,
    ("MaintenanceWindow", "schedule"): _schedules,
})


def inference_sets(wild: bool = False) -> st.SearchStrategy[dict]:
    """InferenceSet documents of both apiVersions, with the scaledobject.kaito.sh annotations of either scheme."""
    from kaito_compile.spec import inferenceset

    def with_annotations(document: dict, annotations) -> dict:
        metadata = document.get("metadata")
        if isinstance(metadata, dict) and isinstance(annotations, dict) and annotations:
            metadata = {**metadata, "annotations": {**(metadata.get("annotations") or {}), **annotations}}
            return {**document, "metadata": metadata}
        return document

    documents = st.one_of(from_model(inferenceset.InferenceSetV1beta1, wild),
                          from_model(inferenceset.InferenceSetV1alpha1, wild))
    return st.builds(with_annotations, documents, _set_annotations(wild))


def fitted_sets() -> st.SearchStrategy[tuple[dict, dict]]:
    """A realistic InferenceSet of a small model on an A100 SKU, and a cluster that may scale and route it."""
    def document(name, api_version, replicas, limit, preset, runtime, annotations):
        spec = {"replicas": replicas, "labelSelector": {"matchLabels": {"apps": name}},
                "template": {"metadata": {"annotations": runtime}, "resource": {
                    "instanceType": "Standard_NC24ads_A100_v4"}, "inference": {"preset": {"name": preset}}}}
        if limit:
            spec["nodeCountLimit"] = limit
        return {"apiVersion": api_version, "kind": "InferenceSet",
                "metadata": {"name": name, "annotations": annotations}, "spec": spec}

    sets = st.builds(document, st.sampled_from(("chat", "phi-set", "a")), st.sampled_from(
        ("kaito.sh/v1beta1", "kaito.sh/v1alpha1")), st.integers(0, 3), st.sampled_from((None, 2, 6)),
        st.sampled_from(SET_PRESETS), st.sampled_from(({}, {"kaito.sh/runtime": "vllm"})),
        st.sampled_from(SCALE_ANNOTATIONS))
    configs = st.fixed_dictionaries({"provisioner": st.sampled_from(("gpu-provisioner", "karpenter"))}, optional={
        "runtime": st.sampled_from(("transformers", "vllm")),
        "featureGates": st.fixed_dictionaries({"gatewayAPIInferenceExtension": st.booleans()}),
        "autoscaling": st.just({"prometheus": {"serverAddress": "http://prometheus.monitoring.svc:9090"}}),
        "routing": st.fixed_dictionaries({"helmEngine": st.sampled_from(("flux", "argocd"))}, optional={
            "gateway": st.sampled_from(({"name": "inference-gateway"}, {"name": "gw", "namespace": "edge",
                                                                       "sectionName": "http"}))}),
    })
    return st.tuples(sets, configs)
