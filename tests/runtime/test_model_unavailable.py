"""A model that is neither in ``--download-dir`` nor downloadable (issue 12: offline, the server died with a chained
traceback naming neither): both runtimes end with one line naming the model and the cache, and exit code 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import free_port, inference_argv_for_seed, inference_env_for_seed

from kaito_runtime.hub import MODEL_UNAVAILABLE_EXIT_CODE
from kaito_runtime.tuning.cli import main as tuning_main
from kaito_runtime.tuning.config import default_training_config_mapping
from tests.support.compiled import SEED_TUNING, compiled_container

SEED_MODEL = "microsoft/phi-3-mini-128k-instruct"


def test_the_server_reports_an_unreachable_model_in_one_line_and_exits_3(tmp_path: Path) -> None:
    argv = inference_argv_for_seed()
    adapter = tmp_path / "mnt" / "adapter" / "phi-3-adapter"  # the seed's adapter is there; only the model is not
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    env = {**os.environ, **inference_env_for_seed(), "KAITO_RUNTIME_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, *argv[1:], f"--port={free_port()}", "--host=127.0.0.1"], env=env,
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == MODEL_UNAVAILABLE_EXIT_CODE == 3, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert f"model {SEED_MODEL!r}" in errors[0]
    assert f"/workspace/weights (at {tmp_path}/workspace/weights)" in errors[0]
    assert "HF_HUB_OFFLINE is set" in errors[0]


def test_the_tuning_runner_reports_an_unreachable_model_in_one_line_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = default_training_config_mapping("qlora")
    config["training_config"].setdefault("ModelConfig", {})["allow_cpu_qlora"] = True
    (tmp_path / "mnt" / "config").mkdir(parents=True)
    (tmp_path / "mnt" / "config" / "training_config.yaml").write_text(yaml.safe_dump(config))
    argv = compiled_container(*SEED_TUNING)[0]

    assert tuning_main(argv[3:]) == 3
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "Traceback" not in error
    assert error.startswith(f"kaito-tuning: error: model {SEED_MODEL!r}") and "/workspace/weights" in error
