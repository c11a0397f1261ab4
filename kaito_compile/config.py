"""The project configuration, ``kaito-compile.yaml``: everything Kaito reads from the cluster.

Kaito's webhook and controller consult cluster state (cloud provider, node provisioner, feature
gates, BYO nodes, ConfigMaps). An ahead-of-time compiler takes those as explicit inputs; this file
holds them. Every key is optional. The file is validated like a spec: positioned diagnostics.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .diagnostics import Diagnostic, SpecError
from .source import Document, load_file

CONFIG_FILE = "kaito-compile.yaml"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.json"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureGates(Section):
    vLLM: bool = Field(True, description="Kaito's vLLM gate: when false every workspace uses transformers")
    enableMIG: bool = False
    enableAccelerator: bool = False
    ModelMirror: bool = False
    ModelStreaming: bool = False


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
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"


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
    catalogs: list[str] = Field(default_factory=list, description="project-local preset catalogs")
    output: str = "out"

    base_dir: Path = Field(Path("."), exclude=True)
    source: str | None = Field(None, exclude=True)

    @property
    def node_auto_provisioning(self) -> bool:
        return self.provisioner != "byo"

    @cached_property
    def _config_maps(self) -> dict[tuple[str, str], dict[str, str]]:
        maps = {}
        for cm in self.configMaps:
            data = dict(cm.data)
            for key, rel in cm.files.items():
                data[key] = (self.base_dir / rel).read_text()
            maps[(cm.namespace, cm.name)] = data
        return maps

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._config_maps.get((namespace, name))


def _file_reference_problem(base: Path, relative: str) -> str | None:
    """Files a config may read: regular files inside its own directory tree (their content lands in out/)."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        return f"{relative!r} must be a path inside the config's directory (no absolute paths, no '..')"
    target = (base / path).resolve()
    if base.resolve() not in target.parents:
        return f"{relative!r} leads outside the config's directory"
    if not target.is_file():
        return f"no such file {relative!r}"
    return None


def config_schema() -> dict:
    schema = ProjectConfig.model_json_schema(mode="validation")
    for hidden in ("base_dir", "source"):
        schema["properties"].pop(hidden, None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def render_config_schema() -> str:
    return json.dumps(config_schema(), indent=2, sort_keys=True) + "\n"


class ConfigResolver:
    """Which project config governs a spec file: ``--config`` for all, else the nearest
    ``kaito-compile.yaml`` in the file's directory or its parents (stopping at the repository root),
    else the defaults. One repository can so hold several clusters' worth of Workspaces."""

    def __init__(self, explicit: str | None = None):
        self._explicit = load_config(explicit) if explicit else None
        self._by_dir: dict[Path, ProjectConfig] = {}

    def for_file(self, file: str) -> ProjectConfig:
        if self._explicit is not None:
            return self._explicit
        directory = Path.cwd() if file in ("-", "<stdin>") else Path(file).resolve().parent
        return self._for_dir(directory)

    def _for_dir(self, directory: Path) -> ProjectConfig:
        if directory not in self._by_dir:
            candidate = directory / CONFIG_FILE
            if candidate.is_file():
                found = load_config(str(_relative(candidate)))
            elif (directory / ".git").exists() or directory.parent == directory:
                found = ProjectConfig()
            else:
                found = self._for_dir(directory.parent)
            self._by_dir[directory] = found
        return self._by_dir[directory]


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


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


def _config_problems(doc: Document, data: Any) -> list[Diagnostic]:
    from .goregex import schema_validator
    from .spec.schema import explain

    validator = schema_validator(config_schema())
    problems = []
    for error in validator.iter_errors(data):
        problems.extend(explain(doc, error))
    cms = data.get("configMaps") if isinstance(data, dict) else None
    for i, cm in enumerate(cms or []):
        if not isinstance(cm, dict):
            continue
        for key, rel in (cm.get("files") or {}).items():
            problem = _file_reference_problem(Path(doc.file).parent, str(rel))
            if problem:
                problems.append(Diagnostic("KC-S005", f"configMaps[{i}].files.{key}: {problem}",
                                           span=doc.span(("configMaps", i, "files", key))))
    return problems

