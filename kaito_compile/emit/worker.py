"""The emitter in a process of its own (``python -m kaito_compile.emit.worker``), started by :mod:`.pipeline`.

It reads batches of plans from stdin, each a length-prefixed pickle written by the build that started it (its
parent, our own code: the worker never reads a file, a cache or anything a repository holds), emits each batch
with an :class:`~.emitter.Emitter`, and writes one JSON line per batch to stdout: ``{"objects": [[…], …]}``, the
objects of each workspace in the order the batch listed them, or ``{"error": "…"}`` after which it stops.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from typing import BinaryIO

LENGTH_BYTES = 8


def write_batch(stream: BinaryIO, batch: list) -> None:
    """Send a batch of ``(plan, settings)`` pairs to a worker."""
    data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(LENGTH_BYTES, "big") + data)
    stream.flush()


def _read_batch(stream: BinaryIO) -> list | None:
    header = stream.read(LENGTH_BYTES)
    if len(header) < LENGTH_BYTES:
        return None  # the parent closed the pipe: no more batches
    return pickle.loads(stream.read(int.from_bytes(header, "big")))


def main() -> int:
    # The results go to the real stdout; anything else that prints (a library, a warning) goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return _serve(sys.stdin.buffer, results)
    except (KeyboardInterrupt, BrokenPipeError):
        return 1  # Ctrl-C reached the whole process group, or the build is gone: the build says what happened


def _serve(batches: BinaryIO, results: BinaryIO) -> int:
    emitter = None
    while (batch := _read_batch(batches)) is not None:
        try:
            if emitter is None:
                from .emitter import Emitter

                emitter = Emitter()
            for plan, settings in batch:
                emitter.add(plan, **settings)
            line = json.dumps({"objects": emitter.synth()})
        except Exception as exc:  # noqa: BLE001 - said to the parent, which reports it
            results.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
            results.flush()
            return 1
        results.write(line.encode() + b"\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
