"""Which SKUs of a cloud can serve a model, and what to say when the chosen one cannot.

Suggestions are ordered smallest first: fewest GPUs in total, then least GPU memory per node,
then name; legacy SKUs come last. SKUs without CUDA (AMD, AWS Trainium/Inferentia) are never
suggested: both runtimes' images are CUDA builds, whatever Kaito's SKU table lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.catalog import SkuCatalog
from ..catalog.models import ModelEntry
from ..catalog.quantity import gib
from ..catalog.skus import Sku
from .gpu import GpuConfig, SizingError
from .transformers import transformers_fit
from .vllm import estimate_nodes

LEGACY_NOTE = "legacy SKU: float16 on the transformers runtime only (Kaito v0.12 no longer lists it)"


@dataclass(frozen=True)
class Suggestion:
    sku: Sku
    nodes: int
    note: str | None = None

    @property
    def total_gpus(self) -> int:
        return self.sku.gpus * self.nodes

    def sort_key(self) -> tuple:
        return (self.sku.legacy, self.total_gpus, self.sku.memoryGiB, self.sku.name)


def suggest(model: ModelEntry, skus: SkuCatalog, cloud: str, runtime: str, *,
            max_model_len: int | None = None) -> list[Suggestion]:
    """Every SKU of ``cloud`` that serves ``model`` on ``runtime``, with its node count."""
    if runtime == "vllm":
        found = _vllm_suggestions(model, skus.skus(cloud, legacy=False), max_model_len)
    else:
        found = [Suggestion(s, 1, LEGACY_NOTE if s.legacy else None)
                 for s in skus.skus(cloud) if s.has_cuda and transformers_fit(model, GpuConfig.from_sku(s)).fits]
    return sorted(found, key=Suggestion.sort_key)


def _vllm_suggestions(model: ModelEntry, candidates: tuple[Sku, ...], max_model_len: int | None) -> list[Suggestion]:
    found = []
    for sku in candidates:
        if not sku.has_cuda:
            continue
        try:
            found.append(Suggestion(sku, estimate_nodes(model, GpuConfig.from_sku(sku), max_model_len=max_model_len)))
        except SizingError:
            continue
    return found


def transformers_fit_error(model: ModelEntry, gpu: GpuConfig, skus: SkuCatalog, cloud: str) -> str | None:
    """None when ``model`` fits one node of ``gpu`` on the transformers runtime; else why not and
    what would fit: the vllm runtime on the same nodes, or the smallest SKU that fits alone."""
    fit = transformers_fit(model, gpu)
    if fit.fits:
        return None
    parts = [f"{model.short_name} needs {gib(fit.weights):.1f} GiB of weights ({gib(fit.needed):.1f} GiB to run) "
             f"but one {'node' if gpu.sku == 'unknown' else gpu.sku} has {gib(gpu.memory_bytes):.1f} GiB of GPU "
             "memory and the transformers runtime uses a single node"]
    vllm_nodes = _vllm_nodes(model, gpu)
    if vllm_nodes:
        plural = "s" if vllm_nodes > 1 else ""
        parts.append(f"with runtime vllm {gpu.sku} fits it on {vllm_nodes} node{plural}" if gpu.sku != "unknown"
                     else f"with runtime vllm it fits on {vllm_nodes} of these nodes")
    alone = suggest(model, skus, cloud, "transformers")
    parts.append(f"one {alone[0].sku.name} fits it alone" if alone else f"no {cloud} SKU fits it on one node")
    return "; ".join(parts)


def _vllm_nodes(model: ModelEntry, gpu: GpuConfig) -> int | None:
    if not gpu.cuda:
        return None
    try:
        return estimate_nodes(model, gpu)
    except SizingError:
        return None
