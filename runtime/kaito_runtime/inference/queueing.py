"""What both generation engines share: the bounded queue requests wait in, its Retry-After estimate, the worker
thread's start and stop, and delivery of events to the event loop.

``BatchingEngine`` (engine.py, whole batches through ``generate``) and ``StepScheduler`` (scheduler.py, requests
joining between decode steps) differ only in how their worker takes requests off this queue.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable

from .generation import EngineStopped, Event, Failed, GenerationRequest, QueueFull, RequestHandle
from .loading import LoadedModel
from .metrics import Metrics
from .rows import dispatch, model_eos_ids


class QueuedEngine:
    def __init__(self, loaded: LoadedModel, metrics: Metrics, loop: asyncio.AbstractEventLoop, *,
                 max_batch_size: int, max_queue_size: int) -> None:
        self._loaded = loaded
        self._metrics = metrics
        self._loop = loop
        self._max_batch_size = max_batch_size
        self._max_queue_size = max_queue_size
        self._pending: list[RequestHandle] = []
        self._serial = 0
        self._cv = threading.Condition()
        self._stopping = False
        self._recent_round_s = 1.0  # how long one round of the worker (a batch, or a request's life) takes
        self._eos_ids = model_eos_ids(loaded)
        self._thread = threading.Thread(target=self._run, name="generate", daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Refuse new work and fail everything still queued; running work is left to the process exit."""
        with self._cv:
            self._stopping = True
            stranded, self._pending = self._pending, []
            self._cv.notify_all()
        self._deliver([(h, Failed(503, "shutting_down", "the server is shutting down")) for h in stranded])

    def submit(self, request: GenerationRequest) -> RequestHandle:
        """Queue ``request``; raises ``QueueFull`` when ``max_queue_size`` requests are already waiting."""
        with self._cv:
            if self._stopping:
                raise EngineStopped()
            if len(self._pending) >= self._max_queue_size:
                raise QueueFull(self._retry_after_s())
            self._serial += 1
            handle = RequestHandle(request, serial=self._serial)
            self._pending.append(handle)
            self._metrics.queue_depth.set(len(self._pending))
            self._cv.notify()
        return handle

    def _retry_after_s(self) -> int:
        rounds_ahead = math.ceil((len(self._pending) + 1) / self._max_batch_size)
        return min(60, max(1, math.ceil(rounds_ahead * self._recent_round_s)))

    def _record_round(self, seconds: float) -> None:
        self._recent_round_s = 0.8 * self._recent_round_s + 0.2 * seconds

    def _deliver(self, events: Iterable[tuple[RequestHandle, Event]]) -> None:
        events = list(events)
        if events:
            self._loop.call_soon_threadsafe(dispatch, events)
