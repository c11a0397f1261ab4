"""emit/jsii_speedups.py and emit/raw.py: the speedups change nothing in the output, and a jsii they were not
verified against turns them off with a warning instead of failing the build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jsii
import pytest

from kaito_compile.emit import jsii_speedups, raw

ROOT = Path(__file__).resolve().parents[2]


def build(out: Path, speedups: str) -> dict[str, bytes]:
    env = {**os.environ, jsii_speedups.DISABLE_ENV: speedups, "KAITO_COMPILE_NO_CACHE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "runtime")])}
    result = subprocess.run([sys.executable, "-m", "kaito_compile.cli", "-q", "build", "examples", "-o", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jsii speedups are off" not in result.stderr
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def test_both_paths_write_identical_bytes(tmp_path: Path):
    fast, plain = build(tmp_path / "fast", "1"), build(tmp_path / "plain", "0")
    assert len(fast) > 20
    assert fast == plain


def test_the_verified_jsii_is_the_installed_one():
    assert jsii.__version__ == jsii_speedups.VERIFIED_JSII, "re-verify emit/jsii_speedups.py and update the pin"


@pytest.mark.parametrize("break_jsii", ["version", "missing-attribute", "raises"])
def test_unexpected_jsii_internals_turn_the_speedups_off_with_a_warning(monkeypatch: pytest.MonkeyPatch, capsys,
                                                                       break_jsii: str):
    import jsii._kernel as jsii_kernel
    import jsii._type_checking as jsii_type_checking

    if break_jsii == "version":
        monkeypatch.setattr(jsii, "__version__", "9.9.9")
    elif break_jsii == "missing-attribute":
        monkeypatch.delattr(jsii_kernel, "_make_reference_for_native")
    else:
        monkeypatch.setattr(jsii_speedups, "_same_serialisation", lambda *_: 1 / 0)
    before = getattr(jsii_type_checking, "_resolved_check", None)
    monkeypatch.delenv(jsii_speedups.DISABLE_ENV, raising=False)
    assert jsii_speedups.install.__wrapped__() is False
    assert "kaito-compile: warning: jsii speedups are off" in capsys.readouterr().err
    assert getattr(jsii_type_checking, "_resolved_check", None) is before


def test_raw_patches_travel_on_their_object_and_are_taken_once():
    class Obj:  # any object that takes attributes, as jsii's proxies do
        pass

    first, second = Obj(), Obj()
    raw.add(first, "/spec", {"a": 1})
    raw.add(second, "/spec/template/spec/volumes/-", {"b": 2})
    assert raw.take(first) == [raw.RawPatch("/spec", {"a": 1})]
    assert raw.take(first) == []
    assert raw.take(second) == [raw.RawPatch("/spec/template/spec/volumes/-", {"b": 2})]
    assert not hasattr(raw, "_PENDING")
