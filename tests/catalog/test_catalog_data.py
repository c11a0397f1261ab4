"""The built-in catalogs hold exactly the models and SKUs of the reference, with Kaito's numbers."""

from __future__ import annotations

import pytest

from kaito_compile.catalog import Catalog
from kaito_compile.catalog.loader import load_vllm_file
from kaito_compile.sizing import GpuConfig

from .expectations import ALIASES, LEGACY_AWS_NVME, LEGACY_SKUS, MIG_PROFILES, OTHERS, SKUS, TRANSFORMERS_MODELS, \
    VLLM_FLAGS


def _quant_text(entry) -> str:
    if entry.quantization is None:
        return "-"
    bits = f" ({entry.quantization.bits}-bit)" if entry.quantization.bits else ""
    return entry.quantization.method + bits


def test_the_catalog_holds_the_60_reference_models_and_25_aliases(catalog: Catalog):
    assert sorted(e.hfId for e in catalog.models) == sorted([row[0] for row in ALIASES.values()] + list(OTHERS))
    assert sorted(catalog.models.aliases) == sorted(ALIASES)


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_legacy_alias_entry(catalog: Catalog, alias: str):
    hf_id, served, size, disk, context, attn, bpt, quant, _, _, transformers, tuning, tag, startup = ALIASES[alias]
    entry = catalog.models.get(hf_id)
    assert entry.hfId == hf_id and entry.aliases == [alias]
    assert (entry.short_name, entry.fileSize, entry.disk_storage_requirement, entry.contextLimit) == (
        served, size, disk, context)
    assert (entry.attn_type, entry.bytes_per_token, _quant_text(entry)) == (attn, bpt, quant)
    assert entry.startup_failure_threshold == startup
    assert (catalog.models.transformers_params(entry) is not None) == transformers
    assert entry.tunable == (tuning == "yes")
    assert entry.tuning.weightsTag == tag
    assert entry.tuning_weights_image("mcr.microsoft.com/aks/kaito") == f"mcr.microsoft.com/aks/kaito/kaito-{alias}:{tag}"


@pytest.mark.parametrize("hf_id", sorted(OTHERS))
def test_other_catalog_entry(catalog: Catalog, hf_id: str):
    served, architecture, size, disk, context, attn, bpt, quant, _, _, startup = OTHERS[hf_id]
    entry = catalog.models.get(hf_id)
    assert (entry.hfId, entry.short_name, entry.architectures) == (hf_id, served, [architecture])
    assert (entry.fileSize, entry.disk_storage_requirement, entry.contextLimit) == (size, disk, context)
    assert (entry.attn_type, entry.bytes_per_token, _quant_text(entry)) == (attn, bpt, quant)
    assert entry.startup_failure_threshold == startup
    assert entry.aliases == [] and entry.tuning is None and entry.transformers is None


@pytest.mark.parametrize("served", sorted(VLLM_FLAGS))
def test_static_vllm_flags(catalog: Catalog, served: str):
    (entry,) = catalog.models.with_short_name(served)
    assert entry.vllm.model_dump() == VLLM_FLAGS[served]


@pytest.mark.parametrize("served", sorted(VLLM_FLAGS))
def test_kaitos_derivation_rules_reproduce_every_entry(catalog: Catalog, served: str):
    """`presets import` derives flags with these rules; they must give the catalog's own flags."""
    from kaito_compile.catalog.derive import derive_vllm_flags

    (entry,) = catalog.models.with_short_name(served)
    derived = derive_vllm_flags(load_vllm_file().derivation, entry.short_name, entry.architectures,
                                quantized=entry.quantized, mistral_format=entry.vllm.loadFormat == "mistral")
    assert derived == entry.vllm


def test_every_catalog_architecture_is_a_vllm_architecture(catalog: Catalog):
    supported = set(load_vllm_file().architectures)
    assert {a for e in catalog.models for a in e.architectures} <= supported


def test_transformers_runtime_models(catalog: Catalog):
    assert {e.short_name for e in catalog.models if e.transformers} == TRANSFORMERS_MODELS


def test_static_args_as_kaito_emits_them(catalog: Catalog):
    entry = catalog.models.get("deepseek-ai/DeepSeek-V3.2")
    assert entry.vllm.static_args() == {
        "load_format": "auto", "config_format": "auto", "tokenizer_mode": "deepseek_v32", "trust-remote-code": "",
        "dtype": "auto", "tool-call-parser": "deepseek_v32", "enable-auto-tool-choice": "",
        "chat-template": "/workspace/chat_templates/tool-chat-deepseekv3.jinja", "reasoning-parser": "deepseek_v3",
        "kernel-config.enable_flashinfer_autotune": "False", "kaito-kv-cache-cpu-memory-utilization": "0",
    }
    assert catalog.models.get("microsoft/phi-4").vllm.static_args() == {
        "load_format": "auto", "config_format": "auto", "tokenizer_mode": "auto", "trust-remote-code": "",
        "dtype": "bfloat16"}


def test_release_data(catalog: Catalog):
    release = catalog.models.release
    assert release.base_image == "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0"
    assert (release.baseImage.vllm, release.baseImage.transformers) == ("0.25.1", "5.14.1")


def test_gated_models_are_the_llama_and_gemma_3_presets(catalog: Catalog):
    assert {e.short_name for e in catalog.models if e.gated} == {
        "llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "gemma-3-4b-it", "gemma-3-27b-it"}


@pytest.mark.parametrize("cloud", sorted(SKUS))
def test_current_skus(catalog: Catalog, cloud: str):
    current = {s.name: s for s in catalog.skus.skus(cloud, legacy=False)}
    assert set(current) == set(SKUS[cloud])
    for name, (gpus, model, memory, per_gpu, nvme, cc) in SKUS[cloud].items():
        sku = current[name]
        assert (sku.gpus, sku.gpuModel, sku.memoryGiB, sku.perGpuGiB, sku.nvme, sku.computeCapability) == (
            gpus, model, memory, per_gpu, nvme, cc), name


@pytest.mark.parametrize("cloud", sorted(LEGACY_SKUS))
def test_legacy_skus(catalog: Catalog, cloud: str):
    legacy = {s.name: s for s in catalog.skus.skus(cloud) if s.legacy}
    assert set(legacy) == set(LEGACY_SKUS[cloud])
    for name, (gpus, model, memory, cc) in LEGACY_SKUS[cloud].items():
        sku = legacy[name]
        assert (sku.gpus, sku.gpuModel, sku.memoryGiB, sku.computeCapability) == (gpus, model, memory, cc), name
        assert sku.nvme == (name in LEGACY_AWS_NVME)
        assert not GpuConfig.from_sku(sku).supports_bfloat16


def test_mig_profiles(catalog: Catalog):
    assert set(catalog.skus.mig_profiles) == MIG_PROFILES
