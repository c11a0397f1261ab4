"""Run the real ``kaito-compile`` in a subprocess under hard resource limits, and measure what it used.

The limits are set in the child with ``resource.setrlimit`` (address space and CPU time), so a runaway parse or
plan is stopped by the kernel rather than by the test's patience; the child's peak RSS and CPU time come from
``os.wait4``. Output goes to files, never to pipes, so a chatty child cannot block on a full pipe while the test
waits for it.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ADDRESS_SPACE_LIMIT = 1 << 30  # 1 GiB
CPU_LIMIT_S = 30
WALL_LIMIT_S = 120  # CPU time is the real bound; wall time only guards against a child that blocks
CLI = [sys.executable, "-m", "kaito_compile.cli"]


@dataclass(frozen=True)
class CliRun:
    args: tuple[str, ...]
    exit_code: int  # negative: killed by that signal
    stdout: str
    stderr: str
    cpu_s: float
    max_rss_mb: float
    wall_s: float

    @property
    def output(self) -> str:
        return f"$ kaito-compile {' '.join(self.args)}\nexit {self.exit_code}\n{self.stdout}\n{self.stderr}"


def _limit_resources() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S))


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment for the CLI, without debugging or pause switches unless ``extra`` sets them: test
    what a user gets (no traceback, no pause)."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("KAITO_COMPILE_DEBUG", "KAITO_COMPILE_TEST_PAUSE")}
    return {**env, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "PYTHONDONTWRITEBYTECODE": "1",
            "HF_HUB_OFFLINE": "1", **extra}


def start_cli(args: list[str], *, cwd: Path, logs: Path, env: dict[str, str] | None = None,
              stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start ``kaito-compile ARGS`` limited to 1 GiB of address space and 30 s of CPU; output in ``logs``.

    The process leads a session of its own, so that :func:`kill_cli` reaches its node (jsii) child as well."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / "stdout").open("wb") as out, (logs / "stderr").open("wb") as err:
        return subprocess.Popen([*CLI, *args], cwd=cwd, env=env or cli_env(), stdin=stdin, stdout=out, stderr=err,
                                preexec_fn=_limit_resources, start_new_session=True)


def kill_cli(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the CLI process and the children it started (its own process group)."""
    os.killpg(process.pid, sig)


def wait_cli(process: subprocess.Popen, args: list[str], logs: Path, *, started: float,
             timeout_s: float = WALL_LIMIT_S) -> CliRun:
    """Reap ``process`` (killing it past ``timeout_s``) and collect its exit code, output and resource use."""
    deadline = started + timeout_s
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            kill_cli(process)
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    return CliRun(tuple(args), process.returncode, (logs / "stdout").read_text(errors="replace"),
                  (logs / "stderr").read_text(errors="replace"), usage.ru_utime + usage.ru_stime,
                  usage.ru_maxrss / 1024, time.monotonic() - started)


def run_cli(args: list[str], *, cwd: Path, logs: Path, env: dict[str, str] | None = None) -> CliRun:
    started = time.monotonic()
    return wait_cli(start_cli(args, cwd=cwd, logs=logs, env=env), args, logs, started=started)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative posix path → bytes); symlinks as ``-> target``."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = b"-> " + os.fsencode(os.readlink(path))
        elif path.is_file():
            found[rel] = path.read_bytes()
        elif path.is_dir() and not any(path.iterdir()):
            found[rel + "/"] = b""
    return found


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target
