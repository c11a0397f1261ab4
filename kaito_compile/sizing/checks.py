"""Kaito's admission-time memory checks: total GPU memory (rule I9) and the MIG slice fit (rule I4).

Both compare the raw weight size with the GPU memory and ignore runtime overhead, exactly as
Kaito's webhook does; the estimators do the overhead-aware sizing. ``preset`` is the preset name
as the workspace writes it (Kaito lower-cases it for these messages).
"""

from __future__ import annotations

from ..catalog.catalog import SkuCatalog
from ..catalog.models import ModelEntry
from ..catalog.quantity import format_binary
from .gpu import GpuConfig

TRANSFORMERS_MULTI_NODE = "Multi-node distributed inference is not supported with Huggingface Transformers runtime"


def insufficient_gpu_memory(model: ModelEntry, preset: str, gpu: GpuConfig, machine_count: int,
                            instance_type: str) -> str | None:
    """I9: ``count × node GPU memory ≥ modelFileSize`` (BYO, or a runtime other than vllm; bypassable)."""
    total = machine_count * gpu.memory_bytes
    if total >= model.file_size_bytes:
        return None
    return (f"Insufficient total GPU memory: Instance type {instance_type} has a total of {format_binary(total)}, "
            f"but preset {preset.lower()} requires at least {model.fileSize}")


def exceeds_one_node(model: ModelEntry, gpu: GpuConfig) -> bool:
    """I9, second half: the weights need more than one node (an error for the transformers runtime)."""
    return model.file_size_bytes > gpu.memory_bytes


def mig_slice_too_small(model: ModelEntry, preset: str, profile: str) -> str | None:
    """I4: the weights must fit one slice of ``profile`` (a valid profile; bypassable)."""
    capacity = SkuCatalog.mig_slice_bytes(profile)
    if capacity >= model.file_size_bytes:
        return None
    return (f"Model {preset.lower()} requires at least {model.fileSize} for weights, which exceeds the {profile} "
            f"MIG slice capacity of {format_binary(capacity)}")
