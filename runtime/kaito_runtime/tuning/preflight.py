"""Checks that need no ML library, run before torch/trl load so a bad Job fails in a second, not a minute."""

from __future__ import annotations

from kaito_runtime.paths import resolve
from kaito_runtime.tuning.config import TrainingConfig


class TuningSetupError(RuntimeError):
    """The run cannot start as configured; the message tells the user what to change."""


def read_config_text(config_file: str) -> str:
    path = resolve(config_file)
    if not path.is_file():
        raise TuningSetupError(f"training config {config_file} not found ({path}); mount training_config.yaml there")
    return path.read_text()


def check_quantization_device(config: TrainingConfig, cuda: bool) -> None:
    """QLoRA needs a CUDA GPU unless the config explicitly accepts a CPU run (no silent fallback)."""
    if config.quantization.quantized and not cuda and not config.model.allow_cpu_qlora:
        raise TuningSetupError(
            "method 'qlora' loads the base model quantized with bitsandbytes, which needs a CUDA GPU, and no GPU "
            "is visible. Run on a GPU node, use method 'lora', or set ModelConfig.allow_cpu_qlora: true to accept "
            "a very slow CPU run (meant for smoke tests)."
        )
