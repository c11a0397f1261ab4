"""GPU sizing: Kaito's vLLM node estimator and parallelism, the transformers single-node fit,
Kaito's admission memory checks, and SKU suggestions."""

from .checks import TRANSFORMERS_MULTI_NODE, exceeds_one_node, insufficient_gpu_memory, mig_slice_too_small
from .gpu import GpuConfig, SizingError, gpu_config_from_labels, uniform_gpu_config
from .suggest import Suggestion, suggest, transformers_fit_error
from .transformers import TransformersFit, transformers_dtype, transformers_fit
from .vllm import (
    DEFAULT_MAX_MODEL_LEN,
    estimate_nodes,
    explicit_max_model_len,
    gpu_memory_utilization,
    sizing_flags,
)

__all__ = [
    "DEFAULT_MAX_MODEL_LEN", "GpuConfig", "SizingError", "Suggestion", "TRANSFORMERS_MULTI_NODE", "TransformersFit",
    "estimate_nodes", "exceeds_one_node", "explicit_max_model_len", "gpu_config_from_labels",
    "gpu_memory_utilization", "insufficient_gpu_memory", "mig_slice_too_small", "sizing_flags", "suggest",
    "transformers_dtype", "transformers_fit", "transformers_fit_error", "uniform_gpu_config",
]
