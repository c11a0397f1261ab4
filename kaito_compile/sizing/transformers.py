"""Does a model fit one node on the transformers runtime (single node, all its GPUs)?

Kaito does no sizing for this runtime beyond its admission check I9 (weights ≤ node GPU memory).
kaito-compile's own transformers runtime loads the weights with ``device_map="auto"`` across the
node's GPUs in bfloat16 (float16 below compute capability 8.0), so it also needs room to run:

* weights × 1.05 — allocator fragmentation and activation buffers, which grow with the hidden
  size like the weights do; the same 5 % weight-proportional term Kaito's vLLM estimator uses;
* 1 GiB per GPU — CUDA context, cuBLAS workspace and PyTorch's allocator reserve
  (the context alone is 0.3–0.5 GiB on Ampere and later);
* the KV cache of one 2048-token sequence (``BytesPerToken × 2048``) — the reference context
  Kaito's estimator uses when no ``max-model-len`` is given; generation is batch 1.

Weights are the catalog's file size (bfloat16/float16 and quantised checkpoints load at their
stored size) unless the checkpoint is float32, which is loaded in 16 bit: half the file size.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.models import ModelEntry
from ..catalog.quantity import GIB
from .gpu import GpuConfig

WEIGHT_MARGIN = 1.05
PER_GPU_OVERHEAD_BYTES = GIB
KV_REFERENCE_TOKENS = 2048


def transformers_dtype(gpu: GpuConfig) -> str:
    """bfloat16 needs compute capability 8.0 (Ampere); older GPUs run float16."""
    return "bfloat16" if gpu.supports_bfloat16 else "float16"


def weights_bytes(model: ModelEntry) -> int:
    size = model.file_size_bytes
    return size // 2 if model.weightsDtype == "float32" else size


@dataclass(frozen=True)
class TransformersFit:
    dtype: str
    weights: int
    needed: int
    available: int

    @property
    def fits(self) -> bool:
        return self.needed <= self.available


def transformers_fit(model: ModelEntry, gpu: GpuConfig) -> TransformersFit:
    weights = weights_bytes(model)
    needed = (int(weights * WEIGHT_MARGIN) + gpu.gpu_count * PER_GPU_OVERHEAD_BYTES
              + model.bytes_per_token * KV_REFERENCE_TOKENS)
    return TransformersFit(transformers_dtype(gpu), weights, needed, gpu.memory_bytes)
