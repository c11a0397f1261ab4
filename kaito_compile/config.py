"""The project configuration, ``kaito-compile.yaml``: everything Kaito reads from the cluster.

Kaito's webhook and controller consult cluster state (cloud provider, node provisioner, feature
gates, BYO nodes, ConfigMaps). An ahead-of-time compiler takes those as explicit inputs; this file
holds them. Every key is optional. The file is validated like a spec: positioned diagnostics.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .config_files import (  # noqa: F401  (re-exported: importers name them here)
    CONFIG_FILE, ConfigFileMissing, ConfigFileProblem, ConfigResolver, read_config_file)
from .datadir import SCHEMA_DIR
from .diagnostics import Diagnostic, SpecError, ToolError
from .goregex import go_regex
from .source import MAX_FILE_BYTES, Document, load_file

SCHEMA_FILE = SCHEMA_DIR / "config.schema.json"


class Section(BaseModel):
    # Built on first use rather than one validator per class at import: every run imports this module.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class FeatureGates(Section):
    vLLM: bool = Field(True, description="Kaito's vLLM gate: when false every workspace uses transformers")
    enableMIG: bool = False
    enableAccelerator: bool = False
    ModelMirror: bool = False
    ModelStreaming: bool = False
    gatewayAPIInferenceExtension: bool = Field(
        False, description="Kaito's gate: route InferenceSets through the llm-d router (an InferencePool and its "
        "endpoint picker), installed as a Helm chart by the engine in routing.helmEngine")


class Images(Section):
    """Where the images the manifests reference come from. Tags are required; `latest` is refused."""

    registry: str = Field("ghcr.io/kaito-compile", description="registry/namespace of our runtime images")
    tag: str = Field("0.1.0", description="tag of our runtime images (inference, tuning)")
    inferenceDigest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")
    tuningDigest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")
    kaitoBase: str = Field("mcr.microsoft.com/aks/kaito/kaito-base:0.5.0",
                           description="Kaito's base image, used by the vllm runtime")


class Node(Section):
    """A node of the BYO inventory, as `kubectl get node -o yaml` shows its name and labels."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    ready: bool = True


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"  # apimachinery's IsConfigMapKey, with its length limit and '.'/'..' rule
CONFIG_KEY_MAX = 253
MAX_CONFIG_MAP_BYTES = 1024 * 1024  # Kubernetes refuses a ConfigMap whose keys and values exceed 1 MiB together
CATALOG_SUFFIXES = (".yaml", ".yml")
CONFIG_FILE_PROBLEM = "KC-S005"
CONFIG_MAP_PROBLEM = "KC-S006"


class ConfigMapSource(Section):
    """A ConfigMap a spec refers to (inference.config, tuning.config): inline data or files."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    namespace: str = Field("default", pattern=DNS_LABEL, max_length=63)
    data: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="key → path relative to the config file, "
                                  "inside its directory (no absolute paths, no '..')")


class Karpenter(Section):
    nodeClassGroup: str = "karpenter.azure.com"
    nodeClassKind: str = "AKSNodeClass"
    nodeClasses: list[str] = Field(default_factory=lambda: ["image-family-ubuntu", "image-family-azure-linux"])
    defaultNodeClass: str = "image-family-ubuntu"


class Prometheus(Section):
    serverAddress: str = Field(pattern=r"^https?://[^\s]+$", description="URL of the Prometheus server KEDA "
                               "queries (it must scrape the inference pods, with namespace and pod labels)")


class Autoscaling(Section):
    """Where KEDA reads the metrics of autoscaled InferenceSets (there is no keda-kaito-scaler in the output)."""

    prometheus: Prometheus | None = None


class GatewayRef(Section):
    """A Gateway (gateway.networking.k8s.io) that exists in the cluster; HTTPRoutes attach to it."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253)
    namespace: str | None = Field(None, pattern=DNS_LABEL, max_length=63,
                                  description="default: the InferenceSet's namespace")
    sectionName: str | None = Field(None, pattern=DNS_SUBDOMAIN, max_length=253)


class Routing(Section):
    """How the llm-d router chart of featureGates.gatewayAPIInferenceExtension is installed, and where to route."""

    helmEngine: Literal["flux", "argocd"] = Field(
        "flux", description="flux: OCIRepository + HelmRelease (as Kaito); argocd: an Argo CD Application")
    argocdNamespace: str = Field("argocd", pattern=DNS_LABEL, max_length=63)
    argocdProject: str = "default"
    gateway: GatewayRef | None = Field(None, description="emit an HTTPRoute from this Gateway to each pool")


