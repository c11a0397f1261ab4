"""One request's progress while it is generated, shared by both engines: text, stop conditions, events, metrics."""

from __future__ import annotations

from typing import Any

from .decoding import TextAssembler
from .generation import Event, Finished, RequestHandle, TextDelta, timeout_failure
from .loading import LoadedModel
from .metrics import Metrics


class Row:
    """Progress of one request inside a running batch."""

    def __init__(self, handle: RequestHandle, tokenizer: Any, metrics: Metrics, model_eos: frozenset[int]) -> None:
        self.handle = handle
        self.request = handle.request
        own_eos = self.request.sampling.eos_token_ids
        self.eos_ids = frozenset(own_eos) if own_eos is not None else model_eos
        self.text = TextAssembler(tokenizer, self.request.prompt_ids, self.request.stop)
        self.metrics = metrics
        self.completion_tokens = 0
        self.done = False

    def accept(self, token: int, now: float) -> list[Event]:
        if self.completion_tokens == 0:
            self.metrics.time_to_first_token.labels(self.request.model_label).observe(now - self.handle.admitted_at)
        self.completion_tokens += 1
        if self.handle.cancelled:
            return self.close([])
        if now > self.handle.deadline:
            return self.close([timeout_failure(self.request)])
        self.text.add(token)  # an end-of-sequence token adds text only if it is not a special token, as in generate
        if token in self.eos_ids or self.text.stopped:
            return self.finish("stop")
        if self.completion_tokens >= self.request.max_new_tokens:
            return self.finish("length")
        if self.request.stream and (ready := self.text.take_ready()):
            return [TextDelta(ready)]
        return []

    def finish(self, reason: str) -> list[Event]:
        rest = self.text.finish()
        events: list[Event] = [TextDelta(rest)] if self.request.stream and rest else []
        prompt_tokens = len(self.request.prompt_ids)
        events.append(Finished(self.text.text, reason, prompt_tokens, self.completion_tokens))
        self.metrics.prompt_tokens.labels(self.request.model_label).inc(prompt_tokens)
        return self.close(events)

    def close(self, events: list[Event]) -> list[Event]:
        self.done = True
        self.metrics.generation_tokens.labels(self.request.model_label).inc(self.completion_tokens)
        return events


def dispatch(events: list[tuple[RequestHandle, Event]]) -> None:
    """Hand events to their requests' queues (on the event loop)."""
    for handle, event in events:
        handle.events.put_nowait(event)


def model_eos_ids(loaded: LoadedModel) -> frozenset[int]:
    configured = loaded.model.generation_config.eos_token_id
    ids = configured if isinstance(configured, list) else [configured]
    return frozenset(i for i in [*ids, loaded.tokenizer.eos_token_id] if i is not None)
