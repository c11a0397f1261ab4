"""Continuous batching: requests join the running batch between decode steps and leave it when they finish.

One worker thread owns the model and loops: advance every running row by one token (decode step) with a single
forward pass over the batch's KV cache, and let waiting requests (up to ``max_batch_size`` rows) join in that same
pass: a short prompt enters as a row of its own, left-padded to the longest new prompt, while the running rows'
last tokens sit at the right end of theirs (fused prefill: closed-loop clients re-arrive one by one, and a pass of
its own per arrival cost a step's worth of time each). Prompts longer than ``FUSED_PROMPT_TOKENS`` get a prefill
pass of their own, as does the first request of an idle batch. A late request waits for one step, not for the
whole batch; a finished, cancelled or timed-out row leaves at once and frees its slot. Each row samples with its
own settings (``sampler``) and, with LoRA adapters, runs its own adapter (peft ``adapter_names``).

The KV cache is a ``DynamicCache`` whose rows share one length; the attention mask says which columns each row
uses (left padding, and the columns a fused prefill adds while the running rows use only the last one). Removing
rows drops them and then the columns no remaining row uses. That needs plain full-attention cache layers:
``supports()`` checks it, and other models are served by ``engine.BatchingEngine``.
Measured against that engine and transformers' own continuous batching in bench/RUNTIME.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
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

STREAM_INTERVAL_S = 0.025  # streamed text goes to the event loop at most this often (first tokens and ends at once)
# Longest prompt that joins a running decode step. Every running row is padded to the new prompt's length in that
# pass, so a long prompt would cost the running rows more than the separate prefill pass it saves.
FUSED_PROMPT_TOKENS = 32


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

    def grow(self, joining: list[_Active], prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Make room for one pass in which the running rows feed their last token and ``joining`` rows their
        ``prompts``; returns that pass's ``input_ids`` and ``position_ids``.

        The pass is as wide as the longest new prompt (1 without any). Each running row feeds its last token in the
        last column and masks the columns before it; each new row is left-padded, and its cache rows before the pass
        are zeros its mask hides.
        """
        width = max(map(len, prompts), default=1)
        running = len(self.active)
        ids = [[0] * (width - 1) + [token] for token in self.last]
        ids += [[0] * (width - len(p)) + p for p in prompts]
        positions = [[position] * width for position in self.positions]
        positions += [[0] * (width - len(p)) + list(range(len(p))) for p in prompts]
        added = [[0] * (width - 1) + [1]] * running + [[0] * (width - len(p)) + [1] * len(p) for p in prompts]
        device = self.mask.device
        self.mask = torch.cat([_pad_rows(self.mask, len(prompts)), torch.tensor(added, device=device,
                                                                             dtype=self.mask.dtype)], dim=1)
        if prompts:
            for layer in self.cache.layers:
                layer.keys, layer.values = _pad_rows(layer.keys, len(prompts)), _pad_rows(layer.values, len(prompts))
        self.active += joining
        self.last += [0] * len(prompts)
        self.positions = [p + 1 for p in self.positions] + [len(p) for p in prompts]
        return torch.tensor(ids, device=device), torch.tensor(positions, device=device)

    def keep(self, indices: list[int]) -> None:
        """Keep only these rows, then drop the columns no remaining row uses (padding and fused-prefill gaps)."""
        index = torch.tensor(indices, dtype=torch.long, device=self.mask.device)
        mask = self.mask.index_select(0, index)
        used = mask.any(dim=0)
        columns = None if bool(used.all()) else used.nonzero().squeeze(1)
        self.mask = mask if columns is None else mask.index_select(1, columns)
        for layer in self.cache.layers:
            keys, values = layer.keys.index_select(0, index), layer.values.index_select(0, index)
            if columns is not None:
                keys, values = keys.index_select(2, columns), values.index_select(2, columns)
            layer.keys, layer.values = keys, values
        self.active = [self.active[i] for i in indices]
        self.last = [self.last[i] for i in indices]
        self.positions = [self.positions[i] for i in indices]


