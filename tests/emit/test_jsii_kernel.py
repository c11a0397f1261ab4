"""emit/jsii_kernel.py: an emitting process runs one patched node kernel and no relay; a kernel that is not the
verified one is left alone, and one that does not start falls back to jsii's own way with a warning.

Each case runs in a fresh interpreter: jsii starts its kernel once per process, when cdk8s is first imported."""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsii._embedded.jsii as embedded
import pytest

from kaito_compile.emit import jsii_kernel

ROOT = Path(__file__).resolve().parents[2]
SYNTH_ONE_OBJECT = """
import os, sys
from kaito_compile.emit import jsii_kernel
{before}
from kaito_compile.emit.emitter import Emitter
import cdk8s
from jsii._runtime import kernel
chart = cdk8s.Chart(cdk8s.App(), "c")
cdk8s.ApiObject(chart, "o", api_version="v1", kind="ConfigMap", metadata={{"name": "x"}})
assert chart.to_json() == [{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "x"}}}}]
process = kernel.provider._process._process
children = [pid for pid in os.listdir("/proc") if pid.isdigit()
            and open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1] == str(process.pid)]
command = open(f"/proc/{{process.pid}}/cmdline", "rb").read().split(b"\\0")
print(jsii_kernel.install(), len(children), b" ".join(command).decode())
"""


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")]), **env}
    environment.pop("JSII_RUNTIME", None)
    environment.pop("KAITO_COMPILE_JSII_SPEEDUPS", None)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=300)


def test_an_emitting_process_runs_the_patched_kernel_without_a_relay():
    result = run_python(SYNTH_ONE_OBJECT.format(before=""))
    assert result.returncode == 0, result.stderr
    installed, children, command = result.stdout.split(" ", 2)
    assert (installed, children) == ("True", "0"), command  # node itself, no second node under it
    assert command.split()[-1].endswith("lib/program.js")
    assert "warning" not in result.stderr


def test_a_kernel_that_does_not_start_falls_back_to_jsii_with_a_warning():
    result = run_python(SYNTH_ONE_OBJECT.format(before="jsii_kernel.LAUNCH = 'exit 3'"))
    assert result.returncode == 0, result.stderr
    installed, children, command = result.stdout.split(" ", 2)
    assert (installed, children) == ("True", "1")  # jsii's relay and its kernel
    assert "bin/jsii-runtime.js" in command
    assert "kaito-compile: warning: jsii's kernel could not be started directly" in result.stderr


@pytest.mark.parametrize("env", [{"KAITO_COMPILE_JSII_SPEEDUPS": "0"}, {"JSII_RUNTIME": "runtime.js"}])
def test_the_speedups_switch_and_a_chosen_runtime_leave_jsii_alone(monkeypatch: pytest.MonkeyPatch, env: dict):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert jsii_kernel._install() is False


def test_only_the_verified_kernel_is_patched_and_only_its_assertion(monkeypatch: pytest.MonkeyPatch):
    files = jsii_kernel._kernel_files(embedded)
    original = (Path(embedded.__file__).parent / "lib__program.js").read_bytes()
    assert hashlib.sha256(original).hexdigest() == jsii_kernel.VERIFIED_PROGRAM_SHA256
    assert set(files) == set(embedded.EMBEDDED_FILES.values())
    patched = files[jsii_kernel.PROGRAM].decode()
    assert patched.count(jsii_kernel.LAZY_ASSERTION) == 1 and jsii_kernel.EAGER_ASSERTION not in patched
    assert patched.replace(jsii_kernel.LAZY_ASSERTION, jsii_kernel.EAGER_ASSERTION).encode() == original
    monkeypatch.setattr(jsii_kernel, "VERIFIED_PROGRAM_SHA256", "0" * 64)
    assert jsii_kernel._kernel_files(embedded) is None


START_AND_WAIT = """
from kaito_compile.emit.emitter import Emitter
import cdk8s
from jsii._runtime import kernel
print(kernel.provider._process._process.pid, flush=True)
import time; time.sleep(300)
"""


def kernel_roots(temporary: Path) -> list[Path]:
    return sorted(temporary.glob(jsii_kernel.ROOT_PREFIX + "*"))


def test_the_kernel_keeps_its_files_in_one_directory_removed_when_it_stops(tmp_path: Path):
    """The kernel's script and node's unpacked assemblies (node's TMPDIR) are in one kaito-compile-kernel-*
    directory, and nothing of it is left once the process is done."""
    code = SYNTH_ONE_OBJECT.format(before="") + """
(root,) = [started.root for started in jsii_kernel._STARTED]
print(sorted(path.name for path in root.iterdir()), sorted(path.name[:12] for path in (root / "tmp").iterdir()))
"""
    result = run_python(code, TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "['.lock', 'runtime', 'tmp'] ['jsii-kernel-']"
    assert list(tmp_path.iterdir()) == []


def test_a_kernel_directory_left_by_a_killed_build_is_removed_by_the_next_kernel_start(tmp_path: Path):
    """SIGKILL to the whole process group (a cancelled CI job, ``timeout -s KILL``): nothing of the build can clean
    up, so the next process that starts a kernel removes the directory once its lock shows the owner gone."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")]),
                   "TMPDIR": str(tmp_path)}
    environment.pop("JSII_RUNTIME", None)
    environment.pop("KAITO_COMPILE_JSII_SPEEDUPS", None)
    process = subprocess.Popen([sys.executable, "-c", START_AND_WAIT], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline().strip().isdigit()  # the kernel answered: its files are in place
        (root,) = kernel_roots(tmp_path)
        old = time.time() - jsii_kernel.ABANDONED_AFTER_S - 1
        os.utime(root, (old, old))
        assert jsii_kernel.reap_abandoned(tmp_path) == []  # its process holds the lock
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert kernel_roots(tmp_path) == [root] and any((root / "tmp").iterdir())  # what the kill left
    result = run_python(SYNTH_ONE_OBJECT.format(before=""), TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_only_abandoned_kernel_directories_of_this_user_are_reaped(tmp_path: Path):
    def root(name: str, *, age: float = jsii_kernel.ABANDONED_AFTER_S + 5, lock: bool = True) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "tmp").mkdir()
        if lock:
            (path / jsii_kernel.LOCK).touch()
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    root(jsii_kernel.ROOT_PREFIX + "abandoned")
    held = root(jsii_kernel.ROOT_PREFIX + "in-use")
    root(jsii_kernel.ROOT_PREFIX + "young", age=1)
    root(jsii_kernel.ROOT_PREFIX + "no-lock", lock=False)
    root("someone-else-abandoned")
    (tmp_path / (jsii_kernel.ROOT_PREFIX + "link")).symlink_to(root("target"))
    (tmp_path / (jsii_kernel.ROOT_PREFIX + "file")).write_text("")
    holder = os.open(held / jsii_kernel.LOCK, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert jsii_kernel.reap_abandoned(tmp_path) == [jsii_kernel.ROOT_PREFIX + "abandoned"]
    finally:
        os.close(holder)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        jsii_kernel.ROOT_PREFIX + name for name in ("in-use", "young", "no-lock", "link", "file")) + [
        "someone-else-abandoned", "target"]
