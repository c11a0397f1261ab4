"""Kaito v0.12's node estimator and parallelism for the vllm runtime (kaito-api.md 2.5).

Reproduced bit for bit, in float64 as the Go code computes it: weights grow by 2 % once loaded,
vLLM gets 84 % of each GPU, every GPU reserves 2.3 GiB plus its share of the KV cache for
``max_model_len`` tokens, activations take another 5 % of the weights, and the GPU count is
``floor(weights / usable) + 1`` (not a ceiling). ``resource.count`` only matters when the GPU
memory is unknown.
"""

from __future__ import annotations


from ..catalog.models import ModelEntry
from ..catalog.quantity import GIB
from ..goregex import go_regex
from .gpu import GpuConfig, SizingError

DEFAULT_MAX_MODEL_LEN = 2048
GPU_MEMORY_UTILIZATION = 0.84
GPU_MEMORY_UTILIZATION_BY_MODEL = {"NVIDIA A10": "0.82"}
WEIGHT_EXPANSION = 1.02
BASE_OVERHEAD_GIB = 2.3
WEIGHT_OVERHEAD_FACTOR = 0.05
WEIGHT_OVERHEAD_DIVISOR = 1.05
"""1 + WEIGHT_OVERHEAD_FACTOR as Go folds the constant: exactly the float64 nearest 1.05."""
KV_OFFLOAD_OFF = "kaito-kv-cache-cpu-memory-utilization"

_GO_INT = go_regex(r"^[+-]?[0-9]+$")


def gpu_memory_utilization(gpu_model: str) -> str:
    """``--gpu-memory-utilization``: 0.82 for exactly "NVIDIA A10" (Azure NV*ads_A10_v5), else 0.84."""
    return GPU_MEMORY_UTILIZATION_BY_MODEL.get(gpu_model, str(GPU_MEMORY_UTILIZATION))


def explicit_max_model_len(config_yaml: str) -> int | None:
    """Kaito's line-based ``ParseExplicitMaxModelLen`` over an inference_config.yaml.

    Only a positive integer ``max-model-len:`` inside the ``vllm:`` block counts; anything else
    (a comment after the value, a string) leaves the estimator at its default.
    """
    in_vllm, base_indent = False, 0
    for line in config_yaml.split("\n"):
        stripped = line.strip()
        if not in_vllm:
            if stripped.startswith("vllm:"):
                in_vllm, base_indent = True, _indent(line) + 2
            continue
        if stripped and not stripped.startswith("#") and _indent(line) < base_indent:
            break
        if stripped.startswith("max-model-len:"):
            value = stripped.removeprefix("max-model-len:").strip()
            if _GO_INT.match(value) and int(value) > 0:
                return int(value)
            break
    return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def estimate_nodes(model: ModelEntry, gpu: GpuConfig, *, max_model_len: int | None = None,
                   requested_count: int = 1) -> int:
    """Kaito's ``targetNodeCount`` for a vLLM preset on nodes like ``gpu``.

    Legacy SKUs are refused with the error Kaito v0.12 gives for a SKU it does not list.
    """
    if gpu.legacy:
        raise SizingError(f"failed to get GPU config for instance type {gpu.sku}: "
                          f"Unsupported SKU '{gpu.sku}' for cloud provider")
    if gpu.memory_bytes == 0 or gpu.gpu_count <= 0:
        return max(requested_count, 1)
    context = max_model_len if max_model_len and max_model_len > 0 else DEFAULT_MAX_MODEL_LEN
    model_size = float(model.file_size_bytes) * WEIGHT_EXPANSION
    per_gpu = float(gpu.memory_bytes // gpu.gpu_count)
    available = per_gpu * GPU_MEMORY_UTILIZATION
    base_overhead = BASE_OVERHEAD_GIB * float(GIB)
    kv_cache = float(context * model.bytes_per_token) / float(gpu.gpu_count)
    reserve = base_overhead + kv_cache
    if available <= reserve:
        raise SizingError(
            f"GPU memory {per_gpu:.0f} bytes is too small, needs at least {reserve / GIB:.1f} GB overhead "
            f"(base: {BASE_OVERHEAD_GIB:.1f}GB + KV Cache: {kv_cache / GIB:.1f} GB)")
    usable = (available - reserve) / WEIGHT_OVERHEAD_DIVISOR
    min_gpus = int(model_size / usable) + 1
    nodes = (min_gpus + gpu.gpu_count - 1) // gpu.gpu_count
    if gpu.is_mig and nodes > 1:
        overhead = reserve + WEIGHT_OVERHEAD_FACTOR * model_size
        raise SizingError(
            f"model needs {(model_size + overhead) / GIB:.1f}GB (weights {model_size / GIB:.1f}GB + overhead "
            f"{overhead / GIB:.1f}GB) but MIG profile {gpu.mig_profile} only provides {per_gpu / GIB:.0f}GB "
            f"({available / GIB:.1f}GB available after vLLM gpu-memory-utilization)")
    return nodes


def fits_single_gpu(model: ModelEntry, gpu: GpuConfig) -> bool:
    """Weights under half of one GPU (on a node with several): Kaito then runs one replica per GPU."""
    return gpu.gpu_count > 1 and model.file_size_bytes * gpu.gpu_count * 2 < gpu.memory_bytes


def sizing_flags(model: ModelEntry, gpu: GpuConfig, nodes: int) -> dict[str, str]:
    """The vLLM flags that depend on the GPUs: utilisation and DP / TP / PP (kaito-api.md 2.5c).

    The model's own ``--kaito-kv-cache-cpu-memory-utilization=0`` (hybrid KV cache) is a static
    flag of the catalog entry; the cases here are MIG, data parallelism and multi-node.
    """
    flags = {"gpu-memory-utilization": gpu_memory_utilization(gpu.gpu_model)}
    if gpu.is_mig:
        flags[KV_OFFLOAD_OFF] = "0"
    multi_node = nodes > 1
    if not multi_node and fits_single_gpu(model, gpu):
        flags.update({"data-parallel-size": str(gpu.gpu_count), "tensor-parallel-size": "1", KV_OFFLOAD_OFF: "0"})
        return flags
    flags["tensor-parallel-size"] = str(gpu.gpu_count)
    if multi_node:
        flags.update({KV_OFFLOAD_OFF: "0", "pipeline-parallel-size": str(nodes),
                      "distributed-executor-backend": "ray"})
    return flags