class ProjectConfig(Section):
    cloud: str = Field("azure", description="azure | aws | arc (Kaito's CLOUD_PROVIDER)")
    provisioner: Literal["gpu-provisioner", "machine", "karpenter", "byo"] = "gpu-provisioner"
    runtime: Literal["transformers", "vllm"] = Field(
        "transformers", description="runtime when a workspace has no kaito.sh/runtime annotation")
    defaultNamespace: str = "default"
    releaseNamespace: str = Field("kaito-workspace", description="where Kaito's chart installs its templates")
    defaultNodeImageFamily: Literal["ubuntu", "azurelinux"] = "ubuntu"
    nvmeStorageClass: bool = Field(False, description="StorageClass kaito-local-nvme-disk exists (vllm runtime)")
    kubernetesVersion: str = Field("1.33", pattern=r"^1\.[0-9]+$")
    featureGates: FeatureGates = Field(default_factory=FeatureGates)
    images: Images = Field(default_factory=Images)
    nodes: list[Node] = Field(default_factory=list, description="BYO node inventory")
    configMaps: list[ConfigMapSource] = Field(default_factory=list)
    karpenter: Karpenter = Field(default_factory=Karpenter)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    routing: Routing = Field(default_factory=Routing)
    catalogs: list[str] = Field(default_factory=list, description="project-local preset catalogs")
    output: str = "out"

    base_dir: Path = Field(Path("."), exclude=True)
    source: str | None = Field(None, exclude=True)

    @property
    def node_auto_provisioning(self) -> bool:
        return self.provisioner != "byo"

    @property
    def catalog_paths(self) -> list[Path]:
        """The project catalogs, relative to the config file."""
        return [self.base_dir / path for path in self.catalogs]

    @cached_property
    def _config_maps(self) -> dict[tuple[str, str], dict[str, str]]:
        maps = {}
        for cm in self.configMaps:
            data = dict(cm.data)
            for key, rel in cm.files.items():
                try:
                    data[key] = read_config_file(self.base_dir, rel, limit=MAX_CONFIG_MAP_BYTES)
                except ConfigFileProblem as problem:  # checked when the config was loaded: changed since
                    raise ToolError(f"{self.source or CONFIG_FILE}: configMaps {cm.name}: {problem}",
                                    code="KC-E002") from None
            maps[(cm.namespace, cm.name)] = data
        return maps

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._config_maps.get((namespace, name))


def config_schema() -> dict:
    schema = ProjectConfig.model_json_schema(mode="validation")
    for hidden in ("base_dir", "source"):
        schema["properties"].pop(hidden, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def render_config_schema() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


def load_config(path: str) -> ProjectConfig:
    """Load and validate one config file; positioned diagnostics (SpecError) when it is invalid."""
    docs, problems = load_file(path)
    if problems:
        raise SpecError(problems)
    data = docs[0].plain if docs else None
    if data is None:
        return ProjectConfig(base_dir=Path(path).parent, source=path)
    problems = _config_problems(docs[0], data)
    if problems:
        raise SpecError(problems)
    return ProjectConfig.model_validate({**data, "base_dir": Path(path).parent, "source": path})


@functools.cache
def _fast_config_validator():
    """jsonschema-rs on the committed schema (tests/test_generated_files.py keeps it equal to
    :func:`config_schema`): the verdict without generating the schema or importing Python jsonschema, which
    every run that reads a config would otherwise pay for."""
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()) if SCHEMA_FILE.exists()
                                              else config_schema())


def _schema_problems(doc: Document, data: Any) -> list[Diagnostic]:
    """The config's schema errors as positioned diagnostics; Python jsonschema only words what jsonschema-rs
    refused (or could not take: it refuses a mapping key that is not a string)."""
    try:
        if _fast_config_validator().is_valid(data):
            return []
    except ValueError:
        pass
    from .goregex import schema_validator
    from .spec.schema import explain

    errors = schema_validator(config_schema()).iter_errors(data)
    return [problem for error in errors for problem in explain(doc, error)]


def _config_problems(doc: Document, data: Any) -> list[Diagnostic]:
    problems = list(_yaml_value_problems(doc, doc.data, ()))
    if problems:
        return problems  # a tagged or binary value has no plain-data meaning the schema could check
    problems = _schema_problems(doc, data)
    if problems or not isinstance(data, dict):
        return problems  # the checks below need the shapes the schema promises
    base = Path(doc.file).parent
    for i, rel in enumerate(data.get("catalogs") or []):
        problems.extend(_catalog_problems(doc, base, i, rel))
    for i, cm in enumerate(data.get("configMaps") or []):
        problems.extend(_config_map_problems(doc, base, i, cm))
    return problems


