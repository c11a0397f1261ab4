"""Emission beside the rest of a build.

Emitting is mostly round trips to node, one per cdk8s object, during which nothing else of the build moves. A
build that emits at least one full batch of workspaces hands its plans to a worker process
(:mod:`.worker`, with its own node) as soon as they are planned, and goes on parsing, validating, planning and
rendering while the worker emits: on two cores the two halves run at the same time. The worker is started as
soon as the build knows it has a full batch of specs to compile (:meth:`Emission.expect`), so that its start-up
overlaps the parsing too; a build that stops early ends it with SIGTERM, and it stops its node on the way out. A
smaller build (one edited workspace, a few examples) emits in this process, where starting a second interpreter
and node would cost more than it saves. Either way the objects are the same: each workspace's objects do not
depend on the batch that emits them, and results are handed back in the order the plans were submitted. On the
1,000-workspace benchmark the worker took a fifth off the cold build's wall time for about 50 MB more peak memory
(bench/PROFILE.md).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..plan.model import Plan

_END = None  # on a queue: nothing more will come
Emitted = list[tuple[Hashable, list[dict]]]  # one batch: each workspace's key and objects, in submission order
STOP_TIMEOUT_S = 5.0


class EmitterFailed(RuntimeError):
    """The worker process could not emit a batch."""


class Emission:
    """Submitted plans, emitted in batches of ``batch_size`` (one cdk8s synthesis each).

    ``submit`` plans as they are planned, take what is ready with ``ready`` while doing other work, then
    ``finish`` for the rest (or ``cancel`` when the build stopped before it needed them)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._batch: list[tuple[Hashable, Plan, dict[str, Any]]] = []
        self._worker: _Worker | None = None

    def expect(self, count: int) -> None:
        """The build will submit up to ``count`` plans: when they can fill a batch, the worker starts now, so that
        its start-up (an interpreter, cdk8s, node: over a second of CPU) runs while the build parses the first
        batch's specs instead of after them."""
        if count >= self.batch_size and self._worker is None:
            self._worker = _Worker()

    def submit(self, key: Hashable, plan: Plan, settings: dict[str, Any]) -> None:
        """Emit ``plan`` with the emitter ``settings``; its objects come back under ``key``."""
        self._batch.append((key, plan, settings))
        if len(self._batch) >= self.batch_size:
            if self._worker is None:
                self._worker = _Worker()
            self._worker.send(self._batch)
            self._batch = []

    def ready(self) -> Iterator[Emitted]:
        """The batches the worker has emitted and nobody took yet, without waiting."""
        return self._worker.ready() if self._worker is not None else iter(())

    def finish(self) -> Iterator[Emitted]:
        """Every batch not yet taken: the last one is emitted, the worker waited for and ended."""
        batch, self._batch = self._batch, []
        if self._worker is not None:
            if batch:
                self._worker.send(batch)
            try:
                yield from self._worker.finish()
            finally:
                self._worker = None
        elif batch:
            yield _emit_here(batch)

    def cancel(self) -> None:
        self._batch = []
        if self._worker is not None:
            self._worker.kill()
            self._worker = None


def _emit_here(batch: list[tuple[Hashable, Plan, dict[str, Any]]]) -> Emitted:
    from .emitter import Emitter

    emitter = Emitter()
    for _, plan, settings in batch:
        emitter.add(plan, **settings)
    return list(zip([key for key, _, _ in batch], emitter.synth(), strict=True))


class _Worker:
    """A worker process, fed by one thread and read by another so that neither side waits for the other."""

    def __init__(self) -> None:
        from .worker import batch_line  # the plan codec (cattrs, pydantic) only when a worker is started

        self._encode = batch_line
        self.process = subprocess.Popen([sys.executable, "-m", "kaito_compile.emit.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=_worker_environment())
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._keys: deque[list[Hashable]] = deque()  # of the batches sent and not yet taken, in order
        self._send_error: Exception | None = None
        self._threads = [threading.Thread(target=self._write, daemon=True, name="kaito-compile-emit-feed"),
                         threading.Thread(target=self._read, daemon=True, name="kaito-compile-emit-read")]
        for thread in self._threads:
            thread.start()

    def send(self, batch: list[tuple[Hashable, Plan, dict[str, Any]]]) -> None:
        self._keys.append([key for key, _, _ in batch])
        self._outbox.put([(plan, settings) for _, plan, settings in batch])

    def ready(self) -> Iterator[Emitted]:
        while self._keys:
            try:
                result = self._inbox.get_nowait()
            except queue.Empty:
                return
            yield self._taken(result)

    def finish(self) -> Iterator[Emitted]:
        self._outbox.put(_END)
        try:
            while self._keys:
                yield self._taken(self._inbox.get())
        except BaseException:
            self.kill()
            raise
        for thread in self._threads:
            thread.join()
        self.process.wait()

    def kill(self) -> None:
        """End the worker, mid-batch or not: SIGTERM lets it stop its node kernel and remove their temporary files
        (the kernel's unpacked assemblies are 30 MB); SIGKILL if that takes more than a few seconds."""
        self.process.terminate()
        self._outbox.put(_END)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _taken(self, result: dict | None) -> Emitted:
        keys = self._keys.popleft()
        if result is None:
            if self._send_error is not None:
                raise EmitterFailed(f"a batch could not be sent to the emitter process: {self._send_error!r}")
            raise EmitterFailed(f"the emitter process ended without a result (exit status {self.process.wait()})")
        if "error" in result:
            raise EmitterFailed(f"the emitter process failed: {result['error']}")
        return list(zip(keys, result["objects"], strict=True))

    def _write(self) -> None:
        try:
            while (batch := self._outbox.get()) is not _END:
                self.process.stdin.write(self._encode(batch))
                self.process.stdin.flush()
        except OSError:
            pass  # the worker is gone: the reader says how
        except Exception as error:  # noqa: BLE001 - a batch that cannot be sent ends the worker, and the build says why
            self._send_error = error
            self.process.kill()
        finally:
            try:
                self.process.stdin.close()
            except OSError:
                pass

    def _read(self) -> None:
        """Each answer line onto the inbox, then None for the end: whatever happens, so ``finish`` never waits on
        an inbox nothing will fill."""
        try:
            for line in self.process.stdout:
                self._inbox.put(json.loads(line))
        except ValueError as error:
            self._inbox.put({"error": f"an answer that is not JSON ({error})"})
        finally:
            self._inbox.put(None)


def _worker_environment() -> dict[str, str]:
    """This environment, with the directories this process imported kaito_compile and kaito_runtime from first
    on the worker's path (they need not be installed)."""
    import kaito_runtime

    import kaito_compile

    roots = [str(Path(module.__file__).resolve().parents[1]) for module in (kaito_compile, kaito_runtime)]
    path = [*dict.fromkeys(roots), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

