"""Catalog files: committed schemas, positioned errors, project catalogs merged over the built-in one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from kaito_compile.catalog import load_catalog
from kaito_compile.catalog.loader import MODELS_FILE, SKUS_FILE, VLLM_FILE, load_document, validate_document
from kaito_compile.catalog.schema import FILE_KINDS, SCHEMA_DIR, render_schema
from kaito_compile.diagnostics import SpecError

PHI = """\
  - hfId: acme/phi-mini
    fileSize: 7.12Gi
    contextLimit: 4096
    architectures: [Phi3ForCausalLM]
    attention: {hiddenSize: 3072, numHiddenLayers: 32, numAttentionHeads: 32}
    vllm: {dtype: bfloat16}
"""


def _write(tmp_path: Path, text: str, name: str = "presets.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _errors(exc: pytest.ExceptionInfo[SpecError]) -> list[tuple[str, int, int, str]]:
    return [(d.span.file, d.span.line, d.span.col, d.message) for d in exc.value.diagnostics]


@pytest.mark.parametrize("kind", sorted(FILE_KINDS))
def test_committed_schema_is_up_to_date(kind: str):
    committed = SCHEMA_DIR / FILE_KINDS[kind][1]
    assert committed.read_text() == render_schema(kind), "run `make schemas`"


@pytest.mark.parametrize(("kind", "path"), [("models", MODELS_FILE), ("skus", SKUS_FILE), ("vllm", VLLM_FILE)])
def test_builtin_files_match_their_schema(kind: str, path: Path):
    schema = json.loads((SCHEMA_DIR / FILE_KINDS[kind][1]).read_text())
    assert list(Draft202012Validator(schema).iter_errors(load_document(path).plain)) == []
    validate_document(load_document(path), kind)


def test_a_wrong_type_is_reported_with_file_line_column_and_field(tmp_path: Path):
    path = _write(tmp_path, "models:\n" + PHI.replace("numHiddenLayers: 32", "numHiddenLayers: many"))
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    [(file, line, col, message)] = _errors(exc)
    assert (file, line) == (str(path), 6)
    assert col == PHI.splitlines()[4].index("32") + 1
    assert message.startswith("models[0].attention.numHiddenLayers: expected an integer")


def test_a_misspelt_field_gets_a_did_you_mean(tmp_path: Path):
    path = _write(tmp_path, "models:\n" + PHI.replace("contextLimit", "contextLimt"))
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    diagnostics = exc.value.diagnostics
    assert [(d.span.line, d.span.col) for d in diagnostics][0] == (4, 5)
    assert any("unknown field 'contextLimt'" in d.message for d in diagnostics)
    assert any("did you mean 'contextLimit'?" in h for d in diagnostics for h in d.hints)


def test_a_bad_file_size_is_positioned(tmp_path: Path):
    path = _write(tmp_path, "models:\n" + PHI.replace("7.12Gi", "7.12GB"))
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    [(_, line, col, message)] = _errors(exc)
    assert (line, col) == (3, 15) and message.startswith("models[0].fileSize:")


def test_a_sku_whose_memory_does_not_add_up_is_reported_where_it_stands(tmp_path: Path):
    path = _write(tmp_path, "clouds:\n  azure:\n    - {name: X, gpus: 2, gpuModel: G, memoryGiB: 30, perGpuGiB: 16, "
                            "nvme: false, computeCapability: 8.0}\n", "skus.yaml")
    with pytest.raises(SpecError) as exc:
        validate_document(load_document(path), "skus")
    [(_, line, col, message)] = _errors(exc)
    assert (line, col) == (3, 7)
    assert message == "clouds.azure[0]: memoryGiB 30 is not gpus × perGpuGiB = 2 × 16"


def test_project_entries_are_merged_and_listed_by_source(tmp_path: Path):
    path = _write(tmp_path, "models:\n" + PHI)
    catalog = load_catalog(paths=[path])
    assert len(catalog.models) == 61
    assert catalog.resolve("ACME/Phi-Mini").entry.short_name == "phi-mini"
    assert catalog.models.sources["acme/phi-mini"] == str(path)


def test_a_project_entry_overrides_a_builtin_one_but_keeps_its_alias_and_tuning(tmp_path: Path):
    override = PHI.replace("acme/phi-mini", "microsoft/Phi-3-mini-4k-instruct").replace("7.12Gi", "7.50Gi")
    catalog = load_catalog(paths=[_write(tmp_path, "models:\n" + override)])
    entry = catalog.resolve("phi-3-mini-4k-instruct").entry
    assert (entry.fileSize, entry.aliases, entry.tunable) == ("7.50Gi", ["phi-3-mini-4k-instruct"], True)
    assert len(catalog.models) == 60


def test_later_project_catalogs_win(tmp_path: Path):
    first = _write(tmp_path, "models:\n" + PHI, "a.yaml")
    second = _write(tmp_path, "models:\n" + PHI.replace("7.12Gi", "9.00Gi"), "b.yaml")
    assert load_catalog(paths=[first, second]).models.get("acme/phi-mini").fileSize == "9.00Gi"


@pytest.mark.parametrize(("extra", "line", "message"), [
    ("    aliases: [phi-mini]\n", 8, "Kaito's legacy aliases are a fixed set"),
    ("    tuning: {weightsTag: '0.1.0', supported: true}\n", 8, "tuning needs Kaito's tuning weights image"),
    ("    transformers: falcon\n", 8, "unknown transformers family 'falcon'"),
])
def test_project_entries_cannot_claim_what_only_kaito_defines(tmp_path: Path, extra: str, line: int, message: str):
    path = _write(tmp_path, "models:\n" + PHI + extra)
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    [(file, got_line, _, got)] = _errors(exc)
    assert (file, got_line) == (str(path), line) and message in got


def test_a_project_catalog_has_no_release_section(tmp_path: Path):
    path = _write(tmp_path, "rejected: []\nmodels:\n" + PHI)
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    assert _errors(exc) == [(str(path), 1, 1, "rejected: only the built-in catalog sets this section")]


def test_duplicate_ids_are_reported_at_the_second(tmp_path: Path):
    path = _write(tmp_path, "models:\n" + PHI + PHI.replace("acme/phi-mini", "ACME/phi-mini"))
    with pytest.raises(SpecError) as exc:
        load_catalog(paths=[path])
    assert _errors(exc) == [(str(path), 8, 11, "models[1].hfId: ACME/phi-mini is listed twice (ids are "
                                               "case-insensitive)")]


def test_a_project_catalog_transformers_family_must_exist(tmp_path: Path):
    catalog = load_catalog(paths=[_write(tmp_path, "models:\n" + PHI + "    transformers: phi\n")])
    assert catalog.models.transformers_params(catalog.models.get("acme/phi-mini"))["torch_dtype"] == "auto"


def test_config_catalogs_are_relative_to_the_config_file(tmp_path: Path):
    from kaito_compile.config import ProjectConfig

    _write(tmp_path, "models:\n" + PHI)
    config = ProjectConfig(catalogs=["presets.yaml"], base_dir=tmp_path)
    assert load_catalog(config).models.get("acme/phi-mini") is not None
