"""emit/jsii_kernel.py: an emitting process runs one patched node kernel and no relay; a kernel that is not the
verified one is left alone, and one that does not start falls back to jsii's own way with a warning.

Each case runs in a fresh interpreter: jsii starts its kernel once per process, when cdk8s is first imported."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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
