"""The inference server against hostile or careless clients (issue #13, items 12-14).

No input reaches a 5xx: extreme numbers, NaN, lone UTF-16 surrogates anywhere in a body, and any combination of
the OpenAI fields are a 400 naming the field (or an answer). A client that leaves a non-streaming request stops
its generation. Slow, idle or oversized connections are closed and cannot keep ``/health`` from answering.
"""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

HEADER_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 8


def post_raw(base_url: str, path: str, text: str) -> httpx.Response:
    """POST a JSON text as is: NaN, Infinity and \\ud800 escapes survive (httpx's json= would refuse or fix them)."""
    return httpx.post(f"{base_url}{path}", content=text.encode(), headers={"content-type": "application/json"},
                      timeout=60)


def detail(response: httpx.Response) -> str:
    body = response.json()
    return body["error"]["message"] if "error" in body else body["detail"]


def gauge(base_url: str, name: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


EXTREME = [
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "seed": 100000000000000000000000}', "seed"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "temperature": 1e308}', "temperature"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "temperature": NaN}', "temperature"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "top_p": Infinity}', "top_p"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "top_p": -1e-300}', "top_p"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "repetition_penalty": 1e300}', "repetition_penalty"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "top_k": 1e400}', "top_k"),
    ("/v1/completions", '{"prompt": "x", "max_tokens": 2, "min_tokens": 99999999999999999999999}', "min_tokens"),
    ("/v1/completions", '{"prompt": "\\ud800 lone", "max_tokens": 2}', "prompt"),
    ("/v1/completions", '{"prompt": "x", "stop": ["ok", "\\udfff"], "max_tokens": 2}', "stop.1"),
    ("/v1/completions", '{"prompt": "x", "model": "\\ud83d", "max_tokens": 2}', "model"),
    ("/v1/completions", '{"prompt": "x", "\\ud800": 1}', "body"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "\\udc00"}]}', "messages.0.content"),
    ("/v1/chat/completions", '{"messages": [{"role": "user", "content": [{"type": "text", "text": "\\ud800"}]}]}',
     "messages.0.content.0.text"),
    ("/chat", '{"prompt": "\\ud800"}', "prompt"),
    ("/chat", '{"prompt": "x", "generate_kwargs": {"temperature": 1e999}}', "temperature"),
    ("/chat", '{"prompt": "x", "generate_kwargs": {"top_k": -1}}', "top_k"),
    ("/chat", '{"prompt": "x", "generate_kwargs": {"eos_token_id": 99999999}}', "eos_token_id"),
]


@pytest.mark.parametrize(("path", "text", "field"), EXTREME, ids=[f"{p} {f}" for p, _, f in EXTREME])
def test_extreme_or_invalid_values_are_a_400_naming_the_field(seed_server, path, text, field):
    response = post_raw(seed_server.base_url, path, text)

    assert response.status_code == 400, response.text
    assert field in detail(response)


def test_the_edges_of_the_valid_ranges_are_answered(seed_server, served_name):
    for extra in ({"seed": 2**64 - 1}, {"seed": -(2**63)}, {"top_k": -1}, {"top_k": 2**31 - 1},
                  {"temperature": 2, "top_p": 1e-9}, {"repetition_penalty": 100}, {"prompt": ""}):
        body = {"model": served_name, "prompt": "x", "max_tokens": 2, **extra}
        response = httpx.post(f"{seed_server.base_url}/v1/completions", json=body, timeout=60)
        assert response.status_code == 200, (extra, response.text)


_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12)
_NUMBER = st.one_of(st.integers(min_value=-(2**80), max_value=2**80), st.floats(allow_nan=True, allow_infinity=True))
_ANY = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT, st.lists(_TEXT, max_size=3))
_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "tool", "x"]),
                                  "content": st.one_of(_TEXT, st.none(), st.lists(
                                      st.fixed_dictionaries({"type": st.just("text"), "text": _TEXT}), max_size=2))})
_FIELDS = {
    "model": st.one_of(st.none(), _TEXT), "temperature": _ANY, "top_p": _ANY, "top_k": _ANY, "seed": _ANY,
    "repetition_penalty": _ANY, "min_tokens": _ANY, "stop": _ANY, "stream": st.booleans(), "n": _ANY,
    "user": _ANY, "logprobs": _ANY, "presence_penalty": _ANY, "response_format": _ANY,
    "max_tokens": st.one_of(st.integers(min_value=-2, max_value=3), st.integers(min_value=2**31)),
}


_TOKEN_IDS = st.one_of(_ANY, st.integers(min_value=-1, max_value=500), st.lists(st.integers(-1, 500), max_size=3),
                      st.lists(st.lists(st.integers(-1, 500), max_size=3), max_size=3))
_GENERATE_KWARGS = {
    "max_length": st.one_of(_ANY, st.integers(min_value=-1, max_value=40)), "min_length": _ANY, "do_sample": _ANY,
    "temperature": _ANY, "top_k": _ANY, "top_p": _ANY, "typical_p": _ANY, "repetition_penalty": _ANY,
    "no_repeat_ngram_size": st.one_of(_ANY, st.integers(0, 4)), "num_return_sequences": st.integers(-1, 3),
    "bad_words_ids": _TOKEN_IDS, "eos_token_id": _TOKEN_IDS, "forced_eos_token_id": _TOKEN_IDS,
    "num_beams": _ANY, "pad_token_id": _TOKEN_IDS, "max_new_tokens": st.integers(-1, 3), "streamer": _ANY,
}


