"""Continuous batching: requests join the running batch between decode steps and leave it when they finish.

One worker thread owns the model and loops: admit waiting requests (up to ``max_batch_size`` rows) by running
their prompts through the model together (prefill), then advance every row by one token (decode step) with a
single forward pass over the batch's KV cache. A late request waits for one step, not for the whole batch; a
finished, cancelled or timed-out row leaves at once and frees its slot. Each row samples with its own settings
(``sampler``) and, with LoRA adapters, runs its own adapter (peft ``adapter_names``).

The KV cache is a ``DynamicCache`` whose rows are left-padded to a common length; admitting rows pads the shorter
side on the left and concatenates, removing rows drops them and trims padding every row has. That needs plain
full-attention cache layers: ``supports()`` checks it, and other models are served by ``engine.BatchingEngine``.
Measured against that engine and transformers' own continuous batching in bench/RUNTIME.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from .generation import (
    Event,
    Failed,
    RequestHandle,
    TextDelta,
    timeout_failure,
)
from .loading import LoadedModel
from .metrics import Metrics
from .queueing import QueuedEngine
from .rows import Row, dispatch
from .sampler import RowState, next_tokens

log = logging.getLogger(__name__)

STREAM_INTERVAL_S = 0.01  # streamed text is handed to the event loop at most this often (first tokens at once)


@dataclass
class _Active:
    row: Row
    state: RowState


class _Batch:
    """The running rows and their left-padded KV cache, attention mask, next input tokens and positions."""

    def __init__(self, active: list[_Active], cache: DynamicCache, mask: torch.Tensor, last: list[int],
                 positions: list[int]) -> None:
        self.active, self.cache, self.mask = active, cache, mask
        self.last, self.positions = last, positions

    def __len__(self) -> int:
        return len(self.active)

    def join(self, other: _Batch) -> None:
        """Append ``other``'s rows, left-padding whichever cache is shorter."""
        length = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([_pad_left(mine.keys, length, 2), _pad_left(theirs.keys, length, 2)])
            mine.values = torch.cat([_pad_left(mine.values, length, 2), _pad_left(theirs.values, length, 2)])
        self.mask = torch.cat([_pad_left(self.mask, length, 1), _pad_left(other.mask, length, 1)])
        self.active += other.active
        self.last += other.last
        self.positions += other.positions

    def keep(self, indices: list[int]) -> None:
        """Keep only these rows, then drop the leading columns that are padding in every remaining row."""
        index = torch.tensor(indices, dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        start = int(mask.any(dim=0).int().argmax())
        self.mask = mask[:, start:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, start:]
            layer.values = layer.values.index_select(0, index)[:, :, start:]
        self.active = [self.active[i] for i in indices]
        self.last = [self.last[i] for i in indices]
        self.positions = [self.positions[i] for i in indices]


class _Outbox:
    """Events on their way to the event loop. Streamed text is held back and merged for up to
    ``STREAM_INTERVAL_S``: one wake-up of the loop and one chunk per client every few steps instead of every step
    keeps the loop, which shares the interpreter with this thread, from eating into generation."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._held: dict[RequestHandle, list[Event]] = {}
        self._last_flush = 0.0

    def add(self, events: Iterable[tuple[RequestHandle, Event]], urgent: bool = False) -> None:
        for handle, event in events:
            held = self._held.setdefault(handle, [])
            if held and isinstance(event, TextDelta) and isinstance(held[-1], TextDelta):
                held[-1] = TextDelta(held[-1].text + event.text)
            else:
                held.append(event)
                urgent = urgent or not isinstance(event, TextDelta)
        now = time.monotonic()
        if self._held and (urgent or now - self._last_flush >= STREAM_INTERVAL_S):
            events, self._held, self._last_flush = self._held, {}, now
            self._loop.call_soon_threadsafe(dispatch, [(h, e) for h, held in events.items() for e in held])


def _pad_left(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def supports(loaded: LoadedModel) -> bool:
    """Whether the model's KV cache is plain full attention (``DynamicLayer``s), which this scheduler can splice."""
    model = loaded.model
    if model.config.get_text_config().is_encoder_decoder:
        return False
    cache = DynamicCache(config=model.config)
    return bool(cache.layers) and all(type(layer) is DynamicLayer for layer in cache.layers)


class StepScheduler(QueuedEngine):
    def __init__(self, loaded: LoadedModel, metrics: Metrics, loop: asyncio.AbstractEventLoop, *,
                 max_batch_size: int, max_queue_size: int) -> None:
        super().__init__(loaded, metrics, loop, max_batch_size=max_batch_size, max_queue_size=max_queue_size)
        self._batch: _Batch | None = None
        self._outbox = _Outbox(loop)

    def _run(self) -> None:
        with torch.inference_mode():
            while (admitted := self._wait_for_work()) is not None:
                try:
                    if admitted:
                        self._admit(admitted)
                    if self._batch:
                        self._step()
                except Exception as error:  # a failed step must answer its requests, not kill the worker
                    self._fail_all(admitted, error)
                self._metrics.requests_running.set(len(self._batch or ()))

    def _wait_for_work(self) -> list[RequestHandle] | None:
        """Requests to admit now (possibly none while rows are running); ``None`` once stopping."""
        with self._cv:
            while not self._pending and not self._batch and not self._stopping:
                self._cv.wait()
            if self._stopping:
                return None
            free = self._max_batch_size - len(self._batch or ())
            now = time.monotonic()
            live = [h for h in self._pending if not h.cancelled]
            expired = [h for h in live if now > h.deadline]
            live = [h for h in live if now <= h.deadline]
            self._outbox.add([(h, timeout_failure(h.request)) for h in expired], urgent=True)
            admitted, self._pending = live[:free], live[free:]
            self._metrics.queue_depth.set(len(self._pending))
            return admitted

    def _admit(self, handles: list[RequestHandle]) -> None:
        """Prefill the new requests together, take their first tokens, and add them to the running batch."""
        prompts = [h.request.prompt_ids for h in handles]
        length = max(map(len, prompts))
        device = self._loaded.input_device
        ids = torch.tensor([[0] * (length - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache(config=self._loaded.model.config)
        logits = self._forward(handles, input_ids=ids, attention_mask=mask, position_ids=positions,
                               past_key_values=cache, cache_position=torch.arange(length, device=device))
        active = [_Active(Row(h, self._loaded.tokenizer, self._metrics, self._eos_ids), self._row_state(h))
                  for h in handles]
        joining = _Batch(active, cache, mask, [0] * len(handles), [len(p) for p in prompts])
        self._metrics.batch_size.observe(len(handles))
        if self._batch is None:
            self._batch = joining
        else:
            self._batch.join(joining)
        self._take_tokens(logits, first=len(self._batch) - len(handles), urgent=True)

    def _row_state(self, handle: RequestHandle) -> RowState:
        request = handle.request
        own_eos = request.sampling.eos_token_ids
        return RowState(request.sampling, list(request.prompt_ids),
                        frozenset(own_eos) if own_eos is not None else self._eos_ids, request.max_new_tokens)

    def _step(self) -> None:
        """Advance every running row by one token."""
        batch = self._batch
        device = self._loaded.input_device
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch), 1))], dim=1)
        logits = self._forward(
            [a.row.handle for a in batch.active],
            input_ids=torch.tensor(batch.last, device=device).unsqueeze(1),
            attention_mask=batch.mask,
            position_ids=torch.tensor(batch.positions, device=device).unsqueeze(1),
            past_key_values=batch.cache,
            cache_position=torch.tensor([batch.mask.shape[1] - 1], device=device),
        )
        batch.positions = [p + 1 for p in batch.positions]
        self._metrics.batch_size.observe(len(batch))
        self._take_tokens(logits, first=0)

    def _forward(self, handles: list[RequestHandle], **inputs: Any) -> torch.Tensor:
        if self._loaded.uses_adapters:
            inputs["adapter_names"] = [h.request.adapter for h in handles]
        output = self._loaded.model(**inputs, use_cache=True, logits_to_keep=1)
        return output.logits[:, -1, :]

    def _take_tokens(self, logits: torch.Tensor, first: int, urgent: bool = False) -> None:
        """Sample the next token of rows ``first..`` from ``logits``, deliver events, drop rows that are done."""
        batch = self._batch
        rows = batch.active[first:]
        tokens = next_tokens(logits, [a.state for a in rows])
        now, events = time.monotonic(), []
        for offset, (active, token) in enumerate(zip(rows, tokens, strict=True)):
            batch.last[first + offset] = token
            active.state.history.append(token)
            active.state.generated += 1
            events += [(active.row.handle, e) for e in active.row.accept(token, now)]
        self._outbox.add(events, urgent)
        self._drop_finished(now)

    def _drop_finished(self, now: float) -> None:
        batch = self._batch
        for active in batch.active:
            if not active.row.done and active.row.handle.cancelled:
                active.row.close([])
            if active.row.done:
                elapsed = now - active.row.handle.admitted_at
                self._record_round(elapsed)
        keep = [i for i, active in enumerate(batch.active) if not active.row.done]
        if not keep:
            self._batch = None
        elif len(keep) < len(batch):
            batch.keep(keep)

    def _fail_all(self, admitted: list[RequestHandle], error: Exception) -> None:
        running = [a.row for a in self._batch.active] if self._batch else []
        log.exception("generation failed for %d running and %d new requests", len(running), len(admitted))
        failure = Failed(500, "generation_failed", f"generation failed: {type(error).__name__}: {error}")
        joined = {id(row.handle) for row in running}
        events = [(row.handle, e) for row in running if not row.done for e in row.close([failure])]
        events += [(h, failure) for h in admitted if id(h) not in joined]
        self._outbox.add(events, urgent=True)
        self._batch = None
