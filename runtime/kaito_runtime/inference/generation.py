"""What a generation request is, and the events it produces while the engine works on it (no torch here)."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Sampling:
    """How one request picks its tokens. The step scheduler applies it per row; the ``generate``-based batcher
    batches only requests whose settings are equal (``generate`` takes one value of each per call)."""

    temperature: float = 1.0  # 0 selects greedy decoding
    top_p: float = 1.0
    top_k: int = 0  # 0 disables top-k filtering
    typical_p: float = 1.0
    repetition_penalty: float = 1.0
    min_new_tokens: int = 0
    seed: int | None = None
    no_repeat_ngram_size: int = 0
    bad_words_ids: tuple[tuple[int, ...], ...] = ()
    eos_token_ids: tuple[int, ...] | None = None  # None: the model's own end-of-sequence tokens
    forced_eos_token_ids: tuple[int, ...] = ()  # forced as the last token when max_new_tokens is reached

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def generate_kwargs(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "min_new_tokens": self.min_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "bad_words_ids": [list(ids) for ids in self.bad_words_ids] or None,
            "forced_eos_token_id": list(self.forced_eos_token_ids) or None,
        }
        if self.temperature == 0:
            return {**common, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {
            **common,
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "typical_p": self.typical_p,
        }


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    max_new_tokens: int
    sampling: Sampling
    adapter: str | None  # peft adapter name, None when the model has no adapters
    model_label: str  # the API model id, for metrics
    stop: tuple[str, ...] = ()
    stream: bool = False
    timeout_s: float = math.inf


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finished:
    text: str
    finish_reason: str  # "stop" (end of sequence or stop string) or "length"
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    status: int
    code: str
    message: str


Event = TextDelta | Finished | Failed


class QueueFull(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the request queue is full; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class EngineStopped(Exception):
    pass


@dataclass(eq=False)
class RequestHandle:
    """A submitted request: the route reads ``events``; ``cancel()`` drops it when the client goes away."""

    request: GenerationRequest
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    admitted_at: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    serial: int = 0

    @property
    def deadline(self) -> float:
        return self.admitted_at + self.request.timeout_s

    @property
    def batch_key(self) -> tuple[Sampling, int]:
        # A seeded request runs alone: its sampled tokens must not depend on which requests it was batched with.
        return self.request.sampling, (self.serial if self.request.sampling.seed is not None else -1)

    def cancel(self) -> None:
        self.cancelled = True


def timeout_failure(request: GenerationRequest) -> Failed:
    return Failed(408, "timeout", f"the request took longer than this server's {request.timeout_s:g} s limit")


class Engine(Protocol):
    """What the routes need of a generation engine (``engine.BatchingEngine``, ``scheduler.StepScheduler``)."""

    def submit(self, request: GenerationRequest) -> RequestHandle:
        """Queue ``request``; raises ``QueueFull`` or ``EngineStopped``."""

    def start(self) -> None: ...

    def stop(self) -> None:
        """Refuse new work and fail everything still queued."""
