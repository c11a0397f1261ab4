"""The inference server under load: 500 requests from 16 concurrent clients on the tiny offline model.

A deterministic mix (seeded shuffle) of valid chat requests (some streamed), bodies over the server's size limit,
invalid JSON and ``max_tokens`` far past the server's limit. Every request must get an answer (no transport error,
no timeout), no answer may be a 5xx, every bad request a 4xx with the expected status, every valid one a 200 with
a completion or a 429 carrying Retry-After (the queue is small on purpose, so that back-pressure is exercised),
and the server's resident memory may grow by at most MAX_RSS_GROWTH_MB over the run (measured from /proc after a
warm-up). The server runs with one torch thread and generates at most 4 tokens per request: the test checks
behaviour under concurrency, not speed (bench/runtime.py measures speed).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.runtime.conftest import (  # noqa: F401 - the seed fixtures, reused here
    RunningServer,
    inference_argv_for_seed,
    inference_env_for_seed,
    seed_adapter,
    seed_options,
    seed_runtime_root,
    start_server,
    tiny_adapter_dir,
    tiny_model_dir,
)

REQUESTS = 500
CLIENTS = 16
MAX_REQUEST_BYTES = 64 * 1024
MAX_TOKENS_LIMIT = 64
VALID_MAX_TOKENS = 4
MAX_RSS_GROWTH_MB = 100
REQUEST_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
RUN_BUDGET_S = 240  # the whole run; it takes well under a minute on a busy 2-core machine
MIX = {"chat": 0.55, "chat-stream": 0.1, "oversize": 0.1, "invalid-json": 0.1, "huge-max-tokens": 0.15}
EXPECTED_STATUS = {"oversize": 413, "invalid-json": 400, "huge-max-tokens": 400}


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int | None  # None: no answer (a transport error or a timeout)
    retry_after: str | None
    body: str
    error: str = ""


@pytest.fixture(scope="module")
def server(seed_runtime_root: Path, tmp_path_factory) -> Iterator[RunningServer]:
    """The seed workspace's compiled server command (paths remapped) on the tiny model and adapter, with a small
    queue and request limits a test can reach cheaply."""
    argv = [*inference_argv_for_seed(), "--max-batch-size=4", "--max-queue-size=2", "--batch-window-ms=5",
            f"--max-request-bytes={MAX_REQUEST_BYTES}", f"--max-tokens-limit={MAX_TOKENS_LIMIT}"]
    yield from start_server(argv, {**inference_env_for_seed(), "KAITO_RUNTIME_ROOT": str(seed_runtime_root)},
                            log_path=tmp_path_factory.mktemp("load-logs") / "server.log")


def served_model(argv: list[str]) -> str:
    return next(arg.split("=", 1)[1] for arg in argv if arg.startswith("--served-model-name="))


def request_plan(seed: int = 9) -> list[str]:
    kinds = [kind for kind, share in MIX.items() for _ in range(round(share * REQUESTS))]
    assert len(kinds) == REQUESTS
    random.Random(seed).shuffle(kinds)
    return kinds


def chat_body(index: int, **extra) -> dict:
    return {"model": served_model(inference_argv_for_seed()), "temperature": 0, "max_tokens": VALID_MAX_TOKENS,
            "messages": [{"role": "user", "content": f"request {index}: say something about gpu nodes"}], **extra}


async def send(client: httpx.AsyncClient, kind: str, index: int) -> Outcome:
    url = "/v1/chat/completions"
    headers = {"content-type": "application/json"}
    try:
        if kind == "chat-stream":
            async with client.stream("POST", url, json=chat_body(index, stream=True)) as response:
                text = "".join([line + "\n" async for line in response.aiter_lines()])
                return Outcome(kind, response.status_code, response.headers.get("retry-after"), text)
        if kind == "oversize":
            content = json.dumps(chat_body(index, user="x" * MAX_REQUEST_BYTES)).encode()
            response = await client.post(url, content=content, headers=headers)
        elif kind == "invalid-json":
            response = await client.post(url, content=b'{"messages": [{"role": "user", "content": "unterminated',
                                         headers=headers)
        elif kind == "huge-max-tokens":
            response = await client.post(url, json=chat_body(index, max_tokens=10**9))
        else:
            response = await client.post(url, json=chat_body(index))
        return Outcome(kind, response.status_code, response.headers.get("retry-after"), response.text)
    except httpx.HTTPError as error:
        return Outcome(kind, None, None, "", f"{type(error).__name__}: {error}")


async def run_load(base_url: str, kinds: list[str]) -> list[Outcome]:
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(kinds):
        queue.put_nowait(item)
    outcomes: list[Outcome | None] = [None] * len(kinds)
    # Idle pooled connections expire on the client before the server's 5 s keep-alive timeout closes them, as a
    # client should configure it: at equal timeouts a connection idle for ~5 s (the pool's least used one, on a busy
    # machine) can be reused just as the server closes it, and that POST gets a transport error (RFC 9112 §9.3.1).
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits) as client:
        async def worker() -> None:
            while not queue.empty():
                index, kind = queue.get_nowait()
                outcomes[index] = await send(client, kind, index)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CLIENTS))), timeout=RUN_BUDGET_S)
    return [outcome for outcome in outcomes if outcome is not None]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.fixture(scope="module")
def load_run(server: RunningServer) -> dict:
    warm_up = asyncio.run(run_load(server.base_url, ["chat"] * CLIENTS))
    assert all(o.status in (200, 429) for o in warm_up), warm_up
    rss_before = rss_mb(server.process.pid)
    kinds = request_plan()
    started = time.monotonic()
    outcomes = asyncio.run(run_load(server.base_url, kinds))
    elapsed = time.monotonic() - started
    return {"kinds": kinds, "outcomes": outcomes, "elapsed_s": elapsed, "rss_before_mb": rss_before,
            "rss_after_mb": rss_mb(server.process.pid), "server": server}


def test_no_request_is_lost(load_run: dict):
    outcomes = load_run["outcomes"]
    assert len(outcomes) == REQUESTS, f"{REQUESTS - len(outcomes)} requests never completed"
    unanswered = [o for o in outcomes if o.status is None]
    assert not unanswered, f"{len(unanswered)} requests got no answer, e.g. {unanswered[0].error}"
    assert load_run["server"].process.poll() is None, load_run["server"].log()[-3000:]


def test_no_server_errors(load_run: dict):
    errors = Counter((o.kind, o.status) for o in load_run["outcomes"] if o.status is not None and o.status >= 500)
    assert not errors, f"5xx answers: {dict(errors)}\n{load_run['server'].log()[-3000:]}"


def test_every_bad_request_gets_its_4xx(load_run: dict):
    wrong = Counter((o.kind, o.status) for o in load_run["outcomes"]
                    if o.kind in EXPECTED_STATUS and o.status != EXPECTED_STATUS[o.kind])
    assert not wrong, f"bad requests answered otherwise: {dict(wrong)}"
    for outcome in load_run["outcomes"]:
        if outcome.kind in EXPECTED_STATUS:
            assert json.loads(outcome.body)["error"]["message"], outcome


def test_valid_requests_complete_or_are_told_when_to_retry(load_run: dict):
    statuses = Counter(o.status for o in load_run["outcomes"] if o.kind.startswith("chat"))
    assert set(statuses) <= {200, 429}, dict(statuses)
    assert statuses[200] >= REQUESTS * MIX["chat"] / 2, f"too few completions: {dict(statuses)}"
    for outcome in load_run["outcomes"]:
        if outcome.status == 429:
            assert outcome.retry_after and outcome.retry_after.isdigit(), outcome
        elif outcome.kind == "chat" and outcome.status == 200:
            assert isinstance(json.loads(outcome.body)["choices"][0]["message"]["content"], str)
        elif outcome.kind == "chat-stream" and outcome.status == 200:
            assert outcome.body.rstrip().endswith("data: [DONE]"), outcome.body[-200:]


def test_memory_stays_bounded(load_run: dict):
    growth = load_run["rss_after_mb"] - load_run["rss_before_mb"]
    assert growth < MAX_RSS_GROWTH_MB, (
        f"RSS grew by {growth:.0f} MB ({load_run['rss_before_mb']:.0f} → {load_run['rss_after_mb']:.0f} MB) "
        f"over {REQUESTS} requests")


def test_report_figures(load_run: dict, record_property):
    """The figures the README's Reliability section quotes (also attached to the JUnit report)."""
    statuses = Counter(o.status for o in load_run["outcomes"])
    record_property("elapsed_s", round(load_run["elapsed_s"], 1))
    record_property("statuses", dict(statuses))
    record_property("rss_mb", (round(load_run["rss_before_mb"]), round(load_run["rss_after_mb"])))
    print(f"\nload: {REQUESTS} requests, {CLIENTS} clients, {load_run['elapsed_s']:.1f} s, statuses {dict(statuses)}, "
          f"RSS {load_run['rss_before_mb']:.0f} → {load_run['rss_after_mb']:.0f} MB")
    assert load_run["elapsed_s"] < RUN_BUDGET_S
