"""Shared fixtures for the runtime tests: a tiny causal LM built offline, and a helper to run the real server.

No model can be downloaded on CI, so a 2-layer Llama with a BPE tokenizer trained on generated sentences stands in
for the preset (toolchain.md §4). It is written twice: as a plain folder, and inside a Hugging Face hub cache at
``<runtime root>/workspace/weights``, so the compiled command ``--model=microsoft/phi-3-mini-4k-instruct
--download-dir=/workspace/weights`` resolves offline once ``KAITO_RUNTIME_ROOT`` points at that root.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.compiled import SEED_INFERENCE, compiled_container

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED_ADAPTER = "phi-3-adapter"
SNAPSHOT_REVISION = "0123456789abcdef0123456789abcdef01234567"
SERVER_START_TIMEOUT_S = 90.0

CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)
_SENTENCES = (
    "kaito compiles workspace yaml into manifests for gitops and serves models on gpu nodes with adapters",
    "the quick brown fox jumps over a lazy dog while tokens stream from the server to every client",
)
_WORDS = " ".join(_SENTENCES).split()


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of the random Llama; the benchmark asks for a larger one."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int = 400


def _training_corpus(lines: int = 240) -> list[str]:
    return [" ".join(_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(4 + i % 9)) for i in range(lines)]


def build_tiny_tokenizer(vocab_size: int):
    """A byte-level BPE tokenizer with a chat template, trained in milliseconds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    backend.train_from_iterator(_training_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(dest: Path, spec: TinyModelSpec = TinyModelSpec(), seed: int = 0) -> Path:
    """Write a random Llama causal LM plus its tokenizer to ``dest`` (about 0.1 s for the default shape)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    tokenizer = build_tiny_tokenizer(spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return dest


def install_hub_snapshot(model_dir: Path, cache_dir: Path, repo_id: str, revision: str = SNAPSHOT_REVISION) -> Path:
    """Copy ``model_dir`` into a hub cache as ``snapshot_download(repo_id, cache_dir=...)`` would have left it."""
    repo_folder = cache_dir / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_folder / "snapshots" / revision
    shutil.copytree(model_dir, snapshot, dirs_exist_ok=True)
    (repo_folder / "refs").mkdir(parents=True, exist_ok=True)
    (repo_folder / "refs" / "main").write_text(revision)
    return snapshot


def build_lora_adapter(base_dir: Path, dest: Path, seed: int = 1) -> Path:
    """Save a LoRA adapter whose random non-zero weights visibly change the base model's greedy output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    get_peft_model(base, config).save_pretrained(dest)
    return dest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain folder holding the tiny model and tokenizer (``from_pretrained(path)`` works on it)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter for the tiny model, as a tuning run or an adapter image would deliver it."""
    return build_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp("tiny-adapter") / SEED_ADAPTER)


@pytest.fixture(scope="session")
def seed_options() -> argparse.Namespace:
    """The seed command line parsed by the server's own parser; names, dtype and layout derive from it."""
    from kaito_runtime.inference.cli import build_parser

    return build_parser().parse_args(inference_argv_for_seed()[3:])


@pytest.fixture(scope="session")
def served_name(seed_options: argparse.Namespace) -> str:
    return seed_options.served_model_name


@pytest.fixture(scope="session")
def seed_adapter(seed_options: argparse.Namespace) -> tuple[str, float]:
    """Name and strength of the seed's adapter (the first with a strength flag, else a default at 1.0)."""
    return seed_options.adapter_strength[0] if seed_options.adapter_strength else (SEED_ADAPTER, 1.0)


@dataclass
class ReferenceLM:
    """The tiny model run in-process with plain transformers/peft: what the server must answer.

    ``model`` is ``"base"``, ``"adapter"`` (the seed adapter alone) or ``"default"`` (the base plus the adapter at
    the seed's strength, merged the way the server merges it).
    """

    tokenizer: Any
    peft_model: Any

    def chat_ids(self, messages: list[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def text_ids(self, text: str) -> list[int]:
        return self.tokenizer(text)["input_ids"]

    def greedy(self, prompt_ids: list[int], max_new_tokens: int, model: str, min_new_tokens: int = 0) -> str:
        import torch

        inputs = {"input_ids": torch.tensor([prompt_ids]), "attention_mask": torch.ones(1, len(prompt_ids), dtype=int)}
        kwargs = dict(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, do_sample=False,
                      pad_token_id=self.tokenizer.pad_token_id)
        with torch.inference_mode():
            if model == "base":
                with self.peft_model.disable_adapter():
                    output = self.peft_model.generate(**inputs, **kwargs)
            else:
                self.peft_model.set_adapter(model)
                output = self.peft_model.generate(**inputs, **kwargs)
        return self.tokenizer.decode(output[0, len(prompt_ids) :], skip_special_tokens=True)


@pytest.fixture(scope="session")
def reference_lm(
    tiny_model_dir: Path, tiny_adapter_dir: Path, seed_options: argparse.Namespace, seed_adapter: tuple[str, float]
) -> ReferenceLM:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = "auto" if seed_options.dtype == "auto" else getattr(torch, seed_options.dtype)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=dtype).eval()
    peft_model = PeftModel.from_pretrained(base, str(tiny_adapter_dir), adapter_name="adapter")
    peft_model.add_weighted_adapter(["adapter"], [seed_adapter[1]], adapter_name="default", combination_type="cat")
    return ReferenceLM(tokenizer=AutoTokenizer.from_pretrained(tiny_model_dir), peft_model=peft_model.eval())


@pytest.fixture(scope="session")
def seed_runtime_root(
    tiny_model_dir: Path,
    tiny_adapter_dir: Path,
    seed_options: argparse.Namespace,
    seed_adapter: tuple[str, float],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A ``KAITO_RUNTIME_ROOT`` laid out like the seed workspace's pod: the weights its ``--model`` names (in the
    hub cache of ``--download-dir``, or at the absolute path) and its adapter under ``--adapters-dir``."""
    root = tmp_path_factory.mktemp("runtime-root")
    if seed_options.model.startswith("/"):
        shutil.copytree(tiny_model_dir, root / seed_options.model.lstrip("/"))
    else:
        install_hub_snapshot(tiny_model_dir, root / seed_options.download_dir.lstrip("/"), seed_options.model)
    shutil.copytree(tiny_adapter_dir, root / seed_options.adapters_dir.lstrip("/") / seed_adapter[0])
    return root


def inference_argv_for_seed() -> list[str]:
    """The inference container's command + args, exactly as compiled for the seeds' phi-3 adapter workspace."""
    return compiled_container(*SEED_INFERENCE)[0]


def inference_env_for_seed() -> dict[str, str]:
    """The literal environment of that compiled container (secret references are not set in tests)."""
    return compiled_container(*SEED_INFERENCE)[1]


@dataclass
class RunningServer:
    """A server subprocess bound to 127.0.0.1 and its base URL."""

    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _local_argv(argv: Sequence[str], port: int) -> list[str]:
    """Run the contract's ``python3`` with this interpreter and pin the socket to a free loopback port.

    The appended flags win because argparse keeps the last occurrence of an option.
    """
    program = [sys.executable] if argv[0] in ("python3", "python") else [argv[0]]
    return [*program, *argv[1:], f"--port={port}", "--host=127.0.0.1"]


def _wait_until_healthy(server: RunningServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()[-4000:]}")
        try:
            if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"server not healthy after {timeout_s} s:\n{server.log()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_server(
    argv: Sequence[str], env: dict[str, str], *, log_path: Path, wait_healthy: bool = True
) -> Iterator[RunningServer]:
    """Start ``argv`` (a contract command line) on a free loopback port; yield once ``/health`` answers 200.

    A generator so fixtures can ``yield from`` it: the process is always terminated on exit, even when startup fails.
    """
    port = free_port()
    # One torch thread: CI has 2 cores shared by the test process and several servers, and spinning OpenMP
    # threads fighting over them made generation 5-10x slower. Tests check behaviour, bench/runtime.py speed.
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            _local_argv(argv, port), env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = RunningServer(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        if wait_healthy:
            _wait_until_healthy(server, SERVER_START_TIMEOUT_S)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def seed_server(seed_runtime_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The seed workspace's inference server, started from its exact command line with remapped paths."""
    log_path = tmp_path_factory.mktemp("logs") / "seed-server.log"
    yield from start_server(
        inference_argv_for_seed(), {**inference_env_for_seed(), "KAITO_RUNTIME_ROOT": str(seed_runtime_root)},
        log_path=log_path,
    )


@pytest.fixture(scope="module")
def launch_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningServer]]:
    """Start more servers: ``launch_server(argv, env)``; all are stopped when the test module ends."""
    logs = tmp_path_factory.mktemp("server-logs")
    with contextlib.ExitStack() as stack:
        counter = iter(range(1_000))

        def launch(argv: Sequence[str], env: dict[str, str], wait_healthy: bool = True) -> RunningServer:
            log_path = logs / f"server-{next(counter)}.log"
            servers = start_server(argv, env, log_path=log_path, wait_healthy=wait_healthy)
            stack.callback(servers.close)
            return next(servers)

        yield launch


@pytest.fixture(scope="session")
def seed_argv() -> list[str]:
    return inference_argv_for_seed()
