"""Load the base model, its tokenizer and the LoRA adapters the workspace mounts."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from .weights import Located

log = logging.getLogger(__name__)

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in mixed-adapter batches
COMBINED_ADAPTER = "__combined__"  # underscores cannot occur in Kaito adapter names (DNS-1123)


@dataclass
class LoadedModel:
    """A model ready for generation, and how API ``model`` names map to peft adapter names."""

    model: Any
    tokenizer: Any
    served_name: str
    context_length: int
    input_device: torch.device
    adapter_strengths: dict[str, float] = field(default_factory=dict)

    @property
    def uses_adapters(self) -> bool:
        return bool(self.adapter_strengths)

    def model_ids(self) -> list[str]:
        return [self.served_name, *self.adapter_strengths]

    def adapter_for(self, model_id: str | None) -> str | None:
        """peft adapter serving API name ``model_id``; ``None`` means the base model has no peft wrapper.

        No name selects the default: the base model plus every adapter weighted by its strength. The served name
        selects the bare base model, and an adapter's name that adapter alone. Raises ``KeyError`` otherwise.
        """
        if not self.uses_adapters:
            if model_id in (None, self.served_name):
                return None
            raise KeyError(model_id)
        if model_id is None:
            return COMBINED_ADAPTER
        if model_id == self.served_name:
            return BASE_ADAPTER
        if model_id in self.adapter_strengths:
            return model_id
        raise KeyError(model_id)


def _dtype(name: str) -> Any:
    return "auto" if name == "auto" else getattr(torch, name)


def _device_map(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device=cuda but no CUDA device is visible")
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        return "auto"
    return None


def _context_length(model: Any, tokenizer: Any) -> int:
    limits = [getattr(model.config.get_text_config(), "max_position_embeddings", None), tokenizer.model_max_length]
    usable = [n for n in limits if isinstance(n, int) and 0 < n < 10**8]
    if not usable:
        raise ValueError("cannot tell the model's context length (max_position_embeddings)")
    return min(usable)


def load_tokenizer(folder: Path, trust_remote_code: bool) -> Any:
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code)
    if not tokenizer.is_fast:
        raise ValueError(f"{folder}: streaming needs a fast (tokenizers) tokenizer, found {type(tokenizer).__name__}")
    tokenizer.padding_side = "left"  # decoder-only batches are padded on the left
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def attach_adapters(model: Any, found: dict[str, Path], strengths: dict[str, float]) -> Any:
    """Wrap ``model`` with every adapter, plus their strength-weighted sum as the default adapter.

    The ``cat`` combination keeps each adapter's exact low-rank update scaled by its strength (``svd`` and
    ``linear`` approximate), so an adapter at strength 1 alone reproduces that adapter, and strength 0 the base.
    """
    from peft import PeftModel

    names = list(found)
    peft_model = PeftModel.from_pretrained(model, str(found[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        peft_model.load_adapter(str(found[name]), adapter_name=name)
    peft_model.add_weighted_adapter(
        names, [strengths[n] for n in names], adapter_name=COMBINED_ADAPTER, combination_type="cat"
    )
    peft_model.set_adapter(COMBINED_ADAPTER)
    return peft_model.eval()


def load(options: argparse.Namespace, located: Located) -> LoadedModel:
    log.info("loading %s from %s (dtype=%s, device=%s)", options.model, located.model_folder, options.dtype,
             options.device)
    tokenizer = load_tokenizer(located.model_folder, options.trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(
        located.model_folder,
        dtype=_dtype(options.dtype),
        device_map=_device_map(options.device),
        trust_remote_code=options.trust_remote_code,
    ).eval()
    if located.adapters:
        model = attach_adapters(model, located.adapters, located.strengths)
        log.info("adapters %s", ", ".join(f"{n} (strength {s})" for n, s in located.strengths.items()))
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        served_name=options.served_model_name,
        context_length=_context_length(model, tokenizer),
        input_device=model.get_input_embeddings().weight.device,
        adapter_strengths=located.strengths,
    )


def warm_up(loaded: LoadedModel) -> None:
    """Run one tiny generation so that the first request does not pay for lazy initialisation."""
    inputs = loaded.tokenizer("warm up", return_tensors="pt").to(loaded.input_device)
    adapters = {"adapter_names": [COMBINED_ADAPTER]} if loaded.uses_adapters else {}
    with torch.inference_mode():
        loaded.model.generate(**inputs, max_new_tokens=2, do_sample=False,
                              pad_token_id=loaded.tokenizer.pad_token_id, **adapters)
