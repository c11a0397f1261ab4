"""`presets import` on model folders built here (no network), and the catalog commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.catalog import load_catalog
from kaito_compile.catalog.cli import presets, skus
from kaito_compile.catalog.hf_import import ImportFailure, build_entry, model_files, save_entry
from kaito_compile.catalog.loader import load_vllm_file
from kaito_compile.catalog.quantity import GIB
from kaito_compile.diagnostics import ToolError
from kaito_compile.sizing import GpuConfig, estimate_nodes

LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "num_hidden_layers": 32,
                "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 131072,
                "torch_dtype": "bfloat16"}


def make_model(folder: Path, config: dict | None = None, weights: dict[str, int] | None = None,
               config_name: str = "config.json") -> Path:
    """A model folder: a config and weight files of the given sizes (sparse, so nothing is written)."""
    folder.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (folder / config_name).write_text(json.dumps(config))
    for name, size in (weights if weights is not None else {"model.safetensors": 3 * GIB // 2}).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            fh.truncate(size)
    return folder


def imported(folder: Path, hf_id: str | None = None):
    return build_entry(model_files(str(folder), hf_id=hf_id), load_vllm_file())


def test_a_local_folder_becomes_an_entry_like_kaitos_generator(tmp_path: Path):
    folder = make_model(tmp_path / "acme" / "llama-3.1-8b-clone", LLAMA_CONFIG,
                        {"model-00001-of-00002.safetensors": 8 * GIB, "model-00002-of-00002.safetensors": 7 * GIB,
                         "model.safetensors.index.json": 0, "tokenizer.json": 2 * GIB})
    entry = imported(folder)
    assert (entry.hfId, entry.short_name, entry.fileSize, entry.contextLimit) == (
        "acme/llama-3.1-8b-clone", "llama-3.1-8b-clone", "15.00Gi", 131072)
    assert (entry.attn_type, entry.bytes_per_token, entry.disk_storage_requirement) == ("GQA", 131072, "95Gi")
    assert (entry.architectures, entry.weightsDtype, entry.quantization) == (["LlamaForCausalLM"], "bfloat16", None)
    assert entry.vllm.model_dump(exclude_defaults=True) == {
        "dtype": "bfloat16", "toolCallParser": "llama3_json", "chatTemplate": "tool-chat-llama3.1-json.jinja"}
    assert entry.aliases == [] and entry.tuning is None and entry.transformers is None


def test_a_quantised_config(tmp_path: Path):
    config = {**LLAMA_CONFIG, "architectures": ["Qwen3ForCausalLM"],
              "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
    entry = imported(make_model(tmp_path / "acme" / "qwen3-tiny-awq", config))
    assert (entry.quantization.method, entry.quantization.bits) == ("awq", 4)
    assert (entry.vllm.dtype, entry.vllm.toolCallParser, entry.vllm.reasoningParser) == ("auto", "hermes", "qwen3")


def test_a_compressed_tensors_config_reports_its_format(tmp_path: Path):
    config = {**LLAMA_CONFIG, "quantization_config": {"quant_method": "compressed-tensors", "format": "pack-quantized"}}
    entry = imported(make_model(tmp_path / "acme" / "packed", config))
    assert (entry.quantization.method, entry.quantization.bits, entry.vllm.dtype) == ("pack-quantized", None, "auto")


def test_text_config_fills_in_what_the_top_level_lacks(tmp_path: Path):
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "max_position_embeddings": 8192,
              "text_config": {"hidden_size": 2560, "num_hidden_layers": 34, "num_attention_heads": 8,
                              "num_key_value_heads": 4, "head_dim": 256, "max_position_embeddings": 131072}}
    entry = imported(make_model(tmp_path / "acme" / "gemma-3-4b-copy", config))
    assert (entry.contextLimit, entry.bytes_per_token, entry.attention.headDim) == (8192, 139264, 256)
    assert entry.vllm.toolCallParser == "functiongemma"


def test_llm_config_is_used_without_text_config(tmp_path: Path):
    config = {"architectures": ["NemotronH_Nano_VL_V2"], "llm_config": {**LLAMA_CONFIG, "architectures": ["X"]}}
    entry = imported(make_model(tmp_path / "acme" / "vl", config))
    assert entry.architectures == ["NemotronH_Nano_VL_V2"] and entry.bytes_per_token == 131072
    assert not entry.vllm.kvCacheCpuOffload


def test_mistral_format_counts_consolidated_weights_only_and_reads_params_json(tmp_path: Path):
    params = {"dim": 3072, "n_layers": 26, "n_heads": 32, "n_kv_heads": 8, "head_dim": 128, "max_seq_len": 262144}
    folder = make_model(tmp_path / "acme" / "ministral-3-tiny", params,
                        {"consolidated.safetensors": 4 * GIB, "model.safetensors": 5 * GIB}, "params.json")
    entry = imported(folder)
    assert (entry.fileSize, entry.contextLimit, entry.architectures) == (
        "4.00Gi", 262144, ["Mistral3ForConditionalGeneration"])
    assert (entry.vllm.loadFormat, entry.vllm.configFormat, entry.vllm.tokenizerMode) == ("mistral",) * 3
    assert entry.vllm.reasoningParser == "mistral" and entry.bytes_per_token == 106496


def test_bin_files_count_only_without_safetensors(tmp_path: Path):
    bins = {"pytorch_model-00001.bin": GIB, "pytorch_model-00002.bin": GIB}
    assert imported(make_model(tmp_path / "a" / "bin-only", LLAMA_CONFIG, bins)).fileSize == "2.00Gi"
    both = {**bins, "model.safetensors": 3 * GIB}
    assert imported(make_model(tmp_path / "a" / "both", LLAMA_CONFIG, both)).fileSize == "3.00Gi"


def test_hidden_files_of_a_download_are_ignored(tmp_path: Path):
    folder = make_model(tmp_path / "a" / "m", LLAMA_CONFIG,
                        {"model.safetensors": GIB, ".cache/huggingface/download/model.safetensors.metadata": GIB})
    assert imported(folder).fileSize == "1.00Gi"


@pytest.mark.parametrize(("config", "context"), [
    ({}, 2048), ({"n_ctx": 4096}, 4096), ({"seq_length": "8192"}, 8192), ({"max_position_embeddings": True,
                                                                          "model_max_length": 1024.0}, 1024),
])
def test_context_limit_follows_kaitos_key_order_and_default(tmp_path: Path, config: dict, context: int):
    base = {k: v for k, v in LLAMA_CONFIG.items() if k != "max_position_embeddings"}
    assert imported(make_model(tmp_path / "a" / "ctx", {**base, **config})).contextLimit == context


def test_an_architecture_vllm_does_not_serve_is_refused(tmp_path: Path):
    folder = make_model(tmp_path / "acme" / "Odd", {**LLAMA_CONFIG, "architectures": ["OddForCausalLM"]})
    with pytest.raises(ImportFailure, match="^unsupported model architecture for acme/odd: OddForCausalLM$"):
        imported(folder)


def test_a_model_without_architectures_is_assumed_supported(tmp_path: Path):
    config = {k: v for k, v in LLAMA_CONFIG.items() if k != "architectures"}
    assert imported(make_model(tmp_path / "acme" / "plain", config)).architectures == []


def test_a_folder_without_weights_is_refused(tmp_path: Path):
    with pytest.raises(ImportFailure, match="^no .safetensors or .bin files found$"):
        imported(make_model(tmp_path / "a" / "empty", LLAMA_CONFIG, {}))


def test_a_folder_without_config_is_refused(tmp_path: Path):
    with pytest.raises(ImportFailure, match="has no config.json"):
        imported(make_model(tmp_path / "a" / "noconfig", None))


def test_the_id_of_a_hub_cache_snapshot_comes_from_its_path(tmp_path: Path):
    folder = make_model(tmp_path / "models--acme--Tiny-Chat" / "snapshots" / "0123abc", LLAMA_CONFIG)
    assert imported(folder).hfId == "acme/Tiny-Chat"
    assert imported(folder, "other/name").hfId == "other/name"


def test_offline_hub_ids_come_from_the_local_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ToolError, match="HF_HUB_OFFLINE is set and acme/cached is not in the local HuggingFace cache"):
        model_files("acme/cached")
    make_model(tmp_path / "models--acme--cached" / "snapshots" / "0123abc", LLAMA_CONFIG)
    (tmp_path / "models--acme--cached" / "refs").mkdir()
    (tmp_path / "models--acme--cached" / "refs" / "main").write_text("0123abc")
    entry = build_entry(model_files("acme/cached"), load_vllm_file())
    assert (entry.hfId, entry.fileSize) == ("acme/cached", "1.50Gi")


def test_a_source_that_is_neither_folder_nor_id(tmp_path: Path):
    with pytest.raises(ImportFailure, match="is neither a model folder nor a HuggingFace model id"):
        model_files(str(tmp_path / "missing"))


def test_save_adds_then_replaces_and_keeps_other_entries(tmp_path: Path):
    target = tmp_path / "catalog" / "presets.yaml"
    first = imported(make_model(tmp_path / "acme" / "one", LLAMA_CONFIG))
    second = imported(make_model(tmp_path / "acme" / "two", LLAMA_CONFIG))
    assert save_entry(target, first) is False
    assert save_entry(target, second) is False
    text = target.read_text()
    assert text.startswith("# Project preset catalog")
    assert "    attention: {hiddenSize: 4096, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 8}\n" in text
    bigger = first.model_copy(update={"hfId": "ACME/One", "fileSize": "2.00Gi"})
    assert save_entry(target, bigger) is True
    catalog = load_catalog(paths=[target])
    assert catalog.models.get("acme/one").fileSize == "2.00Gi" and catalog.models.get("acme/two") is not None
    assert target.read_text().count("hfId:") == 2


def test_an_imported_model_is_sized_like_a_catalog_one(tmp_path: Path):
    target = tmp_path / "presets.yaml"
    save_entry(target, imported(make_model(tmp_path / "acme" / "big", LLAMA_CONFIG, {"model.safetensors": 60 * GIB})))
    catalog = load_catalog(paths=[target])
    entry = catalog.resolve("acme/big").entry
    assert estimate_nodes(entry, GpuConfig.from_sku(catalog.skus.find("azure", "Standard_NV36ads_A10_v5"))) == 4


def test_cli_import_then_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    make_model(tmp_path / "weights", {**LLAMA_CONFIG, "quantization_config": {"quant_method": "gptq", "bits": 4}})
    runner = CliRunner()
    result = runner.invoke(presets, ["import", "weights", "--id", "acme/tiny-gptq", "--catalog", "local.yaml"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "added acme/tiny-gptq in local.yaml: 1.50Gi, context 131072, GQA 131072 bytes/token, served as tiny-gptq",
        "note: add local.yaml to `catalogs:` in kaito-compile.yaml to use it"]
    listed = json.loads(runner.invoke(presets, ["list", "--catalog", "local.yaml", "--format", "json"]).output)
    (row,) = [r for r in listed if r["hfId"] == "acme/tiny-gptq"]
    assert (row["quantization"], row["runtimes"], row["source"], row["tunable"]) == ("gptq", ["vllm"], "local.yaml",
                                                                                     False)
    assert len(listed) == 61 and listed[0]["source"] == "built-in"


def test_cli_import_writes_the_configured_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kaito-compile.yaml").write_text("catalogs: [presets/project.yaml]\n")
    make_model(tmp_path / "acme" / "tiny", LLAMA_CONFIG)
    result = CliRunner().invoke(presets, ["import", "acme/tiny"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("added acme/tiny in presets/project.yaml")
    assert "note:" not in result.output
    listed = CliRunner().invoke(presets, ["list"])
    assert listed.exit_code == 0 and "acme/tiny" in listed.output and "61 presets" in listed.output


def test_cli_import_refusal_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    make_model(tmp_path / "acme" / "odd", {**LLAMA_CONFIG, "architectures": ["OddForCausalLM"]})
    result = CliRunner().invoke(presets, ["import", "acme/odd", "--catalog", "c.yaml"])
    assert result.exit_code == 1
    assert "cannot import: unsupported model architecture for acme/odd: OddForCausalLM" in result.output
    assert not (tmp_path / "c.yaml").exists()


def test_cli_list_reports_a_broken_project_catalog_with_its_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("models:\n  - hfId: acme/x\n    fileSize: big\n")
    result = CliRunner().invoke(presets, ["list", "--catalog", "bad.yaml"])
    assert result.exit_code == 1
    assert result.output.startswith("bad.yaml:")


def test_cli_skus(catalog):
    result = CliRunner().invoke(skus, ["--cloud", "arc", "--format", "json"])
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == [s.name for s in catalog.skus.skus("arc")]
    assert {r["cloud"] for r in rows} == {"arc"} and sum(r["legacy"] for r in rows) == 2
    table = CliRunner().invoke(skus, [])
    assert table.exit_code == 0 and "Standard_NC6s_v3" in table.output and "p5.48xlarge" in table.output


def test_an_online_hub_id_uses_the_canonical_id_and_the_listed_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The hub client is replaced: no network here; what matters is what the import takes from it."""
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub import constants

    config = make_model(tmp_path / "download", LLAMA_CONFIG, {}) / "config.json"
    calls = []

    def model_info(self, repo_id, *, revision=None, files_metadata=False, **_):
        calls.append((repo_id, revision, files_metadata))
        files = [("config.json", 700), ("model-1.safetensors", 5 * GIB), ("model-2.safetensors", 3 * GIB)]
        return SimpleNamespace(id="Acme/Chat-8B", siblings=[SimpleNamespace(rfilename=n, size=s) for n, s in files])

    def hf_hub_download(repo_id, filename, *, revision=None, token=None):
        calls.append((repo_id, filename, revision))
        return str(config)

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    entry = build_entry(model_files("acme/chat-8b", revision="v1"), load_vllm_file())
    assert (entry.hfId, entry.fileSize, entry.contextLimit) == ("Acme/Chat-8B", "8.00Gi", 131072)
    assert calls == [("acme/chat-8b", "v1", True), ("Acme/Chat-8B", "config.json", "v1")]


def test_a_gated_hub_repo_asks_for_a_token(monkeypatch: pytest.MonkeyPatch):
    from types import SimpleNamespace

    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import GatedRepoError

    def model_info(self, repo_id, **_):
        raise GatedRepoError("403 gated", response=SimpleNamespace(headers={}, status_code=403, url="", request=None))

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    with pytest.raises(ToolError, match="^authentication required for accessing acme/gated .*set HF_TOKEN"):
        model_files("acme/gated")
