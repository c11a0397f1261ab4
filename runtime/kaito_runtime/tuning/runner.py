"""One tuning run: config → model and data → trl ``SFTTrainer`` with LoRA → adapter + completion marker.

A restarted Job resumes from the newest complete checkpoint in the output directory, provided the run's
inputs (config, model, method, data files) are unchanged; checkpoints of a different run are discarded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from trl import SFTConfig, SFTTrainer

from kaito_runtime.paths import resolve
from kaito_runtime.tuning.config import COMPLETION_MARKER, TrainingConfig, load_training_config
from kaito_runtime.tuning.data import TrainingData, load_training_data
from kaito_runtime.tuning.model import (
    TuningSetupError,
    check_quantization_device,
    load_model,
    load_tokenizer,
    locate_model,
    log_superseded_settings,
    lora_config,
)

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
RUN_FILE = ".kaito-tuning-run.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
PAUSE_AFTER_CHECKPOINT_ENV = "KAITO_TUNING_PAUSE_AFTER_CHECKPOINT_S"
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


@dataclass(frozen=True)
class RunRequest:
    """The runner's command-line flags (docs/runtime-contract.md), paths still in contract form."""

    model: str
    download_dir: str
    method: str
    config_file: str
    data_dir: str
    output_dir: str
    trust_remote_code: bool = False


def run(request: RunRequest) -> Path:
    """Train and write the adapter, ``metrics.jsonl`` and the completion marker; return the output folder."""
    config_text = _read_config_text(request.config_file)
    config = load_training_config(config_text, request.method)
    cuda = torch.cuda.is_available()
    check_quantization_device(config, cuda)
    log_superseded_settings(config.model)
    trust_remote_code = request.trust_remote_code or config.model.trust_remote_code

    model_dir = locate_model(request.model, request.download_dir, config.model.revision)
    tokenizer = load_tokenizer(model_dir, config.model, trust_remote_code=trust_remote_code)
    data = load_training_data(request.data_dir, config.dataset, chat_template=bool(tokenizer.chat_template))
    if data.shape.kind == "messages" and not tokenizer.chat_template:
        raise TuningSetupError(
            "the dataset is conversational ('messages') but the model has no chat template; "
            "set ModelConfig.chat_template"
        )
    output_dir = resolve(request.output_dir)
    arguments = sft_arguments(config, output_dir, cuda=cuda)
    resume_from = prepare_output_dir(output_dir, run_fingerprint(request, config_text, data))
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


def _read_config_text(config_file: str) -> str:
    path = resolve(config_file)
    if not path.is_file():
        raise TuningSetupError(f"training config {config_file} not found ({path}); mount training_config.yaml there")
    return path.read_text()


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
    callbacks: list[TrainerCallback] = [JsonLinesMetrics(output_dir / METRICS_FILE)]
    pause = float(os.environ.get(PAUSE_AFTER_CHECKPOINT_ENV, "0") or 0)
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
    """Appends every trainer log (loss, learning rate, eval loss, ...) and run event to a JSON-lines file."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_begin(self, args, state, control, **kwargs):
        self._write(state, {"event": "train_begin", "max_steps": state.max_steps})

    def on_log(self, args, state, control, logs=None, **kwargs):
        self._write(state, {"event": "log", **(logs or {})})

    def on_save(self, args, state, control, **kwargs):
        self._write(state, {"event": "checkpoint", "checkpoint": f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"})

    def _write(self, state, record: dict[str, Any]) -> None:
        if not state.is_world_process_zero:
            return
        line = {"time": round(time.time(), 3), "step": state.global_step, "epoch": state.epoch, **record}
        with self.path.open("a") as sink:
            sink.write(json.dumps(line) + "\n")


class PauseAfterCheckpoint(TrainerCallback):
    """Test hook (env ``KAITO_TUNING_PAUSE_AFTER_CHECKPOINT_S``): sleep once a checkpoint is on disk, so a test
    can SIGKILL the run at a known step and check that the restarted run resumes."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_save(self, args, state, control, **kwargs):
        log.warning("checkpoint at step %d saved; pausing %.0f s (%s)", state.global_step, self.seconds,
                    PAUSE_AFTER_CHECKPOINT_ENV)
        time.sleep(self.seconds)


def run_fingerprint(request: RunRequest, config_text: str, data: TrainingData) -> dict[str, Any]:
    """What must not change for a checkpoint to be resumable."""
    files = [[path.name, path.stat().st_size] for path in data.files]
    digest = hashlib.sha256(config_text.encode()).hexdigest()
    return {"model": request.model, "method": request.method, "config_sha256": digest, "data_files": files}


def prepare_output_dir(output_dir: Path, fingerprint: dict[str, Any]) -> Path | None:
    """Create the folder, drop a stale completion marker and return the checkpoint to resume from, if any."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / COMPLETION_MARKER).unlink(missing_ok=True)
    run_file = output_dir / RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    checkpoints = complete_checkpoints(output_dir)
    if checkpoints and previous == fingerprint:
        return checkpoints[-1]
    if checkpoints:
        log.warning("discarding %d checkpoint(s) of a run with other inputs", len(checkpoints))
        for checkpoint in checkpoints:
            shutil.rmtree(checkpoint)
    run_file.write_text(json.dumps(fingerprint))
    return None


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Checkpoint folders oldest first; ``trainer_state.json`` is written last, so it marks a complete one."""
    found = [
        (int(match.group(1)), path)
        for path in output_dir.iterdir()
        if (match := _CHECKPOINT.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return [path for _, path in sorted(found)]


def write_completion_marker(output_dir: Path) -> None:
    """Written last and atomically: the pusher sidecar ships the adapter as soon as the marker appears."""
    missing = [name for name in ADAPTER_FILES if not (output_dir / name).is_file()]
    if missing:
        raise TuningSetupError(f"training finished but {', '.join(missing)} is missing in {output_dir}")
    partial = output_dir / f".{COMPLETION_MARKER}.partial"
    partial.write_text(f"fine-tuning completed at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    partial.replace(output_dir / COMPLETION_MARKER)