@st.composite
def kaito_chat_bodies(draw) -> tuple[str, dict]:
    kwargs = draw(st.fixed_dictionaries({}, optional=_GENERATE_KWARGS))
    kwargs.setdefault("max_new_tokens", 2)
    body = draw(st.fixed_dictionaries({}, optional={
        "prompt": st.one_of(_TEXT, _ANY), "messages": st.lists(_MESSAGE, max_size=2), "prefix": _ANY,
        "return_full_text": _ANY, "handle_long_generation": st.sampled_from([None, "hole", "x"]),
    }))
    if draw(st.booleans()):
        body["generate_kwargs"] = kwargs
    else:
        body.update(kwargs)
    return "/chat", body


@st.composite
def openai_bodies(draw) -> tuple[str, dict]:
    path = draw(st.sampled_from(["/v1/completions", "/v1/chat/completions"]))
    body = draw(st.fixed_dictionaries({}, optional=_FIELDS))
    body.setdefault("max_tokens", 2)
    if path == "/v1/completions":
        body["prompt"] = draw(st.one_of(_TEXT, st.lists(_TEXT, max_size=2), st.lists(st.integers(), max_size=2)))
    else:
        body["messages"] = draw(st.lists(_MESSAGE, max_size=3))
    return path, body


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(request=st.one_of(openai_bodies(), kaito_chat_bodies()))
def test_no_openai_or_kaito_shaped_body_gets_a_server_error(seed_server, request):
    path, body = request
    response = post_raw(seed_server.base_url, path, json.dumps(body, allow_nan=True))

    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert detail(response)


def test_a_client_leaving_a_non_streaming_request_stops_its_generation(seed_server):
    url = httpx.URL(seed_server.base_url)
    body = json.dumps({"prompt": "tell me everything", "max_tokens": 2000, "min_tokens": 2000, "temperature": 0})
    tokens_before = gauge(seed_server.base_url, "kaito_inference_generation_tokens_total")
    with socket.create_connection((url.host, url.port), timeout=10) as client:
        client.sendall(f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n{body}".encode())
        _wait_until(lambda: gauge(seed_server.base_url, "vllm:num_requests_running") == 1, 10)
    _wait_until(lambda: gauge(seed_server.base_url, "vllm:num_requests_running") == 0, 3)

    generated = gauge(seed_server.base_url, "kaito_inference_generation_tokens_total") - tokens_before
    assert generated < 2000, "the generation ran to its end although nobody was waiting for it"


def _wait_until(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def guarded_server(launch_server, seed_argv, seed_runtime_root):
    argv = [*seed_argv, f"--header-timeout={HEADER_TIMEOUT_S}", f"--max-connections={MAX_CONNECTIONS}",
            "--keep-alive-timeout=1", "--max-header-bytes=4096"]
    return launch_server(argv, {"KAITO_RUNTIME_ROOT": str(seed_runtime_root)})


def _open(base_url: str, first_bytes: bytes) -> socket.socket:
    url = httpx.URL(base_url)
    sock = socket.create_connection((url.host, url.port), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        while chunk := sock.recv(65536):
            if b"\r\n\r\n" in chunk and b"400" not in chunk.split(b"\r\n", 1)[0]:
                return False
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slowloris_connections_beyond_the_cap_do_not_keep_health_out(guarded_server):
    slow = [_open(guarded_server.base_url, b"GET /health HTTP/1.1\r\nHost: x\r\n") for _ in range(5 * MAX_CONNECTIONS)]
    try:
        started = time.monotonic()
        health = httpx.get(f"{guarded_server.base_url}/health", timeout=5)
        elapsed = time.monotonic() - started
    finally:
        for sock in slow:
            sock.close()

    assert health.status_code == 200
    assert elapsed < HEADER_TIMEOUT_S, f"/health took {elapsed:.2f} s behind {len(slow)} slow connections"


def test_headers_sent_too_slowly_or_never_close_the_connection(guarded_server):
    silent = _open(guarded_server.base_url, b"")
    dribbling = _open(guarded_server.base_url, b"GET /health HT")
    started = time.monotonic()
    dribbling.sendall(b"TP/1.1\r\n")  # progress does not extend the deadline: the headers are still incomplete

    assert _closed_by_server(silent, HEADER_TIMEOUT_S + 3)
    assert _closed_by_server(dribbling, HEADER_TIMEOUT_S + 3)
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 3
    silent.close()
    dribbling.close()


def test_an_idle_keep_alive_connection_is_closed(guarded_server):
    sock = _open(guarded_server.base_url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 200")
    assert _closed_by_server(sock, 4)
    sock.close()


@pytest.mark.parametrize("chunks", [1, 64], ids=["one packet", "trickled"])
def test_oversized_headers_are_a_431(guarded_server, chunks):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8192 + b"\r\n\r\n"
    sock = _open(guarded_server.base_url, b"")
    size = -(-len(head) // chunks)
    try:
        for start in range(0, len(head), size):
            sock.sendall(head[start:start + size])
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed as soon as the limit was passed
    answer = sock.recv(65536)
    sock.close()

    assert answer.startswith(b"HTTP/1.1 431")


def test_headers_within_the_limit_are_served(guarded_server):
    response = httpx.get(f"{guarded_server.base_url}/health", headers={"x-fine": "a" * 2048})

    assert response.status_code == 200
