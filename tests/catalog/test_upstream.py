"""Cross-check the built-in catalog with Kaito's own data files, when the shared copy is present."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile.catalog import Catalog
from tests.support.shared import SHARED, requires_shared

UPSTREAM = SHARED / "upstream" / "kaito" / "presets" / "workspace" / "models"
pytestmark = requires_shared(UPSTREAM, "Kaito's preset data files")

GEOMETRY = ("hiddenSize", "numHiddenLayers", "numAttentionHeads", "numKeyValueHeads", "headDim", "kvLoraRank",
            "qkRopeHeadDim")


def _upstream(name: str) -> dict:
    return yaml.safe_load((UPSTREAM / name).read_text())


def _kaito_catalog() -> dict[str, dict]:
    return {m["name"]: m for m in _upstream("model_catalog.yaml")["models"]}


def test_same_models_with_the_same_spelling(catalog: Catalog):
    assert sorted(e.hfId for e in catalog.models) == sorted(_kaito_catalog())


def test_same_numbers_for_every_model(catalog: Catalog):
    for hf_id, kaito in _kaito_catalog().items():
        entry = catalog.models.get(hf_id)
        ours = entry.attention.model_dump()
        assert {k: ours[k] for k in GEOMETRY if k in kaito} == {k: kaito[k] for k in GEOMETRY if k in kaito}, hf_id
        assert [k for k in GEOMETRY if ours[k] not in (None, 0)] == [k for k in GEOMETRY if k in kaito], hf_id
        assert (entry.fileSize, entry.contextLimit, entry.architectures) == (
            kaito["modelFileSize"], kaito["modelTokenLimit"], kaito["architectures"]), hf_id
        quant = entry.quantization
        assert (quant.method if quant else None, quant.bits if quant else None) == (
            kaito.get("quantMethod"), kaito.get("quantBits")), hf_id
        assert (entry.vllm.loadFormat, entry.vllm.configFormat) == (
            kaito.get("loadFormat", "auto"), kaito.get("configFormat", kaito.get("loadFormat", "auto"))), hf_id
        if "tokenizerMode" in kaito:
            assert entry.vllm.tokenizerMode == kaito["tokenizerMode"], hf_id


def test_base_image_and_runtime_versions(catalog: Catalog):
    base = next(m for m in _upstream("supported_models.yaml")["models"] if m["name"] == "base")
    image = catalog.models.release.baseImage
    assert (image.tag, image.vllm, image.transformers) == (
        base["tag"], base["runtimeVersion"]["vllm"], base["runtimeVersion"]["transformers"])


def test_tuning_tags_and_rejected_names(catalog: Catalog):
    supported = {m["name"]: m for m in _upstream("supported_models.yaml")["models"] if m["name"] != "base"}
    for alias, hf_id in catalog.models.aliases.items():
        assert catalog.models.entries[hf_id].tuning.weightsTag == supported[alias]["tag"], alias
    deprecated = {name for name, m in supported.items() if m.get("deprecated")}
    not_aliases = set(supported) - set(catalog.models.aliases) - deprecated
    assert {n for n, r in catalog.models.rejected.items() if r.reason == "deprecated"} == deprecated
    assert {n for n, r in catalog.models.rejected.items() if r.reason == "removed"} == not_aliases
