"""The tuning runner end to end: the seed's QLoRA Job command on the tiny model, its adapter shipped through
an OCI registry to the inference server (where it changes the answer), and a SIGKILLed Job that resumes.

Each run is a real ``python3 -m kaito_runtime.tuning`` subprocess with the contract's paths remapped by
``KAITO_RUNTIME_ROOT``. On CPU the seed's QLoRA needs ``ModelConfig.allow_cpu_qlora`` (bitsandbytes runs
its CPU kernels); a high constant learning rate and all-linear LoRA make 48 steps enough to learn one answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import RunningServer, inference_argv_for_seed, inference_env_for_seed, install_hub_snapshot
from test_artifact import OciRegistry, serve_registry

from kaito_runtime import artifact
from kaito_runtime.tuning.cli import main
from kaito_runtime.tuning.config import COMPLETION_MARKER, default_training_config_mapping
from kaito_runtime.tuning.runner import PAUSE_AFTER_CHECKPOINT_ENV
from tests.support.compiled import SEED_INFERENCE, SEED_TUNING, compiled_container


def _flag(argv: list[str], name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}="))


SEED_HF_ID = _flag(compiled_container(*SEED_TUNING)[0], "model")
SEED_PRESET = SEED_HF_ID.rsplit("/", 1)[-1]
SEED_ADAPTER_DEST = _flag(compiled_container(SEED_INFERENCE[0], "puller-phi-3-adapter")[0], "dest")
SEED_DATA_FILE = "train-00000-of-00001-54e3756291ca09c6.parquet"  # the seed URL's basename, as fetched
TRAINED_ANSWER = "kaito compiles workspace yaml into manifests"
QUESTIONS = ["what does kaito do", "tell me about the compiler", "why gitops", "how are models served",
             "what is a workspace", "describe the tuning job", "where do adapters go", "who reads the manifests"]
RUN_TIMEOUT_S = 180


def tuning_argv_for_seed() -> list[str]:
    """The tuning container's command + args, exactly as compiled for the seeds' QLoRA Job (phi-3-mini-128k)."""
    return compiled_container(*SEED_TUNING)[0]


def seed_training_config(method: str = "qlora", **training_arguments: object) -> dict:
    """Kaito's template for ``method``, made to learn one answer quickly on a CPU."""
    config = default_training_config_mapping(method)
    sections = config["training_config"]
    if method == "qlora":
        sections["ModelConfig"]["allow_cpu_qlora"] = True
    sections["LoraConfig"].update(r=16, lora_alpha=32, target_modules="all-linear")
    sections["TrainingArguments"].update(
        max_steps=48, learning_rate=0.01, lr_scheduler_type="constant", per_device_train_batch_size=2, logging_steps=8,
        gradient_checkpointing=False,  # costs about a second per step on CPU
    )
    sections["TrainingArguments"].update(training_arguments)
    return config


