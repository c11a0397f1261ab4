"""The Plan: everything decided about one Workspace. Emission reads it and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog.models import ModelEntry
from ..sizing.gpu import GpuConfig


@dataclass(frozen=True)
class Images:
    inference: str
    tuning: str
    kaito_base: str


@dataclass(frozen=True)
class AdapterPlan:
    name: str
    image: str | None
    volume_source: dict[str, Any] | None
    pull_secrets: tuple[str, ...]
    strength: str | None


@dataclass(frozen=True)
class TuningPlan:
    method: str
    preset_name: str
    """``tuning.preset.name`` as written: the pushed adapter image's ``sh.kaito.model.name`` annotation."""
    config_map: str
    """Name of the ConfigMap mounted at /mnt/config (the user's, or ours with Kaito's defaults)."""
    default_config: str | None
    """YAML of Kaito's template for the method, when we emit the ConfigMap ourselves."""
    output_dir: str
    input_urls: tuple[str, ...] = ()
    input_image: str | None = None
    input_name: str | None = None
    input_pull_secrets: tuple[str, ...] = ()
    input_volume: dict[str, Any] | None = None
    output_image: str | None = None
    output_push_secret: str | None = None
    output_volume: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConfigMapPlan:
    name: str
    data: dict[str, str]


@dataclass(frozen=True)
class Plan:
    workspace: str
    namespace: str
    source_file: str
    source_hash: str
    kind: str
    """inference-preset, inference-template or tuning."""
    runtime: str
    cloud: str
    provisioner: str
    instance_type: str | None
    match_labels: dict[str, str]
    """Sanitized matchLabels: what node affinity and node labels use."""
    node_count: int
    gpu: GpuConfig | None
    images: Images
    model: ModelEntry | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    template: dict[str, Any] | None = None
    adapters: tuple[AdapterPlan, ...] = ()
    model_access_secret: str | None = None
    inference_config: str | None = None
    vllm_args: dict[str, str] = field(default_factory=dict)
    """vLLM flags (static per model, then sizing); sorted when rendered."""
    transformers_args: dict[str, str] = field(default_factory=dict)
    dtype: str | None = None
    local_weights: str | None = None
    """Node-local weights directory (annotation kaito.sh/use-local-weights: "true"), else None (download)."""
    disk_size: str = "1024Gi"
    readiness_failure_threshold: int = 180
    tuning: TuningPlan | None = None
    config_maps: tuple[ConfigMapPlan, ...] = ()
    node_names: tuple[str, ...] = ()
    node_image_family: str = "ubuntu"
    node_class: str | None = None
    why: tuple[str, ...] = ()
    """Human-readable reasons for the sizing decisions (shown by ``plan``)."""
    inference_set: str | None = None
    """The InferenceSet this workspace is a replica of (its label ``inferenceset.kaito.sh/created-by``)."""
    workload_labels: dict[str, str] = field(default_factory=dict)
    """Workspace labels Kaito adds to the workload's selector and pod labels (InferenceSet, MultiRoleInference)."""
    autoscaled_max_nodes: int | None = None
    """Set when KEDA scales this workload (an autoscaled InferenceSet): ``replicas`` is left to KEDA and a
    Karpenter NodePool may grow to this many nodes."""

    @property
    def gpus_per_node(self) -> int:
        return self.gpu.gpu_count if self.gpu else 0

    @property
    def gpu_resource(self) -> str:
        if self.gpu is not None and self.gpu.is_mig and self.gpu.mig_profile:
            return f"nvidia.com/mig-{self.gpu.mig_profile}"
        return "nvidia.com/gpu"

    @property
    def multi_node(self) -> bool:
        return self.runtime == "vllm" and self.node_count > 1 and self.kind == "inference-preset"
