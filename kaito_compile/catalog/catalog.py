"""The loaded catalogs: model lookup, SKU lookup per cloud, and the MIG profile table."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

from .models import KaitoRelease, ModelEntry, RejectedName
from .quantity import GIB
from .skus import CLOUDS, MIG_PROFILE_PATTERN, Sku

AZURE_UNLISTED_PREFIXES = ("standard_n", "standard_d")
"""Azure SKUs Kaito's webhook admits without knowing them (kaito-api.md 1.5 I8)."""


@dataclass(frozen=True)
class ModelCatalog:
    """Built-in entries with project entries merged over them, keyed by lower-cased HF id."""

    release: KaitoRelease
    families: Mapping[str, Mapping[str, str]]
    rejected: Mapping[str, RejectedName]
    entries: Mapping[str, ModelEntry]
    aliases: Mapping[str, str]
    sources: Mapping[str, str]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, hf_id: str) -> ModelEntry | None:
        return self.entries.get(hf_id.lower())

    def alias_target(self, name: str) -> ModelEntry | None:
        target = self.aliases.get(name.lower())
        return self.entries[target] if target else None

    def with_short_name(self, name: str) -> list[ModelEntry]:
        return [e for e in self if e.short_name == name.lower()]

    def transformers_params(self, entry: ModelEntry) -> Mapping[str, str] | None:
        """Kaito's transformers-runtime model parameters; None: not served by that runtime."""
        return self.families[entry.transformers] if entry.transformers else None


class InstanceTypeStatus(str, Enum):
    KNOWN = "known"
    UNLISTED_AZURE = "unlisted-azure"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class InstanceTypeLookup:
    """What Kaito makes of ``resource.instanceType`` for one runtime.

    ``UNLISTED_AZURE``: admitted (Azure ``Standard_N*``/``Standard_D*``) but without a GPU
    configuration: presets and tuning cannot be sized on it, templates can run.
    ``message`` is the error for an unsupported SKU, or for sizing an unlisted one.
    """

    name: str
    cloud: str
    status: InstanceTypeStatus
    sku: Sku | None = None
    message: str | None = None
    hints: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkuCatalog:
    clouds: Mapping[str, tuple[Sku, ...]]
    mig_profiles: Mapping[str, str]
    """MIG profile → the GPU it belongs to."""

    def skus(self, cloud: str, *, legacy: bool = True) -> tuple[Sku, ...]:
        return tuple(s for s in self.clouds.get(cloud, ()) if legacy or not s.legacy)

    def find(self, cloud: str, name: str) -> Sku | None:
        """Case-insensitive lookup, legacy SKUs included."""
        return next((s for s in self.clouds.get(cloud, ()) if s.name.lower() == name.lower()), None)

    def lookup(self, cloud: str, name: str, *, runtime: str) -> InstanceTypeLookup:
        """Resolve an instance type as Kaito v0.12 does; legacy SKUs count only off the vllm runtime."""
        if cloud not in CLOUDS:
            return InstanceTypeLookup(name, cloud, InstanceTypeStatus.UNSUPPORTED,
                                      message=f"Unsupported cloud provider {cloud}")
        sku = self.find(cloud, name)
        usable = sku is not None and not (sku.legacy and runtime == "vllm")
        if usable:
            return InstanceTypeLookup(name, cloud, InstanceTypeStatus.KNOWN, sku)
        hints = (_legacy_hint(sku),) if sku else ()
        if cloud == "azure" and name.lower().startswith(AZURE_UNLISTED_PREFIXES):
            return InstanceTypeLookup(name, cloud, InstanceTypeStatus.UNLISTED_AZURE,
                                      message=f"Unsupported SKU '{name}' for cloud provider", hints=hints)
        listed = sorted(s.name for s in self.skus(cloud, legacy=runtime != "vllm"))
        return InstanceTypeLookup(name, cloud, InstanceTypeStatus.UNSUPPORTED, hints=hints,
                                  message=f"Unsupported instance type {name}. Supported SKUs: [{' '.join(listed)}]")

    def mig_profile_error(self, profile: str) -> str | None:
        """Kaito's message for a malformed or unknown MIG profile; None when it is valid."""
        match = MIG_PROFILE_PATTERN.match(profile)
        if not match:
            return f"invalid MIG profile format \"{profile}\": expected format like '1g.10gb'"
        memory_gb = _slice_gb(match[2])
        if memory_gb is None:
            return f"invalid MIG profile \"{profile}\": cannot parse memory value"
        if int(match[1]) == 0:
            return f"invalid MIG profile \"{profile}\": compute slices must be > 0"
        if memory_gb == 0:
            return f"invalid MIG profile \"{profile}\": memory must be > 0"
        if profile not in self.mig_profiles:
            return f"unknown MIG profile \"{profile}\": must be one of [{' '.join(sorted(self.mig_profiles))}]"
        return None

    @staticmethod
    def mig_slice_bytes(profile: str) -> int:
        """Memory of one slice: floor(<GB>) GiB, the figure in the profile name."""
        memory_gb = mig_slice_gib(profile)
        if not memory_gb:
            raise ValueError(f"not a MIG profile: {profile!r}")
        return memory_gb * GIB


def mig_slice_gib(profile: str) -> int | None:
    """floor(<GB>) of a profile name of the form <n>g.<GB>gb; None when it has another form."""
    match = MIG_PROFILE_PATTERN.match(profile)
    return _slice_gb(match[2]) if match else None


def _slice_gb(text: str) -> int | None:
    try:
        return math.floor(float(text))
    except ValueError:
        return None


def _legacy_hint(sku: Sku) -> str:
    return (f"{sku.name} ({sku.gpuModel}, compute capability {sku.computeCapability:.1f}) is a legacy SKU that "
            "Kaito v0.12 no longer lists: the vllm runtime cannot use it, the transformers runtime can")
