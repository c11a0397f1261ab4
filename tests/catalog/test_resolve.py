"""Preset name resolution as Kaito does it (kaito-api.md §2.1, rules I1, I11, I13, T7)."""

from __future__ import annotations

import pytest

from kaito_compile.catalog import Catalog, PresetStatus
from kaito_compile.catalog.resolve import is_valid_preset, runtime_validation_error, tuning_error

from .expectations import ALIASES, OTHERS


def _variants(name: str) -> list[str]:
    return [name, name.upper(), name.title()]


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_every_alias_resolves_in_any_case(catalog: Catalog, alias: str):
    for spelled in _variants(alias):
        result = catalog.resolve(spelled)
        assert result.ok, spelled
        assert (result.entry.hfId, result.entry.short_name, result.alias) == (ALIASES[alias][0], ALIASES[alias][1],
                                                                             alias)


@pytest.mark.parametrize("hf_id", sorted([row[0] for row in ALIASES.values()] + list(OTHERS)))
def test_every_hf_id_resolves_case_insensitively(catalog: Catalog, hf_id: str):
    for spelled in (hf_id, hf_id.lower(), hf_id.upper()):
        result = catalog.resolve(spelled)
        assert result.ok and result.entry.hfId == hf_id and result.alias is None
        assert result.entry.model_id == hf_id.lower()


@pytest.mark.parametrize("served", sorted({row[1] for row in ALIASES.values()} - set(ALIASES)
                                          | {row[0] for row in OTHERS.values()}))
def test_a_served_name_that_is_no_alias_is_refused_with_a_hint(catalog: Catalog, served: str):
    result = catalog.resolve(served)
    assert result.status is PresetStatus.UNSUPPORTED
    assert result.message == f"Unsupported inference preset name {served}"
    (entry,) = catalog.models.with_short_name(served)
    assert any(entry.hfId in hint for hint in result.hints)


def test_served_name_hint_mentions_the_alias_too(catalog: Catalog):
    (hint,) = catalog.resolve("gemma-3-4b-it").hints
    assert "google/gemma-3-4b-it or gemma-3-4b-instruct" in hint


@pytest.mark.parametrize("name", ["phi-2", "PHI-2", "Phi-2"])
def test_phi_2_is_deprecated(catalog: Catalog, name: str):
    result = catalog.resolve(name)
    assert result.status is PresetStatus.DEPRECATED
    assert result.message == "Model phi-2 is deprecated and no longer supported"


def test_phi_2_for_tuning_is_only_an_unsupported_name(catalog: Catalog):
    result = catalog.resolve("phi-2", "tuning")
    assert (result.status, result.message) == (PresetStatus.UNSUPPORTED, "Unsupported tuning preset name phi-2")


@pytest.mark.parametrize("name", ["falcon-7b", "falcon-7b-instruct", "falcon-40b", "Falcon-40B-Instruct"])
def test_falcon_presets_are_no_longer_accepted(catalog: Catalog, name: str):
    result = catalog.resolve(name)
    assert (result.status, result.message) == (PresetStatus.UNSUPPORTED, f"Unsupported inference preset name {name}")
    assert result.hints == (f"{name.lower()} is no longer a Kaito preset",)


@pytest.mark.parametrize("name", ["llama-2-7b", "", "/", "org/", "/model", "phi4"])
def test_other_names_without_org_are_unsupported(catalog: Catalog, name: str):
    assert not is_valid_preset(catalog.models, name)
    assert catalog.resolve(name).message == f"Unsupported inference preset name {name}"


@pytest.mark.parametrize("name", ["acme/unknown-model", "a/b/c", "Qwen/Qwen3-0.6B"])
def test_an_hf_id_outside_the_catalog_asks_for_an_import(catalog: Catalog, name: str):
    assert is_valid_preset(catalog.models, name)
    result = catalog.resolve(name)
    assert result.status is PresetStatus.NOT_IN_CATALOG
    assert f"run `kaito-compile presets import {name}`" in result.message


def test_transformers_runtime_validation(catalog: Catalog):
    phi4_mini = catalog.resolve("phi-4-mini-instruct").entry
    assert runtime_validation_error(catalog.models, phi4_mini, "transformers") == (
        "Runtime validation: model phi-4-mini-instruct does not support inference with Huggingface Transformers "
        "runtime")
    assert runtime_validation_error(catalog.models, catalog.resolve("phi-4").entry, "transformers") is None
    assert runtime_validation_error(catalog.models, phi4_mini, "vllm", adapter_strength=True) == (
        "Runtime validation: vLLM does not support adapter strength")
    assert runtime_validation_error(catalog.models, phi4_mini, "vllm") is None


def test_tuning_support(catalog: Catalog):
    tunable = {alias for alias in ALIASES if tuning_error(catalog.resolve(alias).entry) is None}
    assert tunable == {a for a, row in ALIASES.items() if row[11] == "yes"}
    assert "panics" in tuning_error(catalog.resolve("mistral-7b").entry)
    assert tuning_error(catalog.resolve("llama-3.1-8b-instruct").entry) == (
        "preset llama-3.1-8b-instruct does not support tuning: Kaito has no tuning parameters for it")
    assert tuning_error(catalog.models.get("Qwen/Qwen3.5-2B")) is not None
