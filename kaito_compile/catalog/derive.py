"""The static vLLM flags Kaito derives for a model it meets outside its catalog (``presets/vllm.yaml``).

Kaito's generator derives parsers, chat template, tokenizer mode and a few model-specific flags
from the model's short name and architectures. ``presets import`` applies the same rules so an
imported entry carries the flags Kaito would have used; the built-in entries write them out and a
test checks that these rules reproduce every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from .models import VllmFlags


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ByName(_Strict):
    byNamePrefix: dict[str, str] = Field(default_factory=dict)


class ByNameOrArchitecture(ByName):
    byArchitecture: dict[str, str] = Field(default_factory=dict)


class ReasoningRules(ByNameOrArchitecture):
    notForNames: list[str] = Field(default_factory=list, description="non-reasoning models: never a parser")


class Architectures(_Strict):
    architectures: list[str]


class Names(_Strict):
    names: list[str]


class Derivation(_Strict):
    reasoningParser: ReasoningRules
    toolCallParser: ByNameOrArchitecture
    chatTemplate: ByName
    tokenizerMode: ByName
    extraFlags: dict[str, dict[str, str]] = Field(description="flag → {name prefix: value}")
    noKvCacheCpuOffload: Architectures
    deepGemm: Architectures
    cudaToolkit: Names


class VllmFile(_Strict):
    derivation: Derivation
    architectures: list[str] = Field(min_length=1, description="architectures vLLM serves")


def longest_prefix_value(name: str, table: Mapping[str, str]) -> str | None:
    matches = [prefix for prefix in table if name.startswith(prefix)]
    return table[max(matches, key=len)] if matches else None


def first_architecture_value(architectures: Sequence[str], table: Mapping[str, str]) -> str | None:
    return next((table[a] for a in architectures if a in table), None)


def _by_name_or_architecture(rules: ByNameOrArchitecture, name: str, architectures: Sequence[str]) -> str | None:
    return longest_prefix_value(name, rules.byNamePrefix) or first_architecture_value(architectures,
                                                                                      rules.byArchitecture)


def derive_vllm_flags(rules: Derivation, short_name: str, architectures: Sequence[str], *, quantized: bool,
                      mistral_format: bool) -> VllmFlags:
    """The flags Kaito's generator gives ``short_name`` (kaito-api.md 2.4)."""
    fmt = "mistral" if mistral_format else "auto"
    reasoning = None
    if short_name not in rules.reasoningParser.notForNames:
        reasoning = _by_name_or_architecture(rules.reasoningParser, short_name, architectures)
    extra = {flag: value for flag, table in sorted(rules.extraFlags.items())
             if (value := longest_prefix_value(short_name, table)) is not None}
    deep_gemm = any(a in rules.deepGemm.architectures for a in architectures)
    return VllmFlags(
        dtype="auto" if quantized else "bfloat16",
        loadFormat=fmt,
        configFormat=fmt,
        tokenizerMode=longest_prefix_value(short_name, rules.tokenizerMode.byNamePrefix) or fmt,
        toolCallParser=_by_name_or_architecture(rules.toolCallParser, short_name, architectures),
        reasoningParser=reasoning,
        chatTemplate=longest_prefix_value(short_name, rules.chatTemplate.byNamePrefix),
        extraFlags=extra,
        kvCacheCpuOffload=not any(a in rules.noKvCacheCpuOffload.architectures for a in architectures),
        deepGemm=deep_gemm,
        cudaToolkit=deep_gemm or short_name in rules.cudaToolkit.names,
    )


def unsupported_architecture(supported: Sequence[str], model_id: str, architectures: Sequence[str]) -> str | None:
    """Kaito's refusal when none of a model's architectures is one vLLM serves (none declared: fine)."""
    if not architectures or any(a in supported for a in architectures):
        return None
    return f"unsupported model architecture for {model_id}: {', '.join(architectures)}"
