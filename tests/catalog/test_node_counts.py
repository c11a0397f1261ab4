"""Kaito's vLLM node estimator against the reference tables, cell by cell (kaito-api.md §2.5e, §2.2/§2.3)."""

from __future__ import annotations

import pytest

from kaito_compile.catalog import Catalog
from kaito_compile.sizing import GpuConfig, estimate_nodes

from .expectations import ALIASES, NODE_COUNT_ROWS, NODE_COUNT_SKUS, OTHERS

CELLS = [(model, sku, nodes) for models, counts in NODE_COUNT_ROWS for model in models
         for sku, nodes in zip(NODE_COUNT_SKUS, counts, strict=True)]


def _entry(catalog: Catalog, served: str):
    (entry,) = catalog.models.with_short_name(served)
    return entry


def test_the_table_covers_every_catalog_model(catalog: Catalog):
    listed = [m for models, _ in NODE_COUNT_ROWS for m in models]
    assert sorted(listed) == sorted(e.short_name for e in catalog.models)


@pytest.mark.parametrize(("served", "sku", "nodes"), CELLS, ids=[f"{m}@{s}" for m, s, _ in CELLS])
def test_target_node_count(catalog: Catalog, served: str, sku: str, nodes: int):
    gpu = GpuConfig.from_sku(catalog.skus.find("azure", sku))
    assert estimate_nodes(_entry(catalog, served), gpu) == nodes


MIN_GPUS = [(row[0], row[8], row[9]) for row in ALIASES.values()] + [(hf, row[8], row[9]) for hf, row in OTHERS.items()]


@pytest.mark.parametrize(("hf_id", "on_24", "on_80"), MIN_GPUS, ids=[m[0] for m in MIN_GPUS])
def test_min_gpus_on_one_gpu_nodes(catalog: Catalog, hf_id: str, on_24: int, on_80: int):
    """§2.2/§2.3 "Min GPUs 24/80": on 1-GPU nodes the node count is the estimator's minGPUs."""
    entry = catalog.models.get(hf_id)
    assert estimate_nodes(entry, GpuConfig.from_sku(catalog.skus.find("azure", "Standard_NV36ads_A10_v5"))) == on_24
    assert estimate_nodes(entry, GpuConfig.from_sku(catalog.skus.find("azure", "Standard_NC24ads_A100_v4"))) == on_80