def _yaml_value_problems(doc: Document, value: Any, path: tuple) -> Iterator[Diagnostic]:
    """A config is plain YAML data: an explicit tag (``!!binary``, ``!custom``, ``!!str``), a binary value, a date
    or a set is a diagnostic, never silently turned into some string."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _yaml_value_problems(doc, item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _yaml_value_problems(doc, item, (*path, index))
    elif isinstance(value, bytes) or getattr(getattr(value, "tag", None), "value", None) is not None \
            or not isinstance(value, (str, int, float, bool, type(None))):
        what = "binary value (!!binary)" if isinstance(value, bytes) else \
            f"value tagged {value.tag.value}" if getattr(getattr(value, "tag", None), "value", None) else \
            f"{type(value).__name__} value"
        yield Diagnostic("KC-S003", f"{_path_text(path)}: a {what}; the project config holds plain YAML data "
                         "(strings, numbers, booleans, lists, mappings) without tags", span=doc.span(path))


def _path_text(path: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".") or "document"


def _catalog_problems(doc: Document, base: Path, index: int, relative: str) -> list[Diagnostic]:
    where = ("catalogs", index)
    if not relative.endswith(CATALOG_SUFFIXES):
        return [Diagnostic(CONFIG_FILE_PROBLEM, f"catalogs[{index}]: {relative!r} is not a catalog file "
                           "(*.yaml or *.yml)", span=doc.span(where))]
    try:
        read_config_file(base, relative, limit=MAX_FILE_BYTES)
    except ConfigFileMissing:
        return []  # reported by whatever needs the catalog; `presets import` creates it
    except ConfigFileProblem as problem:
        return [Diagnostic(CONFIG_FILE_PROBLEM, f"catalogs[{index}]: {problem}", span=doc.span(where))]
    return []


def _config_map_problems(doc: Document, base: Path, index: int, cm: dict) -> list[Diagnostic]:
    """Kubernetes' rules for a ConfigMap: keys by IsConfigMapKey, string values, under 1 MiB in all; and every
    file readable by :func:`read_config_file`."""
    problems, size = [], 0
    data, files = cm.get("data") or {}, cm.get("files") or {}
    for section, entries in (("data", data), ("files", files)):
        for key in entries:
            why = config_map_key_problem(key)
            if why:
                problems.append(Diagnostic(CONFIG_MAP_PROBLEM, f"configMaps[{index}].{section}: key {key!r} {why}",
                                           span=doc.span(("configMaps", index, section, key), key=True)))
            elif section == "files" and key in data:
                problems.append(Diagnostic(CONFIG_MAP_PROBLEM, f"configMaps[{index}].files: key {key!r} is also "
                                           "a key of data", span=doc.span(("configMaps", index, section, key),
                                                                         key=True)))
    for key, value in data.items():
        size += len(str(key).encode()) + len(value.encode())
    for key, rel in files.items():
        try:
            size += len(str(key).encode()) + len(read_config_file(base, rel, limit=MAX_CONFIG_MAP_BYTES).encode())
        except ConfigFileProblem as problem:
            problems.append(Diagnostic(CONFIG_FILE_PROBLEM, f"configMaps[{index}].files.{key}: {problem}",
                                       span=doc.span(("configMaps", index, "files", key))))
    if size > MAX_CONFIG_MAP_BYTES:
        problems.append(Diagnostic(CONFIG_MAP_PROBLEM, f"configMaps[{index}]: {size} bytes of keys and values; "
                                   f"Kubernetes allows at most {MAX_CONFIG_MAP_BYTES}",
                                   span=doc.span(("configMaps", index))))
    return problems


def config_map_key_problem(key: object) -> str | None:
    """Why ``key`` is not a ConfigMap key (apimachinery's IsConfigMapKey), or None."""
    if not isinstance(key, str):
        return f"must be a string, not {type(key).__name__}"
    if len(key) > CONFIG_KEY_MAX:
        return f"must be no more than {CONFIG_KEY_MAX} characters"
    if not go_regex(CONFIG_KEY).match(key):
        return "must consist of alphanumeric characters, '-', '_' or '.'"
    if key in (".", "..") or key.startswith(".."):
        return "must not be '.' or '..' or start with '..'"
    return None

