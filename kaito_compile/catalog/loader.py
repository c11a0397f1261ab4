"""Load and validate catalog files; merge project catalogs over the built-in one.

Every file is read in round-trip mode so a bad entry is reported where it stands: first against
the committed JSON schema, then by the pydantic models (cross-field checks), then by the rules
that tie entries together (unique ids, aliases, families). Problems become positioned
diagnostics raised together as one :class:`SpecError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..diagnostics import Diagnostic, SpecError
from ..paths import PRESETS_DIR
from ..source import Document, load_file
from ..spec.schema import explain
from .catalog import ModelCatalog, SkuCatalog, mig_slice_gib
from .derive import VllmFile
from .models import ModelEntry, ModelsFile
from .schema import FILE_KINDS, validator_for
from .skus import SkusFile

MODELS_FILE = PRESETS_DIR / "models.yaml"
SKUS_FILE = PRESETS_DIR / "skus.yaml"
VLLM_FILE = PRESETS_DIR / "vllm.yaml"

BUILTIN_SOURCE = "built-in"
CATALOG_INVALID = "KC-C001"
CATALOG_UNREADABLE = "KC-C002"

BUILTIN_ONLY_SECTIONS = ("kaito", "transformersFamilies", "rejected")
BUILTIN_ONLY_FIELDS = {
    "aliases": "Kaito's legacy aliases are a fixed set; only the built-in catalog lists them",
    "tuning": "tuning needs Kaito's tuning weights image; only the built-in catalog describes it",
}


def load_document(path: str | Path) -> Document:
    docs, problems = load_file(str(path))
    if problems:
        raise SpecError(problems)
    if len(docs) != 1 or docs[0].data is None:
        raise SpecError([Diagnostic(CATALOG_UNREADABLE, "a catalog file holds exactly one YAML document",
                                    file=str(path))])
    return docs[0]


def validate_document(doc: Document, kind: str) -> BaseModel:
    """Schema first (positioned, with did-you-mean hints), then the pydantic model."""
    schema_problems = [d for error in validator_for(kind).iter_errors(doc.plain) for d in explain(doc, error)]
    if schema_problems:
        raise SpecError(schema_problems)
    try:
        return FILE_KINDS[kind][0].model_validate(doc.plain)
    except ValidationError as exc:
        raise SpecError([_pydantic_problem(doc, error) for error in exc.errors()]) from exc


def _pydantic_problem(doc: Document, error: dict[str, Any]) -> Diagnostic:
    path = tuple(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return Diagnostic(CATALOG_INVALID, f"{_path_text(path)}: {message}", span=doc.span(path))


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _problem(doc: Document, path: tuple, message: str, *, key: bool = False) -> Diagnostic:
    return Diagnostic(CATALOG_INVALID, f"{_path_text(path)}: {message}", span=doc.span(path, key=key))


def _load(path: str | Path, kind: str) -> tuple[Document, Any]:
    doc = load_document(path)
    return doc, validate_document(doc, kind)


def _load_project(path: str | Path) -> tuple[Document, Any]:
    """A project catalog: any file the config names, so its diagnostics give positions and never quote it (a
    file that is not a catalog may hold anything)."""
    try:
        doc = load_document(path)
        if not isinstance(doc.data, dict):
            raise SpecError([Diagnostic(CATALOG_UNREADABLE, "a catalog file holds one YAML mapping (models: ...)",
                                        file=str(path))])
        return doc, validate_document(doc, "models")
    except SpecError as error:
        raise SpecError([_without_source(d) for d in error.diagnostics]) from None


def _without_source(diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.span is None:
        return diagnostic
    return dataclasses.replace(diagnostic, span=dataclasses.replace(diagnostic.span, source_line=None))


@cache
def builtin_models() -> ModelsFile:
    doc, models = _load(MODELS_FILE, "models")
    problems = list(_builtin_problems(doc, models))
    if problems:
        raise SpecError(problems)
    return models


def _builtin_problems(doc: Document, file: ModelsFile) -> Iterable[Diagnostic]:
    if file.kaito is None:
        yield _problem(doc, (), "the built-in catalog needs its `kaito` section")
    yield from _duplicate_ids(doc, file.models)
    yield from _unknown_families(doc, file.models, file.transformersFamilies)
    aliases: dict[str, str] = {}
    for i, entry in enumerate(file.models):
        for j, alias in enumerate(entry.aliases):
            if alias != alias.lower() or "/" in alias:
                yield _problem(doc, ("models", i, "aliases", j), f"alias {alias!r} must be lower case, without '/'")
            if alias in aliases:
                yield _problem(doc, ("models", i, "aliases", j), f"alias {alias!r} already names {aliases[alias]}")
            aliases[alias] = entry.hfId
    for i, rejected in enumerate(file.rejected):
        if rejected.name in aliases:
            yield _problem(doc, ("rejected", i, "name"), f"{rejected.name!r} is also an alias of {aliases[rejected.name]}")


def _duplicate_ids(doc: Document, entries: Sequence[ModelEntry]) -> Iterable[Diagnostic]:
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.model_id in seen:
            yield _problem(doc, ("models", i, "hfId"), f"{entry.hfId} is listed twice (ids are case-insensitive)")
        seen.add(entry.model_id)


def _unknown_families(doc: Document, entries: Sequence[ModelEntry], families: dict) -> Iterable[Diagnostic]:
    for i, entry in enumerate(entries):
        if entry.transformers and entry.transformers not in families:
            yield _problem(doc, ("models", i, "transformers"),
                           f"unknown transformers family {entry.transformers!r}; known: {', '.join(sorted(families))}")


def _project_problems(doc: Document, file: ModelsFile, families: dict) -> Iterable[Diagnostic]:
    raw = doc.plain
    for section in BUILTIN_ONLY_SECTIONS:
        if section in raw:
            yield _problem(doc, (section,), "only the built-in catalog sets this section", key=True)
    for i, item in enumerate(raw.get("models") or []):
        for field, why in BUILTIN_ONLY_FIELDS.items():
            if field in item:
                yield _problem(doc, ("models", i, field), why, key=True)
    yield from _duplicate_ids(doc, file.models)
    yield from _unknown_families(doc, file.models, families)


def load_model_catalog(paths: Sequence[str | Path] = ()) -> ModelCatalog:
    """The built-in catalog with the project catalogs at ``paths`` merged over it, later files last.

    A project entry replaces the built-in entry of the same HF id but keeps its aliases and
    tuning data, which belong to Kaito rather than to the weights.
    """
    builtin = builtin_models()
    entries = {e.model_id: e for e in builtin.models}
    sources = dict.fromkeys(entries, BUILTIN_SOURCE)
    problems: list[Diagnostic] = []
    for path in paths:
        doc, file = _load_project(path)
        found = list(_project_problems(doc, file, builtin.transformersFamilies))
        problems.extend(found)
        if found:
            continue
        for entry in file.models:
            base = entries.get(entry.model_id)
            if base is not None and base.aliases:
                entry = entry.model_copy(update={"aliases": base.aliases, "tuning": base.tuning})
            entries[entry.model_id] = entry
            sources[entry.model_id] = str(path)
    if problems:
        raise SpecError(problems)
    assert builtin.kaito is not None  # checked by builtin_models()
    return ModelCatalog(
        release=builtin.kaito,
        families=builtin.transformersFamilies,
        rejected={r.name: r for r in builtin.rejected},
        entries=entries,
        aliases={a: e.model_id for e in builtin.models for a in e.aliases},
        sources=sources,
    )


@cache
def load_sku_catalog() -> SkuCatalog:
    doc, file = _load(SKUS_FILE, "skus")
    problems = list(_sku_problems(doc, file))
    if problems:
        raise SpecError(problems)
    return SkuCatalog(
        clouds={cloud: tuple(skus) for cloud, skus in file.clouds.items()},
        mig_profiles={p: gpu.gpu for gpu in file.migProfiles for p in gpu.profiles},
    )


def _sku_problems(doc: Document, file: SkusFile) -> Iterable[Diagnostic]:
    for cloud, skus in file.clouds.items():
        seen: set[str] = set()
        for i, sku in enumerate(skus):
            if sku.name.lower() in seen:
                yield _problem(doc, ("clouds", cloud, i, "name"), f"{sku.name} is listed twice in {cloud}")
            seen.add(sku.name.lower())
    profiles: set[str] = set()
    for i, gpu in enumerate(file.migProfiles):
        for j, profile in enumerate(gpu.profiles):
            if not mig_slice_gib(profile):
                yield _problem(doc, ("migProfiles", i, "profiles", j), f"{profile!r} is not a MIG profile (<n>g.<GB>gb)")
            if profile in profiles:
                yield _problem(doc, ("migProfiles", i, "profiles", j), f"{profile} is listed twice")
            profiles.add(profile)


@cache
def load_vllm_file() -> VllmFile:
    return _load(VLLM_FILE, "vllm")[1]