class _Outbox:
    """Events on their way to the event loop. Each request's streamed text is held back and merged until the next
    tick (every ``STREAM_INTERVAL_S``), when all held text goes out in one hand-off: one wake-up of the loop and
    one chunk per client every few steps instead of every step keeps the loop, which shares the interpreter with
    this thread, from eating into generation. A request's first token and its end (finish, failure) go out at once,
    with that request's held text only: the other requests' text keeps waiting for the tick (with 8 closed-loop
    clients a request starts or ends every few steps, so flushing everything then would flush nearly every step).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Callable[[], float] = time.monotonic) -> None:
        self._loop, self._clock = loop, clock
        self._held: dict[RequestHandle, list[Event]] = {}
        self._last_tick = -math.inf

    def add(self, events: Iterable[tuple[RequestHandle, Event]], first_tokens: Iterable[RequestHandle] = ()) -> None:
        """Hold ``events``; send what is due: everything at a tick, else the held events of requests that ended or
        whose first token is among them (``first_tokens``)."""
        due = set(first_tokens)
        for handle, event in events:
            held = self._held.setdefault(handle, [])
            if held and isinstance(event, TextDelta) and isinstance(held[-1], TextDelta):
                held[-1] = TextDelta(held[-1].text + event.text)
            else:
                held.append(event)
                if not isinstance(event, TextDelta):
                    due.add(handle)
        now = self._clock()
        if now - self._last_tick >= STREAM_INTERVAL_S:
            self._last_tick = now
            due = set(self._held)
        sent = [(handle, event) for handle in due for event in self._held.pop(handle, ())]
        if sent:
            self._loop.call_soon_threadsafe(dispatch, sent)


def _pad_left(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _pad_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """``tensor`` with ``rows`` rows of zeros appended (new rows' share of the cache or mask before their pass)."""
    if rows == 0:
        return tensor
    return torch.cat([tensor, tensor.new_zeros((rows, *tensor.shape[1:]))])


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
                    self._iterate(admitted)
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
            self._outbox.add([(h, timeout_failure(h.request)) for h in expired])
            admitted, self._pending = live[:free], live[free:]
            self._metrics.queue_depth.set(len(self._pending))
            return admitted

    def _iterate(self, admitted: list[RequestHandle]) -> None:
        """One round of the worker: every running row advances one token, and ``admitted`` requests join."""
        if self._batch and admitted and max(len(h.request.prompt_ids) for h in admitted) <= FUSED_PROMPT_TOKENS:
            self._step(admitted)
            return
        if admitted:
            self._admit(admitted)
        if self._batch:
            self._step()

    def _admit(self, handles: list[RequestHandle]) -> None:
        """Prefill the new requests together in a pass of their own, take their first tokens, and add them to the
        running batch."""
        prompts = [h.request.prompt_ids for h in handles]
        length = max(map(len, prompts))
        device = self._loaded.input_device
        ids = torch.tensor([[0] * (length - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (length - len(p)) + [1] * len(p) for p in prompts], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache(config=self._loaded.model.config)
        logits = self._forward(handles, input_ids=ids, attention_mask=mask, position_ids=positions,
                               past_key_values=cache, cache_position=torch.arange(length, device=device))
        joining = _Batch(self._activate(handles), cache, mask, [0] * len(handles), [len(p) for p in prompts])
        self._metrics.batch_size.observe(len(handles))
        if self._batch is None:
            self._batch = joining
        else:
            self._batch.join(joining)
        self._take_tokens(logits, first=len(self._batch) - len(handles))

    def _activate(self, handles: list[RequestHandle]) -> list[_Active]:
        return [_Active(Row(h, self._loaded.tokenizer, self._metrics, self._eos_ids), self._row_state(h))
                for h in handles]

    def _row_state(self, handle: RequestHandle) -> RowState:
        request = handle.request
        own_eos = request.sampling.eos_token_ids
        return RowState(request.sampling, list(request.prompt_ids),
                        frozenset(own_eos) if own_eos is not None else self._eos_ids, request.max_new_tokens)

    def _step(self, joining: Sequence[RequestHandle] = ()) -> None:
        """Advance every running row by one token; ``joining`` requests enter in the same pass (fused prefill)
        and take their first token from it."""
        batch = self._batch
        past = batch.mask.shape[1]
        ids, positions = batch.grow(self._activate(joining), [h.request.prompt_ids for h in joining])
        logits = self._forward(
            [a.row.handle for a in batch.active],
            input_ids=ids,
            attention_mask=batch.mask,
            position_ids=positions,
            past_key_values=batch.cache,
            cache_position=torch.arange(past, batch.mask.shape[1], device=batch.mask.device),
        )
        self._metrics.batch_size.observe(len(batch))
        self._take_tokens(logits, first=0)

    def _forward(self, handles: list[RequestHandle], **inputs: Any) -> torch.Tensor:
        if self._loaded.uses_adapters:
            inputs["adapter_names"] = [h.request.adapter for h in handles]
        output = self._loaded.model(**inputs, use_cache=True, logits_to_keep=1)
        return output.logits[:, -1, :]

    def _take_tokens(self, logits: torch.Tensor, first: int) -> None:
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
        self._outbox.add(events, first_tokens=[a.row.handle for a in rows if a.row.completion_tokens == 1])
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
        self._outbox.add(events)
        self._batch = None
