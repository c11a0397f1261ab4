"""Request bodies of the HTTP API and the JSON shapes of its answers.

Unknown fields are rejected (400) instead of silently ignored, as transformers' own server does, so that a client
asking for something this server cannot do (``n=2``, ``logprobs``, tools) learns it at once. Every number is finite
and bounded, and no string may hold a lone UTF-16 surrogate (JSON allows ``"\\ud800"``; no tokenizer or UTF-8
encoder does): such input is a 400 naming the field, never a 5xx.

``/chat`` takes Kaito's request in both of its shapes; docs/runtime-contract.md lists what each field does here.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

_MAX_STOP_STRINGS = 16
_MAX_STOP_LENGTH = 256
_INT32 = 2**31 - 1
MAX_RETURN_SEQUENCES = 16

TokenId = Annotated[int, Field(ge=0, le=_INT32)]
Penalty = Annotated[float, Field(gt=0, le=100)]


def find_surrogate(value: Any, path: str = "") -> str | None:
    """Path of the first string (value or key) holding a lone surrogate, ``None`` when there is none."""
    if isinstance(value, str):
        return path or "body" if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _has_surrogate(key):
                return path or "body"
            if (found := find_surrogate(item, where)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := find_surrogate(item, f"{path}.{index}" if path else str(index))) is not None:
                return found
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped, safe to put in a UTF-8 answer or a log line."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Request(_Strict):
    """A request body: refuses lone surrogates anywhere in it, keys included."""

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        if (where := find_surrogate(data)) is not None:
            raise ValueError(f"{printable(where)}: a string holds a lone UTF-16 surrogate, which is not text")
        return data


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[TextPart]
    name: str | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Strict):
    include_usage: bool = False


class SamplingFields(_Request):
    """OpenAI sampling fields, plus the vLLM extras ``top_k``, ``min_tokens`` and ``repetition_penalty``."""

    model: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=-1, le=_INT32)] | None = None  # vLLM: -1 (or 0) disables top-k
    min_tokens: Annotated[int, Field(ge=0, le=_INT32)] = 0
    repetition_penalty: Penalty | None = None
    stop: str | list[str] | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**64 - 1)] | None = None  # what torch.manual_seed takes
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1
    user: str | None = None  # accepted for compatibility; identifies nothing here

    @field_validator("stop")
    @classmethod
    def _bounded_stop(cls, value: str | list[str] | None) -> list[str]:
        stops = [value] if isinstance(value, str) else list(value or [])
        if len(stops) > _MAX_STOP_STRINGS or any(len(s) > _MAX_STOP_LENGTH for s in stops):
            raise ValueError(f"at most {_MAX_STOP_STRINGS} stop strings of at most {_MAX_STOP_LENGTH} characters")
        return stops

    def stop_strings(self) -> tuple[str, ...]:
        return tuple(self.stop or ())


class ChatCompletionRequest(SamplingFields):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


# Fields of Kaito's GenerateKwargs that this server accepts and does not apply, and why (logged per request).
IGNORED_GENERATE_KWARGS = {
    "early_stopping": "beam search only",
    "num_beams": "beam search is not supported; decoding follows do_sample",
    "num_beam_groups": "beam search only",
    "diversity_penalty": "beam search only",
    "length_penalty": "beam search only",
    "encoder_no_repeat_ngram_size": "encoder-decoder models only",
    "output_scores": "the answer carries text only",
    "return_dict_in_generate": "the answer carries text only",
    "pad_token_id": "padding is internal to the batch",
    "forced_bos_token_id": "generate applies it to an encoder-decoder's first output token only",
    "remove_invalid_values": "invalid logits are always removed",
}


class LegacyGenerateKwargs(_Strict):
    """``generate_kwargs`` of Kaito's ≤ v0.8 ``/chat``, with its defaults (which beat the model's own)."""

    max_length: Annotated[int, Field(ge=1)] = 200  # prompt plus new tokens
    max_new_tokens: Annotated[int, Field(ge=1)] | None = None  # wins over max_length when set
    min_length: Annotated[int, Field(ge=0, le=_INT32)] = 0
    do_sample: bool = True
    temperature: Annotated[float, Field(gt=0, le=100)] = 1.0
    top_k: Annotated[int, Field(ge=0, le=_INT32)] = 10
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    typical_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    repetition_penalty: Penalty = 1.0
    no_repeat_ngram_size: Annotated[int, Field(ge=0, le=_INT32)] = 0
    bad_words_ids: list[TokenId | Annotated[list[TokenId], Field(min_length=1)]] | None = None
    num_return_sequences: Annotated[int, Field(ge=1, le=MAX_RETURN_SEQUENCES)] = 1
    eos_token_id: TokenId | list[TokenId] | None = None
    forced_eos_token_id: TokenId | list[TokenId] | None = None
    # accepted, not applied (IGNORED_GENERATE_KWARGS says why)
    early_stopping: bool | Literal["never"] = False
    num_beams: Annotated[int, Field(ge=1, le=_INT32)] = 1
    num_beam_groups: Annotated[int, Field(ge=1, le=_INT32)] = 1
    diversity_penalty: float = 0.0
    length_penalty: float = 1.0
    encoder_no_repeat_ngram_size: Annotated[int, Field(ge=0)] = 0
    output_scores: bool = False
    return_dict_in_generate: bool = False
    pad_token_id: TokenId | None = None
    forced_bos_token_id: TokenId | None = None
    remove_invalid_values: bool | None = None

    def ignored_fields(self) -> list[str]:
        """Fields the client set to something other than Kaito's default that this server does not apply."""
        defaults = LegacyGenerateKwargs()
        return [name for name in IGNORED_GENERATE_KWARGS
                if name in self.model_fields_set and getattr(self, name) != getattr(defaults, name)]


