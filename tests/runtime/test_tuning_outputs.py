"""Runner building blocks: resumable output folders, the completion marker, the GPU rule for QLoRA, and how
Kaito's ModelConfig/LoraConfig/TrainingArguments settings reach transformers, peft and trl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaito_runtime.tuning.config import COMPLETION_MARKER, load_training_config
from kaito_runtime.tuning.outputs import (
    RUN_FILE,
    complete_checkpoints,
    prepare_output_dir,
    write_completion_marker,
)
from kaito_runtime.tuning.preflight import TuningSetupError, check_quantization_device

FINGERPRINT = {"model": "org/m", "method": "lora", "config_sha256": "abc", "data_files": [["d.parquet", 10]]}


def _checkpoint(output: Path, step: int, complete: bool = True) -> Path:
    folder = output / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if complete:
        (folder / "trainer_state.json").write_text("{}")
    return folder


def test_a_fresh_output_folder_records_the_run_and_drops_a_stale_marker(tmp_path: Path) -> None:
    (tmp_path / COMPLETION_MARKER).write_text("old run")
    assert prepare_output_dir(tmp_path, FINGERPRINT) is None
    assert not (tmp_path / COMPLETION_MARKER).exists()
    assert json.loads((tmp_path / RUN_FILE).read_text()) == FINGERPRINT


def test_the_same_run_resumes_from_its_newest_complete_checkpoint(tmp_path: Path) -> None:
    prepare_output_dir(tmp_path, FINGERPRINT)
    _checkpoint(tmp_path, 2)
    newest = _checkpoint(tmp_path, 10)
    _checkpoint(tmp_path, 12, complete=False)  # killed while saving
    _checkpoint(tmp_path, 4)
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-2", "checkpoint-4", "checkpoint-10"]
    assert prepare_output_dir(tmp_path, FINGERPRINT) == newest


def test_checkpoints_of_a_run_with_other_inputs_are_discarded(tmp_path: Path) -> None:
    prepare_output_dir(tmp_path, FINGERPRINT)
    _checkpoint(tmp_path, 2)
    changed = {**FINGERPRINT, "config_sha256": "def"}
    assert prepare_output_dir(tmp_path, changed) is None
    assert complete_checkpoints(tmp_path) == []
    assert json.loads((tmp_path / RUN_FILE).read_text()) == changed


def test_the_completion_marker_needs_both_adapter_files(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(TuningSetupError, match="adapter_model.safetensors"):
        write_completion_marker(tmp_path)
    (tmp_path / "adapter_model.safetensors").write_bytes(b"w")
    write_completion_marker(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", COMPLETION_MARKER
    ]


QLORA = {"training_config": {"QuantizationConfig": {"load_in_4bit": True}}}
QLORA_ON_CPU = {"training_config": {"QuantizationConfig": {"load_in_4bit": True},
                                    "ModelConfig": {"allow_cpu_qlora": True}}}


def test_qlora_needs_a_gpu_unless_the_config_accepts_cpu() -> None:
    with pytest.raises(TuningSetupError, match="needs a CUDA GPU"):
        check_quantization_device(load_training_config(QLORA, "qlora"), cuda=False)
    check_quantization_device(load_training_config(QLORA, "qlora"), cuda=True)
    check_quantization_device(load_training_config(QLORA_ON_CPU, "qlora"), cuda=False)
    check_quantization_device(load_training_config({"training_config": {}}, "lora"), cuda=False)


def test_lora_target_modules_default_from_kaitos_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from kaito_runtime.tuning.model import lora_config

    monkeypatch.setenv("DEFAULT_TARGET_MODULES", "k_proj, q_proj,v_proj")
    assert lora_config({"r": 4}).target_modules == {"k_proj", "q_proj", "v_proj"}
    assert lora_config({"r": 4, "target_modules": ["o_proj"]}).target_modules == {"o_proj"}
    monkeypatch.delenv("DEFAULT_TARGET_MODULES")
    assert lora_config({"r": 4}).target_modules is None  # peft picks per architecture
    with pytest.raises(TuningSetupError, match="LoraConfig: .*rank"):
        lora_config({"rank": 4})


def test_chat_template_is_inline_with_escapes_or_a_remapped_file(tmp_path: Path, monkeypatch) -> None:
    from kaito_runtime.tuning.model import read_chat_template

    assert read_chat_template("{{ messages }}\\n<s>▁") == "{{ messages }}\n<s>▁"
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "chat.jinja").write_text("{% for m in messages %}{{ m }}{% endfor %}")
    assert read_chat_template("/workspace/chat.jinja").startswith("{% for m")
    with pytest.raises(TuningSetupError, match="does not exist"):
        read_chat_template("/workspace/missing.jinja")


def test_training_dtype_is_float32_on_cpu_and_as_configured_on_gpu() -> None:
    import torch

    from kaito_runtime.tuning.config import ModelConfig
    from kaito_runtime.tuning.model import training_dtype

    assert training_dtype(ModelConfig(torch_dtype="bfloat16"), cuda=False) is torch.float32
    assert training_dtype(ModelConfig(torch_dtype="bfloat16"), cuda=True) is torch.bfloat16
    assert training_dtype(ModelConfig(torch_dtype="auto"), cuda=True) == "auto"
    assert training_dtype(ModelConfig(), cuda=True) is None


def test_training_arguments_reach_sftconfig_with_the_flags_output_dir(tmp_path: Path) -> None:
    from kaito_runtime.tuning.runner import sft_arguments

    config = load_training_config(
        {"training_config": {"TrainingArguments": {"output_dir": "/mnt/results", "learning_rate": 0.5},
                             "DataCollator": {"pad_to_multiple_of": 8}}}, "lora"
    )
    arguments = sft_arguments(config, tmp_path / "out", cuda=False)
    assert arguments.output_dir == str(tmp_path / "out") and arguments.learning_rate == 0.5
    assert arguments.use_cpu and not arguments.bf16 and arguments.pad_to_multiple_of == 8
    bad = load_training_config({"training_config": {"TrainingArguments": {"learnig_rate": 0.5}}}, "lora")
    with pytest.raises(TuningSetupError, match="TrainingArguments: .*learnig_rate"):
        sft_arguments(bad, tmp_path / "out", cuda=False)
