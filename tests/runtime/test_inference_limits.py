"""Startup and overload behaviour: 503 while loading, 429 with Retry-After, 408 past the time limit, exit on failure.

The server here generates one sequence at a time (``--max-batch-size=1``) and queues one more, so a long request
occupies it deterministically. A 2,000-token request on the tiny model takes several seconds on CI (it would need
more than 1,000 tokens/s to beat the 2 s limit; the scheduler frees a slot as soon as a row times out, so the
queue is filled and probed well within the limit).
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

TIME_LIMIT_S = 2.0
LONG = {"prompt": "tell me everything", "max_tokens": 2000, "min_tokens": 2000, "temperature": 0}


@pytest.fixture(scope="module")
def startup(launch_server, seed_argv, seed_runtime_root):
    """Start the server without waiting, and record what /health and /v1/models answer until it is ready."""
    argv = [*seed_argv, "--max-batch-size=1", "--max-queue-size=1", "--batch-window-ms=0",
            f"--request-timeout={TIME_LIMIT_S}"]
    server = launch_server(argv, {"KAITO_RUNTIME_ROOT": str(seed_runtime_root)}, wait_healthy=False)
    seen: list[tuple[int, dict, int, str | None]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not (seen and seen[-1][0] == 200):
        try:
            health = httpx.get(f"{server.base_url}/health")
            models = httpx.get(f"{server.base_url}/v1/models")
            seen.append((health.status_code, health.json(), models.status_code, models.headers.get("retry-after")))
        except httpx.TransportError:
            assert server.process.poll() is None, server.log()
        time.sleep(0.05)
    return server, seen


def _gauge(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


def _wait_for_gauge(base_url: str, name: str, value: float) -> None:
    deadline = time.monotonic() + 5
    while _gauge(base_url, name) != value:
        assert time.monotonic() < deadline, f"{name} never reached {value}"
        time.sleep(0.005)


def test_health_answers_503_while_loading_then_200(startup):
    _, seen = startup

    assert seen[0][:2] == (503, {"status": "Loading"})
    assert seen[0][2:] == (503, "5")  # model routes refuse politely too
    assert seen[-1][:3] == (200, {"status": "Healthy"}, 200)


def test_full_queue_answers_429_and_requests_past_the_time_limit_answer_408(startup):
    server, _ = startup
    url = f"{server.base_url}/v1/completions"
    streamed: list[str] = []

    def stream_long_request() -> None:
        with httpx.stream("POST", url, json={**LONG, "stream": True}, timeout=30) as response:
            streamed.extend(line for line in response.iter_lines() if line)

    running = threading.Thread(target=stream_long_request)
    started = time.monotonic()
    running.start()
    _wait_for_gauge(server.base_url, "vllm:num_requests_running", 1)
    queued: list[httpx.Response] = []
    waiting = threading.Thread(target=lambda: queued.append(httpx.post(url, json=LONG, timeout=30)))
    waiting.start()
    _wait_for_gauge(server.base_url, "vllm:num_requests_waiting", 1)

    rejected = httpx.post(url, json=LONG, timeout=30)
    running.join()
    waiting.join()

    assert rejected.status_code == 429
    assert int(rejected.headers["retry-after"]) >= 1
    assert rejected.json()["error"]["code"] == "rate_limit_exceeded"

    assert queued[0].status_code == 408
    assert queued[0].json()["error"]["code"] == "timeout"

    # The streamed request had started (200, tokens sent) when its time ran out: it ends with an error event.
    assert time.monotonic() - started < TIME_LIMIT_S + 4
    assert streamed[-1] == "data: [DONE]"
    error = json.loads(streamed[-2].removeprefix("data: "))
    assert error["error"]["code"] == "timeout" and f"{TIME_LIMIT_S:g} s" in error["error"]["message"]
    assert len(streamed) > 3, "some tokens were streamed before the limit"


def test_server_exits_non_zero_when_the_model_cannot_be_loaded(launch_server, tmp_path):
    argv = ["python3", "-m", "kaito_runtime.inference", "--model=example-org/not-in-the-cache",
            "--download-dir=/workspace/weights"]
    server = launch_server(argv, {"KAITO_RUNTIME_ROOT": str(tmp_path)}, wait_healthy=False)

    assert server.process.wait(timeout=90) == 3  # a model neither cached nor downloadable (runtime contract)
    log = server.log()
    assert "model loading failed" in log and "example-org/not-in-the-cache" in log