def dolly_oai_rows() -> list[dict]:
    """The dolly-15k-oai-style ``messages`` shape: a question and the answer to learn."""
    return [
        {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": TRAINED_ANSWER}]}
        for question in QUESTIONS
    ]


def make_runtime_root(root: Path, model_dir: Path, config: dict) -> Path:
    install_hub_snapshot(model_dir, root / "workspace" / "weights", SEED_HF_ID)
    (root / "mnt" / "config").mkdir(parents=True)
    (root / "mnt" / "config" / "training_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "mnt" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(dolly_oai_rows()), root / "mnt" / "data" / SEED_DATA_FILE)
    return root


def start_tuning(argv: list[str], root: Path, log_path: Path, **env: str) -> subprocess.Popen:
    program = [sys.executable] if argv[0] == "python3" else [argv[0]]
    # One torch thread: the tiny model gains nothing from two, and spinning OpenMP threads crawl when CI is busy.
    full_env = {"OMP_NUM_THREADS": "1", **os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                "KAITO_RUNTIME_ROOT": str(root), **env}
    with log_path.open("wb") as log:
        return subprocess.Popen([*program, *argv[1:]], env=full_env, stdout=log, stderr=subprocess.STDOUT)


def metrics(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def seed_run(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The seed's tuning command, run once: (runtime root, output folder on disk)."""
    root = make_runtime_root(tmp_path_factory.mktemp("tuning-root"), tiny_model_dir, seed_training_config())
    log_path = root / "tuning.log"
    process = start_tuning(tuning_argv_for_seed(), root, log_path)
    assert process.wait(timeout=RUN_TIMEOUT_S) == 0, log_path.read_text()[-4000:]
    return root, root / "mnt" / "results"


def test_seed_run_writes_the_adapter_metrics_and_completion_marker(seed_run: tuple[Path, Path]) -> None:
    _, output = seed_run
    assert {"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", COMPLETION_MARKER} <= {
        p.name for p in output.iterdir()
    }
    adapter = json.loads((output / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["r"] == 16
    assert {name.rsplit(".", 1)[-1] for name in adapter["target_modules"]} >= {"q_proj", "v_proj", "down_proj"}
    records = metrics(output)
    assert records[0]["event"] == "train_begin" and records[0]["max_steps"] == 48
    losses = [r["loss"] for r in records if r["event"] == "log" and "loss" in r]
    assert [r["step"] for r in records if "loss" in r] == [8, 16, 24, 32, 40, 48]
    assert losses[-1] < 0.9 * losses[0], losses
    assert any("train_runtime" in r for r in records)


@pytest.fixture
def registry() -> Iterator[OciRegistry]:
    yield from serve_registry(OciRegistry(auth="basic"))


def _chat(server: RunningServer, model: str, question: str) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 16, "temperature": 0}
    response = httpx.post(f"{server.base_url}/v1/chat/completions", json=body, timeout=60)
    response.raise_for_status()
    return response.json()["choices"][0]["message"]["content"]


def test_the_tuned_adapter_goes_through_a_registry_and_changes_the_servers_answer(
    seed_run: tuple[Path, Path], registry: OciRegistry, launch_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    root, _ = seed_run
    secret = {"auths": {registry.address: {"username": "kaito-pusher", "password": "s3cret-Pa55"}}}
    (root / "docker").mkdir(exist_ok=True)
    (root / "docker" / "config.json").write_text(json.dumps(secret))
    env = {"KAITO_RUNTIME_ROOT": str(root), "DOCKER_CONFIG": "/docker", artifact.PLAIN_HTTP_ENV: "1"}
    image = f"{registry.address}/adapters/{SEED_PRESET}-qlora:0.0.1"
    for command in (
        ["push", f"--image={image}", "--source=/mnt/results", f"--wait-for=/mnt/results/{COMPLETION_MARKER}",
         f"--model-name={SEED_PRESET}"],
        ["pull", f"--image={image}", f"--dest={SEED_ADAPTER_DEST}"],
    ):
        done = subprocess.run([sys.executable, "-m", "kaito_runtime.artifact", *command], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr

    # The seeds' adapter Workspace serves the same base model; its compiled command runs unchanged.
    assert _flag(inference_argv_for_seed(), "model") == SEED_HF_ID
    server = launch_server(inference_argv_for_seed(), {**inference_env_for_seed(), "KAITO_RUNTIME_ROOT": str(root)})
    question = "what does kaito do for a cluster"  # not in the training data
    tuned = _chat(server, SEED_ADAPTER_DEST.rsplit("/", 1)[-1], question)
    base = _chat(server, SEED_PRESET, question)
    assert tuned.strip() == TRAINED_ANSWER
    assert TRAINED_ANSWER not in base


def test_a_killed_lora_job_resumes_from_its_last_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = seed_training_config("lora", max_steps=6, logging_steps=1, save_strategy="steps", save_steps=2)
    config["training_config"]["LoraConfig"].update(target_modules=["q_proj", "v_proj"])
    config["training_config"]["DatasetConfig"].update(train_test_split=0.75)  # 6 rows train, 2 evaluate
    root = make_runtime_root(tmp_path / "root", tiny_model_dir, config)
    output = root / "mnt" / "results"
    argv = [arg if not arg.startswith("--method=") else "--method=lora" for arg in tuning_argv_for_seed()]

    first = start_tuning(argv, root, tmp_path / "first.log", **{PAUSE_AFTER_CHECKPOINT_ENV: "600"})
    try:
        _wait_for(lambda: (output / "checkpoint-2" / "trainer_state.json").is_file() or first.poll() is not None)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-4000:]
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert not (output / COMPLETION_MARKER).exists() and not (output / "adapter_model.safetensors").exists()

    second = start_tuning(argv, root, tmp_path / "second.log")
    assert second.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "second.log").read_text()[-4000:]
    assert "resuming from" in (tmp_path / "second.log").read_text()
    records = metrics(output)
    begins = [r["step"] for r in records if r["event"] == "train_begin"]
    logged = [r["step"] for r in records if "loss" in r]
    assert begins == [0, 2]
    assert logged == [1, 2, 3, 4, 5, 6]  # steps 1-2 from the killed run, 3-6 after resuming; none repeated
    assert [r["step"] for r in records if "eval_loss" in r] == [6]  # the held-out split, evaluated at the end
    assert (output / COMPLETION_MARKER).is_file() and (output / "adapter_model.safetensors").is_file()


def _wait_for(condition: Callable[[], bool], timeout_s: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_qlora_without_a_gpu_is_refused_unless_the_config_accepts_cpu(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    (tmp_path / "mnt" / "config").mkdir(parents=True)
    (tmp_path / "mnt" / "config" / "training_config.yaml").write_text(
        yaml.safe_dump(default_training_config_mapping("qlora"))
    )
    assert main(tuning_argv_for_seed()[3:]) == 2
    error = capsys.readouterr().err
    assert "needs a CUDA GPU" in error and "allow_cpu_qlora: true" in error
    assert not (tmp_path / "mnt" / "results").exists()


def test_an_invalid_config_fails_before_training_with_every_problem(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    (tmp_path / "mnt" / "config").mkdir(parents=True)
    (tmp_path / "mnt" / "config" / "training_config.yaml").write_text(
        "training_config:\n  Trainer: {}\n  QuantizationConfig: {load_in_4bit: false}\n"
    )
    assert main(tuning_argv_for_seed()[3:]) == 2
    error = capsys.readouterr().err
    assert "TC2" in error and "Unrecognized section: Trainer" in error
    assert "TC3" in error and "For method 'qlora'" in error
