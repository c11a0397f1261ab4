"""The CLI's build and check use the cache beside out/ (unless KAITO_COMPILE_NO_CACHE is set) and draw a progress
bar only for a person at a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from kaito_compile import cli
from kaito_compile.cache import CACHE_FILE
from kaito_compile.output import sidecar_dir

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}


def kaito_compile(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kaito_compile.cli", *args], cwd=REPO, capture_output=True,
                          text=True, env=env or ENV, timeout=300)


def test_build_caches_beside_out_and_check_then_recomputes_nothing(tmp_path: Path):
    out = tmp_path / "out"
    assert kaito_compile("build", "examples/seeds", "-o", str(out)).returncode == 0
    cache_file = sidecar_dir(out) / CACHE_FILE
    assert cache_file.is_file()
    written = cache_file.stat().st_mtime_ns
    check = kaito_compile("check", "examples/seeds", "-o", str(out))
    assert check.returncode == 0 and "is up to date" in check.stdout
    assert cache_file.stat().st_mtime_ns == written  # every entry hit: nothing to save
    assert (sidecar_dir(out) / "spare").exists() is False  # no change yet: no replaced tree to keep


def test_no_cache_when_disabled(tmp_path: Path):
    out = tmp_path / "out"
    result = kaito_compile("build", "examples/seeds", "-o", str(out),
                           env={**ENV, "KAITO_COMPILE_NO_CACHE": "1"})
    assert result.returncode == 0, result.stderr
    assert not (sidecar_dir(out) / CACHE_FILE).exists()


@pytest.mark.parametrize(("tty", "ci", "quiet", "fmt", "shown"), [
    (True, None, False, "text", True),
    (False, None, False, "text", False),
    (True, "true", False, "text", False),
    (True, None, True, "text", False),
    (True, None, False, "json", False),
])
def test_the_progress_bar_is_only_for_a_terminal(monkeypatch: pytest.MonkeyPatch, tty, ci, quiet, fmt, shown):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    bar = cli._progress_bar(cli.Options(fmt, None, quiet, False))
    assert (bar is not None) is shown


def test_the_progress_bar_counts_long_phases_and_skips_short_ones(monkeypatch: pytest.MonkeyPatch):
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "_console", lambda: Console(file=terminal, force_terminal=True, width=100))
    bar = cli._ProgressBar()
    bar.phase("Validating", cli.PROGRESS_MIN_ITEMS - 1)
    bar.advance(3)
    assert bar._progress is None and terminal.getvalue() == ""
    bar.phase("Emitting", 200)
    for _ in range(200):
        bar.advance()
    bar.close()
    (task,) = bar._progress.tasks
    assert (task.description, task.completed, task.total) == ("Emitting", 200, 200)
    assert "Emitting" in terminal.getvalue()


def test_a_cached_check_loads_no_project_config(tmp_path: Path):
    """With every spec cached, `check` takes the files each config names from the cache instead of loading the
    config: pydantic and the config models are never imported, nor the YAML libraries (it parses no spec and
    renders no file). (InferenceSets are not cached: none here.)"""
    out, specs = tmp_path / "out", ("examples/vllm", "examples/tuning")
    assert kaito_compile("build", *specs, "-o", str(out)).returncode == 0
    check = subprocess.run([sys.executable, "-X", "importtime", "-m", "kaito_compile.cli", "check", *specs, "-o",
                            str(out)], cwd=REPO, capture_output=True, text=True, env=ENV, timeout=300)
    assert check.returncode == 0 and "is up to date" in check.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in check.stderr.splitlines() if line.startswith("import time")}
    assert "kaito_compile.cache" in imported and "pydantic" not in imported and "kaito_compile.config" not in imported
    assert not imported & {"yaml", "ruamel.yaml", "kaito_compile.output.manifest_yaml"}
