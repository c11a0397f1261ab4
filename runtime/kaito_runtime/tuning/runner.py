"""One tuning run: model and data → trl ``SFTTrainer`` with a peft LoRA → adapter + completion marker."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from kaito_runtime.paths import resolve
from kaito_runtime.tuning.config import TrainingConfig
from kaito_runtime.tuning.data import TrainingData, load_training_data
from kaito_runtime.tuning.model import load_model, load_tokenizer, locate_model, log_superseded_settings, lora_config
from kaito_runtime.tuning.outputs import (
    CHECKPOINT_PREFIX,
    append_metrics,
    prepare_output_dir,
    run_fingerprint,
    write_completion_marker,
)
from kaito_runtime.tuning.preflight import TuningSetupError

log = logging.getLogger(__name__)

PAUSE_AFTER_CHECKPOINT_ENV = "KAITO_TUNING_PAUSE_AFTER_CHECKPOINT_S"


@dataclass(frozen=True)
class RunRequest:
    """The runner's command-line flags (docs/runtime-contract.md), paths still in contract form."""

    model: str
    download_dir: str
    method: str
    data_dir: str
    output_dir: str
    trust_remote_code: bool = False


def run(request: RunRequest, config: TrainingConfig, config_text: str) -> Path:
    """Train and write the adapter, ``metrics.jsonl`` and the completion marker; return the output folder."""
    cuda = torch.cuda.is_available()
    log_superseded_settings(config.model)
    trust_remote_code = request.trust_remote_code or config.model.trust_remote_code
    model_dir = locate_model(
        request.model, request.download_dir, config.model.revision, trust_remote_code=trust_remote_code
    )
    tokenizer = load_tokenizer(model_dir, config.model, trust_remote_code=trust_remote_code)
    data = load_training_data(request.data_dir, config.dataset, chat_template=bool(tokenizer.chat_template))
    if data.shape.kind == "messages" and not tokenizer.chat_template:
        raise TuningSetupError(
            "the dataset is conversational ('messages') but the model has no chat template; "
            "set ModelConfig.chat_template"
        )
    output_dir = resolve(request.output_dir)
    arguments = sft_arguments(config, output_dir, cuda=cuda)
    fingerprint = run_fingerprint(request.model, request.method, config_text, data.files)
    resume_from = prepare_output_dir(output_dir, fingerprint)
    model = load_model(
        model_dir,
        config,
        cuda=cuda,
        trust_remote_code=trust_remote_code,
        gradient_checkpointing=arguments.gradient_checkpointing,
    )
    trainer = build_trainer(model, tokenizer, data, arguments, config, output_dir)
    if resume_from:
        log.info("resuming from %s", resume_from)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    if data.eval is not None and arguments.eval_strategy == "no":
        trainer.evaluate()
    trainer.model.save_pretrained(output_dir)
    write_completion_marker(output_dir)
    return output_dir


def sft_arguments(config: TrainingConfig, output_dir: Path, *, cuda: bool) -> SFTConfig:
    """trl ``SFTConfig`` from ``TrainingArguments``; ``--output-dir`` wins over ``output_dir``."""
    kwargs: dict[str, Any] = {**config.training_arguments, "output_dir": str(output_dir)}
    if config.data_collator.pad_to_multiple_of is not None:
        kwargs.setdefault("pad_to_multiple_of", config.data_collator.pad_to_multiple_of)
    if not cuda:
        kwargs["use_cpu"] = True
        kwargs.setdefault("bf16", False)  # SFTConfig turns bf16 on by default; a CPU trains in float32
    try:
        return SFTConfig(**kwargs)
    except (TypeError, ValueError) as error:
        raise TuningSetupError(f"TrainingArguments: {error}") from error


def build_trainer(
    model: Any, tokenizer: Any, data: TrainingData, arguments: SFTConfig, config: TrainingConfig, output_dir: Path
) -> SFTTrainer:
    callbacks: list[TrainerCallback] = [JsonLinesMetrics(output_dir)]
    pause = float(os.environ.get(PAUSE_AFTER_CHECKPOINT_ENV) or 0)
    if pause > 0:
        callbacks.append(PauseAfterCheckpoint(pause))
    try:
        return SFTTrainer(
            model=model,
            args=arguments,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            peft_config=lora_config(config.lora),
            callbacks=callbacks,
        )
    except ValueError as error:
        raise TuningSetupError(f"cannot prepare training: {error}") from error


class JsonLinesMetrics(TrainerCallback):
    """Appends every trainer log (loss, learning rate, eval loss, ...) and run event to ``metrics.jsonl``."""

    def __init__(self, output_dir: Path):
        self.output_dir = output_dir

    def on_train_begin(self, args, state, control, **kwargs):
        self._write(state, {"event": "train_begin", "max_steps": state.max_steps})

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._write(state, {"event": "log", **(logs or {})})

    def on_save(self, args, state, control, **kwargs):
        self._write(state, {"event": "checkpoint", "checkpoint": f"{CHECKPOINT_PREFIX}-{state.global_step}"})

    def _write(self, state, record: dict[str, Any]) -> None:
        if state.is_world_process_zero:
            append_metrics(self.output_dir, {"step": state.global_step, "epoch": state.epoch, **record})


class PauseAfterCheckpoint(TrainerCallback):
    """Test hook (env ``KAITO_TUNING_PAUSE_AFTER_CHECKPOINT_S``): sleep once a checkpoint is on disk, so a test
    can SIGKILL the run at a known step and check that the restarted run resumes."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_save(self, args, state, control, **kwargs):
        log.warning("checkpoint %d saved; pausing %.0f s (%s)", state.global_step, self.seconds,
                    PAUSE_AFTER_CHECKPOINT_ENV)
        time.sleep(self.seconds)
