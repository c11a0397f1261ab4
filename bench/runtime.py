"""Throughput of the inference server: how well 8 concurrent clients share the model, against one client.

    .venv/bin/python bench/runtime.py [--size tiny|small|medium] [--tokens 64] [--requests 4] [--runs 5]

Builds a random Llama offline (the tests' builder) and starts the real server twice on it, once per scheduler
(``--scheduler=continuous``, the default, and ``--scheduler=dynamic``, the ``generate``-based batcher). Then,
round after round, it measures over HTTP 1 and 8 concurrent closed-loop streaming clients
(``/v1/completions``, greedy, every request exactly ``--tokens`` new tokens) on each server, and in this process
``model.generate`` at batch 1 and 8 (the ceiling: what batching can give at most on this machine), the server's
continuous scheduler fed through its own interface without HTTP (what the HTTP layer costs is the difference), and
transformers' own continuous batching (``generate_batch``, 8 requests). Each round is an interleaved pair
(1 client, then 8), so load from other processes hits both sides of a ratio alike; the medians of the per-round
ratios are reported. Target: 8 clients ≥ 5× the tokens/s of one on the continuous scheduler, with the median
time to first token under 8 clients beside it.

Both sides use ``--threads`` torch threads (``--threads`` for the server): spinning OpenMP threads of several
processes made the tiny model 5-10x slower on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "kaito compiles workspace yaml into manifests and serves"
CLIENTS = 8
TARGET_RATIO = 5.0


@dataclass(frozen=True)
class Sample:
    tokens_per_s: float
    ttft_s: float = 0.0  # median time to first streamed token, over HTTP


def _tests_conftest():
    """The tiny-model builder lives with the test fixtures; load that file as a module (it imports ``tests.support``
    from the repository root, which ``python bench/runtime.py`` does not put on the path by itself)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location("runtime_test_fixtures", ROOT / "tests/runtime/conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def model_spec(fixtures, size: str):
    return {
        "tiny": fixtures.TinyModelSpec(),
        "small": fixtures.TinyModelSpec(hidden_size=256, num_hidden_layers=4, num_attention_heads=8,
                                        num_key_value_heads=4, intermediate_size=688),
        "medium": fixtures.TinyModelSpec(hidden_size=512, num_hidden_layers=8, num_attention_heads=8,
                                         num_key_value_heads=4, intermediate_size=1536),
    }[size]


class InProcess:
    """The same model called directly: the ceiling batching can reach, and transformers' continuous batching."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())

    def generate(self, batch: int, tokens: int, repeats: int) -> Sample:
        inputs = self.tokenizer([PROMPT] * batch, return_tensors="pt")
        kwargs = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                      pad_token_id=self.tokenizer.pad_token_id)
        with self.torch.inference_mode():
            self.model.generate(**inputs, **kwargs)  # warm-up
            wall = time.perf_counter()
            for _ in range(repeats):
                self.model.generate(**inputs, **kwargs)
            wall = time.perf_counter() - wall
        return Sample(batch * tokens * repeats / wall)

    def generate_batch(self, batch: int, tokens: int, repeats: int) -> Sample | None:
        """transformers' continuous batching manager on ``batch`` requests; ``None`` if it cannot run here."""
        from transformers import GenerationConfig

        ids = self.tokenizer(PROMPT)["input_ids"]
        config = GenerationConfig(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                                  eos_token_id=-1, pad_token_id=self.tokenizer.pad_token_id)
        try:
            self.model.generate_batch([ids] * batch, generation_config=config)  # warm-up
            wall = time.perf_counter()
            for _ in range(repeats):
                outputs = self.model.generate_batch([ids] * batch, generation_config=config)
            wall = time.perf_counter() - wall
        except Exception as error:  # noqa: BLE001 - reported, not fatal: it is a comparison point
            print(f"transformers generate_batch failed: {type(error).__name__}: {error}", file=sys.stderr)
            return None
        generated = sum(len(o.generated_tokens) for o in outputs.values()) * repeats
        return Sample(generated / wall)


class SchedulerOnly:
    """The server's continuous scheduler in this process, used as the routes use it (``submit``, then the handle's
    events, streamed) but without HTTP: 1 and 8 closed-loop clients as coroutines on one event loop."""

    def __init__(self, model_dir: Path, local: InProcess) -> None:
        from kaito_runtime.inference.loading import LoadedModel, load_tokenizer

        self.loaded = LoadedModel(model=local.model, tokenizer=load_tokenizer(model_dir, trust_remote_code=False),
                                  served_name="bench", context_length=2048,
                                  input_device=local.model.get_input_embeddings().weight.device)
        self.prompt_ids = self.loaded.tokenizer(PROMPT)["input_ids"]

    def measure(self, clients: int, tokens: int, requests: int) -> Sample:
        return asyncio.run(self._measure(clients, tokens, requests))

    async def _measure(self, clients: int, tokens: int, requests: int) -> Sample:
        from kaito_runtime.inference.generation import Failed, Finished, GenerationRequest, Sampling
        from kaito_runtime.inference.metrics import Metrics
        from kaito_runtime.inference.scheduler import StepScheduler

        scheduler = StepScheduler(self.loaded, Metrics(), asyncio.get_running_loop(), max_batch_size=CLIENTS,
                                  max_queue_size=4 * CLIENTS)
        request = GenerationRequest(self.prompt_ids, tokens, Sampling(temperature=0, min_new_tokens=tokens),
                                    adapter=None, model_label="bench", stream=True)

        async def one() -> tuple[int, float]:
            started, first = time.perf_counter(), None
            handle = scheduler.submit(request)
            while True:
                event = await handle.events.get()
                first = time.perf_counter() - started if first is None else first
                if isinstance(event, Finished):
                    return event.completion_tokens, first
                if isinstance(event, Failed):
                    raise RuntimeError(event.message)

        async def client_loop() -> list[tuple[int, float]]:
            return [await one() for _ in range(requests)]

        scheduler.start()
        try:
            await one()  # warm-up
            wall = time.perf_counter()
            results = [r for loop in await asyncio.gather(*(client_loop() for _ in range(clients))) for r in loop]
            wall = time.perf_counter() - wall
        finally:
            scheduler.stop()
        return Sample(sum(n for n, _ in results) / wall, statistics.median(t for _, t in results))


class Server:
    """The real server as a subprocess, driven over HTTP."""

    def __init__(self, model_dir: Path, port: int, log: Path, scheduler: str, threads: int) -> None:
        argv = [sys.executable, "-m", "kaito_runtime.inference", f"--model={model_dir}", "--served-model-name=bench",
                "--dtype=auto", "--host=127.0.0.1", f"--port={port}", f"--scheduler={scheduler}",
                f"--threads={threads}"]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self._wait_healthy(log)

    def _wait_healthy(self, log: Path) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit("server did not become healthy")

    def _one_request(self, client: httpx.Client, tokens: int) -> tuple[int, float]:
        """Stream one completion; return its token count and the time to its first token."""
        body = {"prompt": PROMPT, "max_tokens": tokens, "min_tokens": tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        started, first, generated = time.perf_counter(), None, 0
        with client.stream("POST", f"{self.url}/v1/completions", json=body, timeout=300) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                if first is None and chunk["choices"]:
                    first = time.perf_counter() - started
                if chunk.get("usage"):
                    generated = chunk["usage"]["completion_tokens"]
        return generated, first

    def measure(self, clients: int, tokens: int, requests: int) -> Sample:
        def client_loop(client: httpx.Client) -> list[tuple[int, float]]:
            return [self._one_request(client, tokens) for _ in range(requests)]

        with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
            self._one_request(client, tokens)  # warm-up
            wall = time.perf_counter()
            results = [r for loop in pool.map(lambda _: client_loop(client), range(clients)) for r in loop]
            wall = time.perf_counter() - wall
        return Sample(sum(n for n, _ in results) / wall, statistics.median(t for _, t in results))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def measure_rounds(args: argparse.Namespace, local: InProcess, servers: dict[str, Server | SchedulerOnly]
                   ) -> dict[str, list]:
    """Interleaved rounds: each round measures every pair (1 then 8) back to back."""
    rounds: dict[str, list] = {}
    for _ in range(args.runs):
        pairs = {"generate": (local.generate(1, args.tokens, args.requests),
                              local.generate(CLIENTS, args.tokens, args.requests))}
        for name, server in servers.items():
            pairs[name] = (server.measure(1, args.tokens, args.requests),
                           server.measure(CLIENTS, args.tokens, args.requests))
        for name, pair in pairs.items():
            rounds.setdefault(name, []).append(pair)
    return rounds


def report(args: argparse.Namespace, local: InProcess, rounds: dict[str, list], batch_cb: Sample | None) -> None:
    def median_of(name: str, pick) -> float:
        return statistics.median(pick(pair) for pair in rounds[name])

    print(f"Random Llama '{args.size}' ({local.parameters / 1e6:.2f} M parameters), {args.tokens} new tokens per "
          f"request, greedy, {args.threads} torch thread(s), {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, medians of {args.runs} interleaved rounds\n")
    print(f"| measurement | 1 client tokens/s | {CLIENTS} clients tokens/s | {CLIENTS} ÷ 1 | p50 TTFT, {CLIENTS} "
          "clients | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, label in (("continuous", "server, --scheduler=continuous (default)"),
                        ("dynamic", "server, --scheduler=dynamic"),
                        ("scheduler", "continuous scheduler in-process, no HTTP"),
                        ("generate", f"`generate` in-process, batch 1 and {CLIENTS} (ceiling)")):
        one, many = median_of(name, lambda p: p[0].tokens_per_s), median_of(name, lambda p: p[1].tokens_per_s)
        ratio = median_of(name, lambda p: p[1].tokens_per_s / p[0].tokens_per_s)
        ttft = f"{1000 * median_of(name, lambda p: p[1].ttft_s):.0f} ms" if name != "generate" else ""
        target = f"≥ {TARGET_RATIO:g}× {'met' if ratio >= TARGET_RATIO else 'MISSED'}" if name == "continuous" else ""
        print(f"| {label} | {one:.0f} | {many:.0f} | {ratio:.2f}× | {ttft} | {target} |")
    if batch_cb is not None:
        print(f"| transformers `generate_batch` in-process, {CLIENTS} requests | | {batch_cb.tokens_per_s:.0f} | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "small", "medium"), default="tiny")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument("--requests", type=int, default=4, help="requests per client and measurement")
    parser.add_argument("--runs", type=int, default=5, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, in-process and in the server")
    args = parser.parse_args()

    fixtures = _tests_conftest()
    workdir = Path(tempfile.mkdtemp(prefix="kaito-bench-"))
    model_dir = fixtures.build_tiny_model(workdir / "model", model_spec(fixtures, args.size))
    local = InProcess(model_dir, args.threads)
    servers: dict[str, Server | SchedulerOnly] = {}
    try:
        for scheduler in ("continuous", "dynamic"):
            servers[scheduler] = Server(model_dir, fixtures.free_port(), workdir / f"{scheduler}.log", scheduler,
                                        args.threads)
        servers["scheduler"] = SchedulerOnly(model_dir, local)
        rounds = measure_rounds(args, local, servers)
    finally:
        for server in servers.values():
            if isinstance(server, Server):
                server.stop()
    report(args, local, rounds, local.generate_batch(CLIENTS, args.tokens, args.requests))


if __name__ == "__main__":
    main()