_GENERATE_KWARGS = frozenset(LegacyGenerateKwargs.model_fields)


class LegacyChatRequest(_Request):
    """Body of ``POST /chat`` as Kaito's transformers server took it, in either shape.

    Nested (≤ v0.4): generation parameters under ``generate_kwargs``; unknown top-level keys were ignored.
    Flat (later): the same parameters at the top level, where an unknown key reached ``generate()``, which refused
    it. Both shapes may be mixed (``generate_kwargs`` wins); an unknown key inside ``generate_kwargs`` is refused.
    """

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: str | None = None
    handle_long_generation: Literal["hole"] | None = None
    generate_kwargs: LegacyGenerateKwargs = LegacyGenerateKwargs()
    _ignored_keys: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _either_shape(cls, data: Any, handler: Any) -> LegacyChatRequest:
        if not isinstance(data, dict):
            return handler(data)
        own = set(cls.model_fields)
        nested = data.get("generate_kwargs")
        flat = {k: v for k, v in data.items() if k in _GENERATE_KWARGS and k not in own}
        unknown = [k for k in data if k not in own and k not in _GENERATE_KWARGS]
        body = {k: v for k, v in data.items() if k in own}
        if isinstance(nested, dict) or flat:
            body["generate_kwargs"] = {**flat, **(nested if isinstance(nested, dict) else {})}
        elif nested is None:
            body.pop("generate_kwargs", None)
        if "generate_kwargs" in data:  # the nested shape: Kaito's model ignored unknown top-level keys
            model = handler(body)
            model._ignored_keys = unknown
            return model
        return handler({**body, **{k: data[k] for k in unknown}})  # the flat shape: refused by name


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def chat_completion(request_id: str, model: str, text: str, finish_reason: str, usage_: dict) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage_,
    }


def chat_chunk(request_id: str, model: str, delta: dict, finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": request_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def text_completion(request_id: str, model: str, text: str, finish_reason: str | None) -> dict[str, Any]:
    """A ``text_completion`` object; streamed chunks have the same shape with ``finish_reason`` null."""
    return {
        "id": request_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(request_id: str, model: str, object_type: str, usage_: dict) -> dict[str, Any]:
    """The last chunk of a stream with ``stream_options.include_usage``: no choices, only usage."""
    return {
        "id": request_id,
        "object": object_type,
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage_,
    }


def model_card(model_id: str, parent: str | None) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "kaito", "parent": parent}


def error_body(message: str, error_type: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": printable(message), "type": error_type, "param": param, "code": code}}
