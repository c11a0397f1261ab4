"""Request bodies of the HTTP API and the JSON shapes of its answers.

Unknown fields are rejected (400) instead of silently ignored, as transformers' own server does, so that a client
asking for something this server cannot do (``n=2``, ``logprobs``, tools) learns it at once.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_MAX_STOP_STRINGS = 16
_MAX_STOP_LENGTH = 256


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class SamplingFields(_Strict):
    """OpenAI sampling fields, plus the vLLM extras ``top_k``, ``min_tokens`` and ``repetition_penalty``."""

    model: str | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0)] | None = None
    min_tokens: Annotated[int, Field(ge=0)] = 0
    repetition_penalty: Annotated[float, Field(gt=0)] | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
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


class LegacyGenerateKwargs(_Strict):
    """``generate_kwargs`` of Kaito's ≤ v0.8 ``/chat``, with its defaults (which beat the model's own)."""

    max_length: Annotated[int, Field(ge=1)] = 200  # prompt plus new tokens
    max_new_tokens: Annotated[int, Field(ge=1)] | None = None  # wins over max_length when set
    min_length: Annotated[int, Field(ge=0)] = 0
    do_sample: bool = True
    early_stopping: bool = False  # beam search only; accepted because Kaito's defaults list it
    num_beams: Literal[1] = 1
    temperature: Annotated[float, Field(gt=0)] = 1.0
    top_k: Annotated[int, Field(ge=0)] = 10
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    typical_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    repetition_penalty: Annotated[float, Field(gt=0)] = 1.0


class LegacyChatRequest(_Strict):
    """Body of ``POST /chat`` as Kaito's old transformers server took it (text-generation or conversational)."""

    prompt: str | None = None
    messages: list[ChatMessage] | None = None
    return_full_text: bool = True
    clean_up_tokenization_spaces: bool = False
    prefix: None = None
    handle_long_generation: None = None
    generate_kwargs: LegacyGenerateKwargs = LegacyGenerateKwargs()


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
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
