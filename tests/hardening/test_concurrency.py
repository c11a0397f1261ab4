"""Concurrent and killed ``kaito-compile build`` processes on one output tree, through the real command line.

``tests/output/test_write.py`` drives ``write_tree`` directly; here whole CLI processes compete: the writer lock
must serialise two builds (the second waits, then writes after the first), a build waiting for the lock must be
interruptible without touching ``out/``, and a build SIGKILLed at the writer's pause points (``locked``,
``staged``, ``swapped``, see ``_pause`` in kaito_compile/output/write.py) must leave ``out/`` exactly the previous
tree or exactly the new one, never a mixture, and the next normal build must recover. The CLI keeps the replaced
tree as a spare and reconciles it into the next one, so the kill tests run with and without a spare.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .cli import CliRun, kill_cli, run_cli, start_cli, tree_bytes, wait_cli

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "examples" / "seeds" / "kaito_workspace_phi_3.yaml"
PAUSE_TIMEOUT_S = 90  # a paused build first starts node for cdk8s: slow on a busy machine
WAIT_TIMEOUT_S = 120


@dataclass(frozen=True)
class Project:
    """Two versions of a spec directory and the trees they compile to, plus a warm build directory."""

    root: Path
    v1: Path
    v2: Path
    warm: Path  # a parent directory holding out/ (= tree_v1) and its sidecar (build cache, spare tree)
    tree_v1: dict[str, bytes]
    tree_v2: dict[str, bytes]


def build(project_root: Path, specs: Path, out: Path, logs: Path) -> CliRun:
    run = run_cli(["build", str(specs.relative_to(project_root)), "-o", str(out)], cwd=project_root, logs=logs)
    assert run.exit_code == 0, run.output
    return run


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("concurrency")
    (root / ".git").mkdir()
    v1, v2 = root / "specs-v1", root / "specs-v2"
    v1.mkdir()
    v2.mkdir()
    seed = SEED.read_text()
    (v1 / "phi-3.yaml").write_text(seed)
    (v2 / "phi-3.yaml").write_text(seed.replace("apps: phi-3", "apps: phi-3-v2"))
    assert (v2 / "phi-3.yaml").read_text() != seed
    scratch = root / "scratch"
    build(root, v2, scratch / "out", root / "logs" / "v2")
    tree_v2 = tree_bytes(scratch / "out")
    build(root, v1, scratch / "out", root / "logs" / "v1")  # the cache now holds both; the spare is v2
    tree_v1 = tree_bytes(scratch / "out")
    assert tree_v1 != tree_v2
    return Project(root, v1, v2, scratch, tree_v1, tree_v2)


def fresh_out(project: Project, tmp_path: Path, *, spare: bool = True) -> Path:
    """A copy of the warm directory: out/ holds tree v1; its sidecar the cache and (with ``spare``) the spare."""
    parent = tmp_path / "work"
    shutil.copytree(project.warm, parent, symlinks=True)
    if not spare:
        shutil.rmtree(parent / ".out.kaito-compile" / "spare", ignore_errors=True)
    return parent / "out"


def start_build(project: Project, specs: Path, out: Path, logs: Path, *, pause: str = "") -> subprocess.Popen:
    from .cli import cli_env

    env = cli_env(**({"KAITO_COMPILE_TEST_PAUSE": pause} if pause else {}))
    return start_cli(["build", str(specs.relative_to(project.root)), "-o", str(out)], cwd=project.root, logs=logs,
                     env=env, stdin=subprocess.PIPE)


def wait_until_paused(process: subprocess.Popen, logs: Path, point: str) -> None:
    wait_for_line(process, logs, f"kaito-compile: paused at {point}")


def wait_for_line(process: subprocess.Popen, logs: Path, text: str) -> None:
    """Until the build running as ``process`` has written ``text`` to its stderr (it is still running then)."""
    deadline = time.monotonic() + PAUSE_TIMEOUT_S
    while text not in (logs / "stderr").read_text(errors="replace"):
        assert process.poll() is None, f"build exited with {process.returncode} before saying {text!r}: " + (
            logs / "stderr").read_text(errors="replace")
        assert time.monotonic() < deadline, f"build did not say {text!r} within {PAUSE_TIMEOUT_S} s"
        time.sleep(0.05)


def release(process: subprocess.Popen) -> None:
    process.stdin.write(b"\n")
    process.stdin.close()


def leftovers(out: Path) -> list[str]:
    sidecar = out.parent / f".{out.name}.kaito-compile"
    return sorted(name for name in ("staging", "previous") if (sidecar / name).exists())


def test_two_builds_at_once_are_serialised_by_the_writer_lock(project: Project, tmp_path: Path):
    out = fresh_out(project, tmp_path)
    first_logs, second_logs = tmp_path / "first", tmp_path / "second"
    started = time.monotonic()
    first = start_build(project, project.v2, out, first_logs, pause="locked")
    wait_until_paused(first, first_logs, "locked")
    second = start_build(project, project.v1, out, second_logs)
    wait_for_line(second, second_logs, f"kaito-compile: waiting for another kaito-compile (pid {first.pid}) to "
                                       f"finish writing")
    assert second.poll() is None, "the second build did not wait for the writer lock"
    assert tree_bytes(out) == project.tree_v1, "out/ changed while its writer was paused"
    release(first)
    first_run = wait_cli(first, [], first_logs, started=started, timeout_s=WAIT_TIMEOUT_S)
    second_run = wait_cli(second, [], second_logs, started=started, timeout_s=WAIT_TIMEOUT_S)
    assert first_run.exit_code == 0 and second_run.exit_code == 0, first_run.output + second_run.output
    assert tree_bytes(out) == project.tree_v1, "the second build did not write after the first"
    assert " 0 updated" not in second_run.stdout, f"the second build did not see the first's tree:\n{second_run.stdout}"
    assert leftovers(out) == []


def test_a_build_waiting_for_the_lock_can_be_interrupted_without_touching_out(project: Project, tmp_path: Path):
    out = fresh_out(project, tmp_path)
    holder_logs, waiter_logs = tmp_path / "holder", tmp_path / "waiter"
    started = time.monotonic()
    holder = start_build(project, project.v2, out, holder_logs, pause="locked")
    try:
        wait_until_paused(holder, holder_logs, "locked")
        waiter = start_build(project, project.v2, out, waiter_logs)
        wait_for_line(waiter, waiter_logs, "kaito-compile: waiting for another kaito-compile (pid ")
        assert waiter.poll() is None, "the build did not wait for the writer lock"
        waiter.send_signal(signal.SIGINT)  # Ctrl-C: the user gives up waiting
        waited = wait_cli(waiter, [], waiter_logs, started=started, timeout_s=WAIT_TIMEOUT_S)
        assert waited.exit_code == 2 and "kaito-compile: interrupted" in waited.stderr, waited.output
        assert "Traceback" not in waited.stderr, waited.output
        assert tree_bytes(out) == project.tree_v1
    finally:
        kill_cli(holder)
        holder.wait(timeout=WAIT_TIMEOUT_S)
    assert tree_bytes(out) == project.tree_v1


@pytest.mark.parametrize(("point", "spare", "after_kill"), [
    ("locked", True, "v1"),
    ("staged", True, "v1"),
    ("swapped", True, "v2"),
    ("staged", False, "v1"),
    ("swapped", False, "v2"),
], ids=["locked", "staged-spare", "swapped-spare", "staged-fresh", "swapped-fresh"])
def test_a_build_killed_midway_leaves_a_whole_tree_and_the_next_build_recovers(
        project: Project, tmp_path: Path, point: str, spare: bool, after_kill: str):
    out = fresh_out(project, tmp_path, spare=spare)
    logs = tmp_path / "killed"
    killed = start_build(project, project.v2, out, logs, pause=point)
    wait_until_paused(killed, logs, point)
    kill_cli(killed, signal.SIGKILL)
    assert killed.wait(timeout=WAIT_TIMEOUT_S) == -signal.SIGKILL
    expected = {"v1": project.tree_v1, "v2": project.tree_v2}[after_kill]
    assert tree_bytes(out) == expected, f"out/ is not exactly tree {after_kill} after a SIGKILL at {point}"

    recovery = build(project.root, project.v2, out, tmp_path / "recovery")
    assert tree_bytes(out) == project.tree_v2, recovery.output
    assert leftovers(out) == [], "the recovering build left the killed build's staging behind"
    check = run_cli(["check", str(project.v2.relative_to(project.root)), "-o", str(out)], cwd=project.root,
                    logs=tmp_path / "check")
    assert check.exit_code == 0, check.output
