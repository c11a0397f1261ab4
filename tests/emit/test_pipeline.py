"""emit/pipeline.py: a build that emits full batches does so in a worker process, and writes the same bytes as one
that emits in its own process; a worker that fails is an error of the build, never a hang or a silent gap."""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from kaito_compile import compiler
from kaito_compile.compiler import Catalogs
from kaito_compile.config import ConfigResolver
from kaito_compile.emit import pipeline
from kaito_compile.plan.codec import plan_from_data, plan_to_data
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


def test_plans_cross_the_pipe_unchanged():
    plans = example_plans() + bench_plans(120)
    assert len(plans) > 130 and {plan.kind for plan in plans} >= {"inference-preset", "inference-template", "tuning"}
    for plan in plans:
        assert plan_from_data(json.loads(json.dumps(plan_to_data(plan)))) == plan, plan.workspace


def test_a_failing_worker_is_an_error_of_the_build():
    emission = pipeline.Emission(batch_size=1)
    emission.submit("ws", example_plans()[0], {"no_such_setting": True})  # the worker's emitter refuses it
    with pytest.raises(pipeline.EmitterFailed, match="the emitter process failed: TypeError"):
        list(emission.finish())


def test_a_batch_that_cannot_be_sent_is_an_error_of_the_build():
    emission = pipeline.Emission(batch_size=1)
    emission.submit("ws", example_plans()[0], {"not_json": object()})
    with pytest.raises(pipeline.EmitterFailed, match="could not be sent to the emitter process: TypeError"):
        list(emission.finish())


def test_a_cancelled_emission_ends_its_worker():
    emission = pipeline.Emission(batch_size=1)
    emission.submit("ws", example_plans()[0], {})
    worker = emission._worker
    emission.cancel()
    assert worker.process.poll() is not None
    assert list(emission.finish()) == []


def test_a_worker_cancelled_mid_batch_stops_its_kernel_cleanly_and_says_nothing(capfd: pytest.CaptureFixture):
    """Cancelling ends the worker with SIGTERM, so it stops its node kernel the way jsii does at exit: the kernel
    and the kernel's temporary files are gone, and nothing is printed into the build's output (a kernel left to
    find its caller gone would print its crash, a stack and a 300 kB line of minified JavaScript)."""
    emission = pipeline.Emission(batch_size=300)
    emission.expect(300)
    worker = emission._worker
    for key, plan in enumerate(bench_plans(300)):
        emission.submit(key, plan, {})
    deadline = time.monotonic() + 120
    while not (kernels := _children(worker.process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kernels, "the worker started no node kernel"
    program = Path(Path(f"/proc/{kernels[0]}/cmdline").read_bytes().split(b"\0")[-2].decode())
    assert program.name == "program.js" and program.exists()
    time.sleep(1.5)  # the kernel has loaded its assemblies and is in the middle of the batch
    emission.cancel()
    assert worker.process.returncode == 128 + 15  # it exited through its SIGTERM handler
    assert not any(os.path.exists(f"/proc/{pid}") for pid in kernels)
    assert not program.parent.parent.exists()
    assert capfd.readouterr().err == ""


def _children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry))
    return found


def example_plans() -> list:
    report, plans, _ = compiler.plan_paths([str(ROOT / "examples")], ConfigResolver(), Catalogs())
    return plans


def bench_plans(count: int) -> list:
    """Plans of the benchmark's synthetic repository (every provisioner, both runtimes, adapters, tuning)."""
    import bench.compile as bench

    with tempfile.TemporaryDirectory() as directory:
        bench.generate(Path(directory) / "repo", count)
        report, plans, _ = compiler.plan_paths([str(Path(directory) / "repo")], ConfigResolver(), Catalogs())
    return plans


def _recording(init, started: list):
    def record(self):
        started.append(self)
        init(self)
    return record
