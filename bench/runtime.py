"""Throughput of the inference server: batching gain, and overhead against ``generate`` in-process.

    .venv/bin/python bench/runtime.py [--size tiny|small|medium] [--tokens 64] [--requests 4] [--runs 3]

Builds a random Llama offline (the tests' builder) and starts the real server on it with its default batching
settings. Then, round after round, it measures ``model.generate`` in this process (batch 1 and batch 8) and the
server over HTTP with 1 and with 8 concurrent closed-loop clients (``/v1/completions``, greedy, every request
exactly ``--tokens`` new tokens), and prints the medians as a markdown table. Targets: 8 clients reach ≥ 3× the
tokens/s of one; one client is within 10 % of in-process ``generate``.

Wall-clock numbers are only as good as the machine is quiet. Measurements are interleaved so that load from other
processes hits both sides alike, and CPU time per token is printed too (this process's for ``generate``, the
server process's for HTTP), which contention does not inflate. Both sides use ``--threads`` torch threads
(``OMP_NUM_THREADS`` for the server): two spinning OpenMP threads per process made the tiny model 5-10x slower on
a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib.util
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
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "kaito compiles workspace yaml into manifests and serves"
CLIENTS = 8


@dataclass(frozen=True)
class Sample:
    tokens_per_s: float
    cpu_ms_per_token: float
    mean_batch: float = 0.0  # sequences per generate() call, from the server's metrics


def _tests_conftest():
    """The tiny-model builder lives with the test fixtures; load that file as a module."""
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
    """The same model called directly: the baseline the server is compared with."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.parameters = sum(p.numel() for p in self.model.parameters())

    def measure(self, batch: int, tokens: int, repeats: int) -> Sample:
        inputs = self.tokenizer([PROMPT] * batch, return_tensors="pt")
        kwargs = dict(max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                      pad_token_id=self.tokenizer.pad_token_id)
        with self.torch.inference_mode():
            self.model.generate(**inputs, **kwargs)  # warm-up
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                self.model.generate(**inputs, **kwargs)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        generated = batch * tokens * repeats
        return Sample(generated / wall, 1000 * cpu / generated)


class Server:
    """The real server as a subprocess, driven over HTTP."""

    def __init__(self, model_dir: Path, port: int, log: Path) -> None:
        argv = [sys.executable, "-m", "kaito_runtime.inference", f"--model={model_dir}", "--served-model-name=bench",
                "--dtype=auto", "--host=127.0.0.1", f"--port={port}"]
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

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def measure(self, clients: int, tokens: int, requests: int) -> Sample:
        body = {"prompt": PROMPT, "max_tokens": tokens, "min_tokens": tokens, "temperature": 0}

        def client_loop(client: httpx.Client) -> int:
            received = 0
            for _ in range(requests):
                response = client.post(f"{self.url}/v1/completions", json=body, timeout=300)
                response.raise_for_status()
                received += response.json()["usage"]["completion_tokens"]
            return received

        with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
            client.post(f"{self.url}/v1/completions", json=body, timeout=300).raise_for_status()  # warm-up
            batches, rows = self.batch_counts()
            wall, cpu = time.perf_counter(), self.cpu_seconds()
            generated = sum(pool.map(lambda _: client_loop(client), range(clients)))
            wall, cpu = time.perf_counter() - wall, self.cpu_seconds() - cpu
            batches_after, rows_after = self.batch_counts()
        return Sample(generated / wall, 1000 * cpu / generated, (rows_after - rows) / (batches_after - batches))

    def batch_counts(self) -> tuple[float, float]:
        text = httpx.get(f"{self.url}/metrics").text
        found = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        return found["kaito_inference_batch_size_count"], found["kaito_inference_batch_size_sum"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def median(samples: list[Sample]) -> Sample:
    return Sample(statistics.median(s.tokens_per_s for s in samples),
                  statistics.median(s.cpu_ms_per_token for s in samples),
                  statistics.median(s.mean_batch for s in samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("tiny", "small", "medium"), default="small")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    parser.add_argument("--requests", type=int, default=4, help="requests per client and measurement")
    parser.add_argument("--runs", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, in-process and in the server")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by the server process

    fixtures = _tests_conftest()
    workdir = Path(tempfile.mkdtemp(prefix="kaito-bench-"))
    model_dir = fixtures.build_tiny_model(workdir / "model", model_spec(fixtures, args.size))
    server = Server(model_dir, fixtures.free_port(), workdir / "server.log")
    try:
        local = InProcess(model_dir, args.threads)
        rounds = {"local 1": [], "server 1": [], f"local {CLIENTS}": [], f"server {CLIENTS}": []}
        for _ in range(args.runs):
            rounds["local 1"].append(local.measure(1, args.tokens, args.requests))
            rounds["server 1"].append(server.measure(1, args.tokens, args.requests))
            rounds[f"local {CLIENTS}"].append(local.measure(CLIENTS, args.tokens, args.requests))
            rounds[f"server {CLIENTS}"].append(server.measure(CLIENTS, args.tokens, args.requests))
    finally:
        server.stop()

    base, one = median(rounds["local 1"]), median(rounds["server 1"])
    ceiling, many = median(rounds[f"local {CLIENTS}"]), median(rounds[f"server {CLIENTS}"])
    overhead, cpu_overhead = base.tokens_per_s / one.tokens_per_s - 1, one.cpu_ms_per_token / base.cpu_ms_per_token - 1
    ratio = many.tokens_per_s / one.tokens_per_s
    print(f"Random Llama '{args.size}' ({local.parameters / 1e6:.2f} M parameters), {args.tokens} new tokens per "
          f"request, greedy, {args.threads} torch thread(s), {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}, median of {args.runs} interleaved rounds\n")
    print("| measurement | tokens/s | CPU ms/token | mean batch | result | target |")
    print("|---|---:|---:|---:|---|---|")
    print(f"| `generate` in-process, batch 1 | {base.tokens_per_s:.0f} | {base.cpu_ms_per_token:.2f} | 1 | baseline "
          "| |")
    print(f"| server, 1 client | {one.tokens_per_s:.0f} | {one.cpu_ms_per_token:.2f} | {one.mean_batch:.1f} | "
          f"overhead {overhead:+.1%} (CPU {cpu_overhead:+.1%}) | ≤ +10 % |")
    print(f"| server, {CLIENTS} concurrent clients | {many.tokens_per_s:.0f} | {many.cpu_ms_per_token:.2f} | "
          f"{many.mean_batch:.1f} | {ratio:.2f}× one client | ≥ 3× |")
    print(f"| `generate` in-process, batch {CLIENTS} | {ceiling.tokens_per_s:.0f} | {ceiling.cpu_ms_per_token:.2f} "
          f"| {CLIENTS} | ceiling for {CLIENTS} clients | |")


if __name__ == "__main__":
    main()
