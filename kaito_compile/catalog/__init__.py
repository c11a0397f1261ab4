"""Model preset and GPU SKU catalogs: typed entries, loading, name and SKU resolution.

``load_catalog(config)`` gives the :class:`Catalog` the rules, the planner and the emitters use:
the built-in ``presets/models.yaml`` with the project's ``catalogs`` merged over it, and
``presets/skus.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .catalog import InstanceTypeLookup, InstanceTypeStatus, ModelCatalog, SkuCatalog
from .loader import load_model_catalog, load_sku_catalog
from .models import ModelEntry
from .resolve import PresetResolution, PresetStatus, Purpose, resolve_preset
from .skus import Sku

if TYPE_CHECKING:
    from ..config import ProjectConfig

__all__ = [
    "Catalog", "InstanceTypeLookup", "InstanceTypeStatus", "ModelCatalog", "ModelEntry", "PresetResolution",
    "PresetStatus", "Sku", "SkuCatalog", "load_catalog", "project_catalog_paths",
]


@dataclass(frozen=True)
class Catalog:
    models: ModelCatalog
    skus: SkuCatalog

    def resolve(self, name: str, purpose: Purpose = "inference") -> PresetResolution:
        return resolve_preset(self.models, name, purpose)

    def instance_type(self, cloud: str, name: str, *, runtime: str) -> InstanceTypeLookup:
        return self.skus.lookup(cloud, name, runtime=runtime)


def project_catalog_paths(config: ProjectConfig | None) -> list[Path]:
    """The config's ``catalogs``, relative to the config file."""
    return [] if config is None else config.catalog_paths


def load_catalog(config: ProjectConfig | None = None, *, paths: Sequence[str | Path] = ()) -> Catalog:
    """Built-in catalogs plus the project catalogs of ``config`` and then ``paths``."""
    return Catalog(load_model_catalog([*project_catalog_paths(config), *paths]), load_sku_catalog())
