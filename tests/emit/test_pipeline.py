"""emit/pipeline.py: a build that emits full batches does so in a worker process, and writes the same bytes as one
that emits in its own process; a worker that fails is an error of the build, never a hang or a silent gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaito_compile import compiler
from kaito_compile.emit import pipeline
from tests.support.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]


def build_examples(out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.chdir(ROOT)
    code, stdout, stderr = run_cli("-q", "build", "examples", "-o", str(out))
    assert code == 0, stdout + stderr
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def test_a_build_through_the_worker_writes_what_an_in_process_build_writes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KAITO_COMPILE_NO_CACHE", "1")
    started = []
    monkeypatch.setattr(pipeline._Worker, "__init__", _recording(pipeline._Worker.__init__, started))
    here = build_examples(tmp_path / "here", monkeypatch)
    assert started == []  # fewer workspaces than a batch: emitted in this process

    monkeypatch.setattr(compiler, "EMIT_BATCH", 3)  # every third workspace fills a batch: the worker emits
    through_worker = build_examples(tmp_path / "worker", monkeypatch)
    assert len(started) == 1
    assert len(here) > 20
    assert through_worker == here


def test_a_failing_worker_is_an_error_of_the_build():
    emission = pipeline.Emission(batch_size=1)
    emission.submit("ws", object(), {})  # not a plan: the worker's emitter fails on it
    with pytest.raises(pipeline.EmitterFailed, match="the emitter process failed: AttributeError"):
        list(emission.finish())


def test_a_cancelled_emission_ends_its_worker():
    emission = pipeline.Emission(batch_size=1)
    emission.submit("ws", object(), {})
    worker = emission._worker
    emission.cancel()
    assert worker.process.poll() is not None
    assert list(emission.finish()) == []


def _recording(init, started: list):
    def record(self):
        started.append(self)
        init(self)
    return record
