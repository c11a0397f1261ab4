"""The base model, its tokenizer and the LoRA settings of a tuning run."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from kaito_runtime.hub import snapshot_folder
from kaito_runtime.paths import resolve
from kaito_runtime.tuning.config import SUPERSEDED_MODEL_KEYS, ModelConfig, TrainingConfig
from kaito_runtime.tuning.preflight import TuningSetupError

log = logging.getLogger(__name__)

# Formats that transformers never loads for a safetensors/bin causal LM: skip them when downloading.
_UNUSED_WEIGHT_FILES = ["*.pth", "*.pt", "original/*", "*.gguf", "*.onnx", "*.msgpack", "*.h5", "*.ot"]


def locate_model(model: str, download_dir: str, revision: str, *, trust_remote_code: bool) -> Path:
    """A local folder with the model: an absolute ``--model`` path, or a hub snapshot in ``--download-dir``.

    A complete cache is reused, so a restarted Job does not download the weights again; a model neither cached nor
    downloadable raises ``kaito_runtime.hub.ModelUnavailable``. Remote code is not even fetched unless trusted.
    """
    if model.startswith("/"):
        folder = resolve(model)
        if not folder.is_dir():
            raise TuningSetupError(f"--model {model} is not a directory ({folder})")
        return folder
    return snapshot_folder(model, download_dir, revision,
                           ignore_patterns=_UNUSED_WEIGHT_FILES + ([] if trust_remote_code else ["*.py"]))


def log_superseded_settings(config: ModelConfig) -> None:
    defaults = ModelConfig()
    changed = [key for key in SUPERSEDED_MODEL_KEYS if getattr(config, key) != getattr(defaults, key)]
    if changed:
        log.info("ModelConfig %s: superseded by --model and --download-dir", ", ".join(changed))


def load_tokenizer(model_dir: Path, config: ModelConfig, *, trust_remote_code: bool) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if config.chat_template:
        tokenizer.chat_template = read_chat_template(config.chat_template)
    return tokenizer


def read_chat_template(value: str) -> str:
    """Kaito's ``chat_template``: inline when it contains ``{``, ``}`` or a newline (escapes such as ``\\n``
    decoded), otherwise the path of a template file."""
    if any(char in value for char in "{}\n"):
        return value.encode("latin-1", "backslashreplace").decode("unicode_escape")
    path = resolve(value)
    if not path.is_file():
        raise TuningSetupError(f"ModelConfig.chat_template file {value} does not exist ({path})")
    return path.read_text()


def training_dtype(config: ModelConfig, cuda: bool) -> torch.dtype | str | None:
    """``torch_dtype`` as configured on a GPU; float32 on a CPU, where half precision training is not viable."""
    if not cuda:
        if config.torch_dtype not in (None, "float32"):
            log.info("no GPU: loading the model in float32 instead of %s", config.torch_dtype)
        return torch.float32
    if config.torch_dtype in (None, "auto"):
        return config.torch_dtype
    return getattr(torch, config.torch_dtype)


def load_model(
    model_dir: Path, config: TrainingConfig, *, cuda: bool, trust_remote_code: bool, gradient_checkpointing: bool
) -> PreTrainedModel:
    """The base model, quantized and prepared for k-bit training when the method is QLoRA."""
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    dtype = training_dtype(config.model, cuda)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if cuda:
        kwargs["device_map"] = config.model.device_map
    if config.quantization.quantized:
        kwargs["quantization_config"] = BitsAndBytesConfig(**config.quantization.bitsandbytes_kwargs())
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    model.config.use_cache = False
    if config.quantization.quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def lora_config(settings: Mapping[str, Any]) -> LoraConfig:
    """peft's ``LoraConfig`` from the ``LoraConfig`` section.

    Without ``target_modules`` the env ``DEFAULT_TARGET_MODULES`` (comma-separated, as Kaito's Job sets it
    for phi-3) applies, else peft's per-architecture default.
    """
    kwargs = {"task_type": "CAUSAL_LM", **settings}
    default_modules = os.environ.get("DEFAULT_TARGET_MODULES", "")
    if "target_modules" not in kwargs and default_modules.strip():
        kwargs["target_modules"] = [name.strip() for name in default_modules.split(",") if name.strip()]
    try:
        return LoraConfig(**kwargs)
    except (TypeError, ValueError) as error:
        raise TuningSetupError(f"LoraConfig: {error}") from error
