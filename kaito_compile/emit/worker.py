"""The emitter in a process of its own (``python -m kaito_compile.emit.worker``), started by :mod:`.pipeline`.

It reads batches of plans from stdin, one JSON line each (``[[plan, settings], …]``, plans as
:mod:`..plan.codec` writes them), emits each batch with an :class:`~.emitter.Emitter`, and writes one JSON line
per batch to stdout: ``{"objects": [[…], …]}``, the objects of each workspace in the order the batch listed them,
or ``{"error": "…"}`` after which it stops. Everything crossing the pipe is JSON data. It builds its emitter
(cdk8s, node) before the first batch arrives; on SIGTERM it stops node, removes the temporary files and exits.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO

from ..gc_tuning import raise_thresholds
from ..plan.codec import plan_from_data, plan_to_data
from ..plan.model import Plan


def batch_line(batch: Iterable[tuple[Plan, dict[str, Any]]]) -> bytes:
    """A batch of ``(plan, settings)`` pairs as the line a worker reads."""
    return json.dumps([[plan_to_data(plan), settings] for plan, settings in batch]).encode() + b"\n"


def main() -> int:
    raise_thresholds()
    signal.signal(signal.SIGTERM, _exit)  # a cancelled build
    # The results go to the real stdout; anything else that prints (a library, a warning) goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return _serve(sys.stdin.buffer, results)
    except (KeyboardInterrupt, BrokenPipeError):
        return 1  # Ctrl-C reached the whole process group, or the build is gone: the build says what happened


def _serve(batches: BinaryIO, results: BinaryIO) -> int:
    try:  # before the first batch arrives: the build starts this process early to overlap the start-up
        from .emitter import Emitter

        emitter = Emitter()
    except Exception as exc:  # noqa: BLE001 - said to the parent, which reports it
        return _failed(results, exc)
    for line in batches:
        try:
            for plan, settings in json.loads(line):
                emitter.add(plan_from_data(plan), **settings)
            answer = json.dumps({"objects": emitter.synth()})
        except Exception as exc:  # noqa: BLE001 - said to the parent, which reports it
            return _failed(results, exc)
        results.write(answer.encode() + b"\n")
        results.flush()
    return 0


def _exit(signum: int, frame: Any) -> None:
    """Stop node and remove the temporary files now, then exit without running anything else (jsii's exit
    handler would wait for a kernel that no longer answers)."""
    from .jsii_kernel import stop_now

    stop_now()
    os._exit(128 + signum)


def _failed(results: BinaryIO, exc: Exception) -> int:
    results.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
    results.flush()
    return 1


if __name__ == "__main__":
    sys.exit(main())
