"""Dynamic batching over ``model.generate`` (``--scheduler=dynamic``): requests that arrive together share every
forward pass. ``scheduler.StepScheduler`` (continuous batching) is the default; this engine serves models whose KV
cache it cannot splice, and is the peer it is measured against (bench/RUNTIME.md).

Why not ``transformers.generation.continuous_batching``: it was far slower on the 2-core CI machine in every
measurement (bench/RUNTIME.md), and it cannot mix LoRA adapters in a batch, which peft's ``adapter_names`` does.

One worker thread owns the model. Requests wait in a bounded queue; the worker takes the oldest one plus every
waiting request with the same sampling settings (up to ``max_batch_size``), left-pads them into one ``generate``
call, and follows each row with a ``StoppingCriteria`` that decodes its new token, applies its own ``max_tokens``,
stop strings, deadline and cancellation, streams text, and tells ``generate`` which rows are done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from .generation import (
    Event,
    Failed,
    RequestHandle,
    timeout_failure,
)
from .loading import LoadedModel
from .metrics import Metrics
from .queueing import QueuedEngine
from .rows import Row

log = logging.getLogger(__name__)


class _BatchTracker(StoppingCriteria):
    """Called by ``generate`` after every step with all sequences; returns which rows are finished."""

    def __init__(self, rows: list[Row], deliver: Callable[[list], None]) -> None:
        self.rows = rows
        self.deliver = deliver

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        now = time.monotonic()
        events = [
            (row.handle, event)
            for row, token in zip(self.rows, input_ids[:, -1].tolist(), strict=True)
            if not row.done
            for event in row.accept(token, now)
        ]
        self.deliver(events)
        return torch.tensor([row.done for row in self.rows], dtype=torch.bool, device=input_ids.device)

    def close_open_rows(self, make_events: Callable[[Row], list[Event]]) -> None:
        self.deliver([(row.handle, e) for row in self.rows if not row.done for e in make_events(row)])


class BatchingEngine(QueuedEngine):
    def __init__(self, loaded: LoadedModel, metrics: Metrics, loop: asyncio.AbstractEventLoop, *,
                 max_batch_size: int, batch_window_s: float, max_queue_size: int) -> None:
        super().__init__(loaded, metrics, loop, max_batch_size=max_batch_size, max_queue_size=max_queue_size)
        self._batch_window_s = batch_window_s
        self._last_batch_end = 0.0

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            started = time.monotonic()
            self._generate(batch)
            self._last_batch_end = time.monotonic()
            self._record_round(self._last_batch_end - started)

    def _next_batch(self) -> list[RequestHandle] | None:
        with self._cv:
            while True:
                while not self._pending and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return None
                self._wait_for_company()
                batch = self._take_batch()
                if batch:
                    return batch

    def _wait_for_company(self) -> None:
        """Wait up to the batch window for more requests, so that requests sent together are generated together.

        The window opens at the oldest request's arrival or at the end of the previous batch, whichever is later:
        clients answered by that batch send their next requests a few milliseconds after it, and without this
        they would split into smaller batches that then keep alternating.
        """
        window_ends = max(self._pending[0].admitted_at, self._last_batch_end) + self._batch_window_s
        while len(self._pending) < self._max_batch_size and not self._stopping:
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                return
            self._cv.wait(remaining)

    def _take_batch(self) -> list[RequestHandle]:
        now = time.monotonic()
        live = [h for h in self._pending if not h.cancelled]
        expired = [h for h in live if now > h.deadline]
        live = [h for h in live if now <= h.deadline]
        self._deliver([(h, timeout_failure(h.request)) for h in expired])
        batch = [h for h in live if h.batch_key == live[0].batch_key][: self._max_batch_size] if live else []
        chosen = set(map(id, batch))
        self._pending = [h for h in live if id(h) not in chosen]
        self._metrics.queue_depth.set(len(self._pending))
        return batch

    def _generate(self, batch: list[RequestHandle]) -> None:
        loaded = self._loaded
        rows = [Row(handle, loaded.tokenizer, self._metrics, self._eos_ids) for handle in batch]
        tracker = _BatchTracker(rows, self._deliver)
        self._metrics.requests_running.set(len(batch))
        self._metrics.batch_size.observe(len(batch))
        try:
            with torch.inference_mode():
                loaded.model.generate(**self._generate_args(batch), stopping_criteria=StoppingCriteriaList([tracker]))
            tracker.close_open_rows(lambda row: row.finish("length"))
        except Exception as error:  # a failed batch must answer its requests, not kill the worker
            log.exception("generation failed for a batch of %d", len(batch))
            failure = Failed(500, "generation_failed", f"generation failed: {type(error).__name__}: {error}")
            tracker.close_open_rows(lambda row: row.close([failure]))
        finally:
            self._metrics.requests_running.set(0)

    def _generate_args(self, batch: list[RequestHandle]) -> dict[str, Any]:
        loaded = self._loaded
        sampling = batch[0].request.sampling
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        inputs = loaded.tokenizer.pad({"input_ids": [h.request.prompt_ids for h in batch]}, return_tensors="pt")
        args: dict[str, Any] = {
            **{name: tensor.to(loaded.input_device) for name, tensor in inputs.items()},
            **sampling.generate_kwargs(),
            "max_new_tokens": max(h.request.max_new_tokens for h in batch),
            "pad_token_id": loaded.tokenizer.pad_token_id,
            "eos_token_id": sorted(sampling.eos_token_ids or self._eos_ids),
        }
        if loaded.uses_adapters:
            args["adapter_names"] = [h.request.adapter for h in batch]
        return args
