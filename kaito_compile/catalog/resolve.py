"""Preset name resolution exactly as Kaito v0.12 does it (kaito-api.md 2.1, rules I1, I11, I13, T7).

``IsValidPreset`` accepts a legacy alias (case-insensitive) or any ``org/model``. The name is then
lower-cased, an alias is replaced by its HF id, and the id is looked up case-insensitively. Kaito
would fetch an unknown ``org/model`` from HuggingFace at admission; the compiler works offline
and asks for ``presets import`` instead. A short name that is not an alias (``gemma-3-4b-it``)
is refused as Kaito refuses it, with a hint naming the id or alias that works.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from .catalog import ModelCatalog
from .models import ModelEntry

Purpose = Literal["inference", "tuning"]


class PresetStatus(str, Enum):
    OK = "ok"
    DEPRECATED = "deprecated"
    UNSUPPORTED = "unsupported"
    NOT_IN_CATALOG = "not-in-catalog"


@dataclass(frozen=True)
class PresetResolution:
    """The outcome for one preset name.

    ``DEPRECATED`` is Kaito's rule I1 (inference only); Kaito's webhook then also reports I11,
    ``unsupported_message(name)``, because a deprecated name is not a valid preset either.
    """

    name: str
    status: PresetStatus
    entry: ModelEntry | None = None
    alias: str | None = None
    message: str | None = None
    hints: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is PresetStatus.OK


def is_valid_preset(catalog: ModelCatalog, name: str) -> bool:
    """Kaito's ``IsValidPreset``: a legacy alias, or ``a/b`` with non-empty parts."""
    if name.lower() in catalog.aliases:
        return True
    org, slash, model = name.partition("/")
    return bool(slash and org and model)


def unsupported_message(name: str, purpose: Purpose = "inference") -> str:
    return f"Unsupported {purpose} preset name {name}"


def deprecated_message(name: str) -> str:
    return f"Model {name.lower()} is deprecated and no longer supported"


def import_command(name: str) -> str:
    return f"kaito-compile presets import {name}"


def resolve_preset(catalog: ModelCatalog, name: str, purpose: Purpose = "inference") -> PresetResolution:
    if not is_valid_preset(catalog, name):
        return _invalid(catalog, name, purpose)
    alias = name.lower() if name.lower() in catalog.aliases else None
    entry = catalog.alias_target(name) if alias else catalog.get(name)
    if entry is not None:
        return PresetResolution(name, PresetStatus.OK, entry, alias)
    return PresetResolution(
        name, PresetStatus.NOT_IN_CATALOG,
        message=f"model {name} is not in the preset catalog; run `{import_command(name)}` to add it "
                "to a project catalog",
        hints=("Kaito would read its metadata from HuggingFace at admission; kaito-compile works offline "
               "from the catalog",))


def _invalid(catalog: ModelCatalog, name: str, purpose: Purpose) -> PresetResolution:
    rejected = catalog.rejected.get(name.lower())
    if rejected and rejected.reason == "deprecated" and purpose == "inference":
        return PresetResolution(name, PresetStatus.DEPRECATED, message=deprecated_message(name))
    hints: list[str] = []
    if rejected and rejected.reason == "removed":
        hints.append(f"{rejected.name} is no longer a Kaito preset")
    for entry in catalog.with_short_name(name):
        spelled = " or ".join([entry.hfId, *entry.aliases])
        hints.append(f"did you mean {spelled}? Kaito accepts a HuggingFace id or one of its legacy aliases")
    return PresetResolution(name, PresetStatus.UNSUPPORTED, message=unsupported_message(name, purpose),
                            hints=tuple(hints))


def runtime_validation_error(catalog: ModelCatalog, entry: ModelEntry, runtime: str, *,
                             adapter_strength: bool = False) -> str | None:
    """Kaito's rule I13 for a resolved preset."""
    if runtime == "transformers" and catalog.transformers_params(entry) is None:
        return (f"Runtime validation: model {entry.short_name} does not support inference with "
                "Huggingface Transformers runtime")
    if runtime == "vllm" and adapter_strength:
        return "Runtime validation: vLLM does not support adapter strength"
    return None


def tuning_error(entry: ModelEntry) -> str | None:
    """Why the preset cannot be tuned (Kaito does not check: its controller fails, kaito-api.md 1.7)."""
    if entry.tunable:
        return None
    reason = entry.tuning.note if entry.tuning and entry.tuning.note else "Kaito has no tuning parameters for it"
    return f"preset {entry.short_name} does not support tuning: {reason}"
