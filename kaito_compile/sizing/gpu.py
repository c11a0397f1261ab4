"""The GPU configuration of one node, as Kaito's ``sku.GPUConfig``: from a SKU, BYO node labels,
a MIG slice or an accelerator partition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..catalog.catalog import SkuCatalog
from ..catalog.quantity import GIB, format_binary
from ..catalog.skus import Sku
from ..goregex import go_regex

LABEL_PRODUCT = "nvidia.com/gpu.product"
LABEL_COUNT = "nvidia.com/gpu.count"
LABEL_MEMORY = "nvidia.com/gpu.memory"
LABEL_CC_MAJOR = "nvidia.com/cuda.compute.major"
LABEL_CC_MINOR = "nvidia.com/cuda.compute.minor"
LABEL_MIG_CONFIG = "nvidia.com/mig.config"
LABEL_MIG_STATE = "nvidia.com/mig.config.state"

_GO_INT = go_regex(r"^[+-]?[0-9]+$")


class SizingError(Exception):
    """A model cannot be placed on the GPUs given; the message is Kaito's where Kaito has one."""


@dataclass(frozen=True)
class GpuConfig:
    gpu_count: int
    memory_bytes: int
    """GPU memory of the whole node."""
    gpu_model: str = ""
    compute_capability: float = 0.0
    nvme: bool = False
    is_mig: bool = False
    mig_profile: str = ""
    sku: str = "unknown"
    legacy: bool = False
    cuda: bool = True
    """False for SKUs without CUDA GPUs (AMD, AWS Trainium/Inferentia); BYO nodes carry NVIDIA labels."""

    @classmethod
    def from_sku(cls, sku: Sku) -> GpuConfig:
        return cls(sku.gpus, sku.memory_bytes, sku.gpuModel, sku.computeCapability, sku.nvme, sku=sku.name,
                   legacy=sku.legacy, cuda=sku.has_cuda)

    @classmethod
    def from_inventory(cls, product: str, count: int, memory_mib: int, compute_capability: float = 0.0, *,
                       mig: bool = False) -> GpuConfig:
        """A BYO node as GPU feature discovery labels it: memory is MiB per GPU, rounded to GiB."""
        per_gpu_gib = int(float(memory_mib) / 1024 + 0.5)
        return cls(count, per_gpu_gib * count * GIB, product, compute_capability, is_mig=mig)

    @classmethod
    def from_mig_profile(cls, profile: str) -> GpuConfig:
        """One MIG slice: a single non-shardable device of floor(<GB>) GiB."""
        return cls(1, SkuCatalog.mig_slice_bytes(profile), is_mig=True, mig_profile=profile)

    @property
    def per_gpu_bytes(self) -> int:
        return self.memory_bytes // self.gpu_count

    @property
    def supports_bfloat16(self) -> bool:
        return self.compute_capability >= 8.0

    @property
    def memory_text(self) -> str:
        return format_binary(self.memory_bytes)

    def scaled_to(self, count: int) -> GpuConfig:
        """An accelerator partition of ``count`` whole GPUs of this node."""
        if count > self.gpu_count:
            raise SizingError(f"partition.count ({count}) exceeds GPUs available on node ({self.gpu_count})")
        return replace(self, gpu_count=count, memory_bytes=self.per_gpu_bytes * count)


def gpu_config_from_labels(node: str, labels: Mapping[str, str]) -> GpuConfig:
    """Kaito's ``GetGPUConfigFromNodeLabels``: the NVIDIA GPU feature discovery labels of a node."""
    if not all(key in labels for key in (LABEL_PRODUCT, LABEL_COUNT, LABEL_MEMORY)):
        raise SizingError(f"missing required nvidia.com labels on node {node}")
    count, memory = labels[LABEL_COUNT], labels[LABEL_MEMORY]
    if not _GO_INT.match(count):
        raise SizingError(f"invalid nvidia.com/gpu.count value on node {node}: {count}")
    if not _GO_INT.match(memory):
        raise SizingError(f"invalid nvidia.com/gpu.memory value on node {node}: {memory}")
    return GpuConfig.from_inventory(labels[LABEL_PRODUCT], int(count), int(memory), _compute_capability(labels),
                                    mig=_mig_enabled(labels))


def _compute_capability(labels: Mapping[str, str]) -> float:
    major, minor = labels.get(LABEL_CC_MAJOR, ""), labels.get(LABEL_CC_MINOR, "")
    if not _GO_INT.match(major):
        return 0.0
    return float(int(major)) + (int(minor) / 10.0 if _GO_INT.match(minor) else 0.0)


def _mig_enabled(labels: Mapping[str, str]) -> bool:
    config = labels.get(LABEL_MIG_CONFIG, "")
    return config not in ("", "all-disabled") and labels.get(LABEL_MIG_STATE) == "success"


def uniform_gpu_config(nodes: Sequence[tuple[str, Mapping[str, str]]]) -> GpuConfig:
    """Kaito's BYO admission check (rule I5): every matching node must have the same GPUs."""
    if not nodes:
        raise SizingError("No nodes found matching the specified label selector")
    first: GpuConfig | None = None
    for name, labels in nodes:
        try:
            config = gpu_config_from_labels(name, labels)
        except SizingError as exc:
            raise SizingError(f"Failed to get GPU config from nvidia labels on node {name}: {exc}") from exc
        if first is None:
            first = config
        elif config.gpu_model != first.gpu_model:
            raise SizingError(f"Non-uniform GPU product: node {name} has {config.gpu_model} GPUs, but previous node "
                              f"has {first.gpu_model} GPUs, all nodes must have the same GPU product for homogeneous "
                              "placement")
        elif config.gpu_count != first.gpu_count:
            raise SizingError(f"Non-uniform GPU count: node {name} has {config.gpu_count} GPUs, but previous node "
                              f"has {first.gpu_count} GPUs")
        elif config.memory_bytes != first.memory_bytes:
            raise SizingError(f"Non-uniform GPU memory: node {name} has {config.memory_text} memory, but previous "
                              f"node has {first.memory_text} memory")
    assert first is not None
    return first
