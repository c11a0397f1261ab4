"""training_config.yaml: Kaito's templates, the webhook rules TC1–TC4 and output_dir resolution."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from kaito_runtime.tuning.config import (
    DEFAULT_OUTPUT_DIR,
    ConfigProblem,
    TrainingConfigError,
    default_training_config,
    load_training_config,
    resolve_output_dir,
    validate_training_config,
)


def _config(**sections: object) -> dict:
    return {"training_config": sections}


def _codes_and_paths(problems: list[ConfigProblem]) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.code, p.path) for p in problems]


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_default_templates_are_valid_for_their_method(method: str) -> None:
    text = default_training_config(method)
    assert validate_training_config(text, method) == []
    parsed = load_training_config(text, method)
    assert parsed.output_dir == "/mnt/results"
    assert parsed.training_arguments["save_strategy"] == "no"
    assert parsed.quantization.quantized == (method == "qlora")


def test_qlora_template_is_kaitos_nf4_double_quant_bfloat16() -> None:
    sections = yaml.safe_load(default_training_config("qlora"))["training_config"]
    assert sections["QuantizationConfig"] == {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_use_double_quant": True,
    }
    lora_sections = yaml.safe_load(default_training_config("lora"))["training_config"]
    assert {k: v for k, v in lora_sections.items() if k != "QuantizationConfig"} == {
        k: v for k, v in sections.items() if k != "QuantizationConfig"
    }


def test_defaults_apply_when_sections_are_absent() -> None:
    parsed = load_training_config(_config(), "lora")
    assert parsed.output_dir == DEFAULT_OUTPUT_DIR
    assert parsed.dataset.train_test_split == 0.8 and parsed.dataset.shuffle_seed == 42
    assert parsed.dataset.response_column == "text"
    assert dict(parsed.lora) == {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}
    assert parsed.model.device_map == "auto" and parsed.model.allow_cpu_qlora is False


def test_tc1_missing_file() -> None:
    assert _codes_and_paths(validate_training_config(None, "lora")) == [("TC1", ())]


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("training_config: [", ()),
        ("", ()),
        ("other: {}", ()),
        ("training_config: 3", ("training_config",)),
        ("training_config:\n  Bogus: {}\n", ("training_config", "Bogus")),
        ("training_config:\n  LoraConfig: [1, 2]\n", ("training_config", "LoraConfig")),
        ("training_config:\n  ModelConfig: {no_such_key: 1}\n", ("training_config", "ModelConfig", "no_such_key")),
        ("training_config:\n  DatasetConfig: {train_test_split: 0}\n",
         ("training_config", "DatasetConfig", "train_test_split")),
        ("training_config:\n  DatasetConfig: {shuffle_seed: true}\n",
         ("training_config", "DatasetConfig", "shuffle_seed")),
        ("training_config:\n  ModelConfig: {torch_dtype: int8}\n", ("training_config", "ModelConfig", "torch_dtype")),
    ],
)
def test_tc2_structure_and_schema(text: str, path: tuple[str, ...]) -> None:
    assert _codes_and_paths(validate_training_config(text, "lora")) == [("TC2", path)]


def test_tc2_names_the_unrecognized_section_and_the_allowed_ones() -> None:
    (problem,) = validate_training_config(_config(Trainer={}), "lora")
    assert "Unrecognized section: Trainer" in problem.message and "TrainingArguments" in problem.message


def test_tc2_points_legacy_model_quantization_keys_to_their_section() -> None:
    (problem,) = validate_training_config(_config(ModelConfig={"load_in_4bit": False}), "lora")
    assert "QuantizationConfig.load_in_4bit" in problem.message


@pytest.mark.parametrize(
    ("quantization", "method", "path"),
    [
        ({"load_in_4bit": True, "load_in_8bit": True}, "qlora", ("training_config", "QuantizationConfig")),
        ({"load_in_4bit": True}, "lora", ("training_config", "QuantizationConfig")),
        ({"load_in_8bit": True}, "lora", ("training_config", "QuantizationConfig")),
        ({"load_in_4bit": False}, "qlora", ("training_config", "QuantizationConfig")),
        (None, "qlora", ("training_config",)),
        ({"load_in_4bit": "yes"}, "qlora", ("training_config", "QuantizationConfig", "load_in_4bit")),
        ({"load_in_4bit": True, "bnb_4bit_quant_type": "int4"}, "qlora",
         ("training_config", "QuantizationConfig", "bnb_4bit_quant_type")),
    ],
)
def test_tc3_method_and_quantization(quantization: dict | None, method: str, path: tuple[str, ...]) -> None:
    sections = {} if quantization is None else {"QuantizationConfig": quantization}
    assert _codes_and_paths(validate_training_config(_config(**sections), method)) == [("TC3", path)]


def test_tc3_accepts_null_switches_for_lora_and_8bit_for_qlora() -> None:
    assert validate_training_config(_config(QuantizationConfig={"load_in_4bit": None}), "lora") == []
    assert validate_training_config(_config(QuantizationConfig={"load_in_8bit": True}), "qlora") == []


def test_allow_cpu_qlora_is_accepted_and_must_be_boolean() -> None:
    quantized = {"load_in_4bit": True}
    accepted = _config(ModelConfig={"allow_cpu_qlora": True}, QuantizationConfig=quantized)
    assert validate_training_config(accepted, "qlora") == []
    assert load_training_config(accepted, "qlora").model.allow_cpu_qlora is True
    rejected = _config(ModelConfig={"allow_cpu_qlora": "sure"}, QuantizationConfig=quantized)
    assert _codes_and_paths(validate_training_config(rejected, "qlora")) == [
        ("TC3", ("training_config", "ModelConfig", "allow_cpu_qlora"))
    ]


@pytest.mark.parametrize("value", ["../../etc/passwd", "/mnt", ".", "/mnt/../etc", 7, None])
def test_tc4_invalid_output_dir(value: object) -> None:
    problems = validate_training_config(_config(TrainingArguments={"output_dir": value}), "lora")
    assert _codes_and_paths(problems) == [("TC4", ("training_config", "TrainingArguments", "output_dir"))]
    with pytest.raises(ValueError):
        resolve_output_dir(_config(TrainingArguments={"output_dir": value}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "/mnt/output"),
        ("custom/path", "/mnt/custom/path"),
        ("/mnt/output", "/mnt/output"),
        ("/mnt/results/", "/mnt/results"),
        ("/etc/adapter", "/mnt/etc/adapter"),
        ("/mnt/a/../b", "/mnt/b"),
        ("/mntx", "/mnt/mntx"),
    ],
)
def test_resolve_output_dir_like_kaito(value: str, expected: str) -> None:
    text = yaml.safe_dump(_config(TrainingArguments={"output_dir": value}))
    assert resolve_output_dir(text) == expected
    assert load_training_config(text, "lora").output_dir == expected


def test_resolve_output_dir_defaults_without_training_arguments() -> None:
    assert resolve_output_dir("training_config:\n  LoraConfig: {r: 4}\n") == DEFAULT_OUTPUT_DIR


def test_all_problems_are_reported_at_once() -> None:
    text = """
training_config:
  Extra: {}
  QuantizationConfig: {load_in_4bit: true}
  TrainingArguments: {output_dir: ../x}
"""
    assert [p.code for p in validate_training_config(text, "lora")] == ["TC2", "TC3", "TC4"]
    with pytest.raises(TrainingConfigError) as raised:
        load_training_config(text, "lora")
    assert len(raised.value.problems) == 3 and "Extra" in str(raised.value)


def test_unknown_method_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="lora, qlora"):
        validate_training_config(_config(), "LoRA")


def test_module_imports_without_the_ml_stack() -> None:
    code = (
        "import sys, kaito_runtime.tuning.config, kaito_runtime.tuning; "
        "heavy = {'torch', 'transformers', 'peft', 'trl', 'datasets'} & set(sys.modules); "
        "sys.exit(1 if heavy else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
