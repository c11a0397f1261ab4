"""The data fetcher against a real HTTP server on 127.0.0.1, and its URL safety rules."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kaito_runtime import fetch
from kaito_runtime.fetch import FetchError, file_name, redact

PARQUET_BYTES = b"PAR1" + bytes(range(256)) * 40 + b"PAR1"
NOTES_BYTES = b'{"text": "hello"}\n{"text": "world"}\n'


class _Handler(BaseHTTPRequestHandler):
    """Routes: /files/<name> (200), /flaky/<name> (503 twice, then 200), /down/<name> (always 503),
    /missing/<name> (404), /empty/<name> (200, no body), /redirect/<name> (302 to /files/<name>),
    /to-private/<name> (302 to 10.0.0.1), /loop/<name> (302 to itself), /bad-redirect/<name> (302 to a
    malformed URL)."""

    hits: Counter[str]

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?")[0]
        self.server.hits[path] += 1  # type: ignore[attr-defined]
        kind, _, name = path.strip("/").partition("/")
        body = PARQUET_BYTES if name.endswith(".parquet") else NOTES_BYTES
        if kind == "files" or (kind == "flaky" and self.server.hits[path] > 2):  # type: ignore[attr-defined]
            self._reply(200, body)
        elif kind in ("flaky", "down"):
            self._reply(503, b"busy")
        elif kind == "empty":
            self._reply(200, b"")
        elif kind == "redirect":
            self._redirect(f"/files/{name}")
        elif kind == "to-private":
            self._redirect(f"http://10.0.0.1/files/{name}")
        elif kind == "loop":
            self._redirect(path)
        elif kind == "bad-redirect":
            self._redirect("http://[not-an-address/x")
        else:
            self._reply(404, b"not found")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def data_server() -> Iterator[tuple[str, Counter[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.hits = Counter()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.hits  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fetch.ALLOW_LOOPBACK_ENV, "1")


def _fetch(dest: Path, *urls: str) -> int:
    return fetch.main([f"--dest={dest}", *(f"--url={url}" for url in urls), "--retry-delay-s=0"])


def test_contract_command_saves_each_url_under_its_basename(data_server, tmp_path: Path) -> None:
    base, _ = data_server
    argv = [
        "python3", "-m", "kaito_runtime.fetch", "--dest=/mnt/data",
        f"--url={base}/files/train-00000-of-00001.parquet?download=true",
        f"--url={base}/redirect/notes.jsonl",
    ]
    env = {**os.environ, "KAITO_RUNTIME_ROOT": str(tmp_path), fetch.ALLOW_LOOPBACK_ENV: "1"}
    done = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = tmp_path / "mnt" / "data"
    assert sorted(p.name for p in data.iterdir()) == ["notes.jsonl", "train-00000-of-00001.parquet"]
    assert (data / "train-00000-of-00001.parquet").read_bytes() == PARQUET_BYTES
    assert (data / "notes.jsonl").read_bytes() == NOTES_BYTES


def test_transient_failures_are_retried(data_server, allow_loopback, tmp_path: Path) -> None:
    base, hits = data_server
    assert _fetch(tmp_path, f"{base}/flaky/data.jsonl") == 0
    assert hits["/flaky/data.jsonl"] == 3
    assert (tmp_path / "data.jsonl").read_bytes() == NOTES_BYTES


def test_persistent_server_errors_give_up_after_the_attempts(data_server, allow_loopback, tmp_path, capsys) -> None:
    base, hits = data_server
    assert _fetch(tmp_path, f"{base}/down/data.jsonl") == 1
    assert hits["/down/data.jsonl"] == 3
    assert "HTTP 503" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_not_found_fails_at_once_without_leaking_the_query(data_server, allow_loopback, tmp_path, capsys) -> None:
    base, hits = data_server
    assert _fetch(tmp_path, f"{base}/missing/data.csv?sig=top-secret") == 1
    assert hits["/missing/data.csv"] == 1
    error = capsys.readouterr().err
    assert "HTTP 404" in error and "/missing/data.csv" in error and "top-secret" not in error


def test_an_empty_body_is_a_failed_download(data_server, allow_loopback, tmp_path: Path, capsys) -> None:
    base, _ = data_server
    assert _fetch(tmp_path, f"{base}/empty/data.json") == 1
    assert "0 bytes" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_redirects_are_checked_and_bounded(data_server, allow_loopback, tmp_path: Path, capsys) -> None:
    base, hits = data_server
    assert _fetch(tmp_path, f"{base}/to-private/data.json") == 1
    assert "non-public address" in capsys.readouterr().err
    assert _fetch(tmp_path, f"{base}/loop/data.json") == 1
    assert "redirects" in capsys.readouterr().err and hits["/loop/data.json"] == fetch.MAX_REDIRECTS + 1


def test_loopback_is_refused_without_the_test_flag(data_server, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    base, hits = data_server
    assert _fetch(tmp_path, f"{base}/files/data.json") == 2
    assert "non-public address" in capsys.readouterr().err
    assert sum(hits.values()) == 0


def test_two_urls_with_the_same_file_name_are_refused(allow_loopback, tmp_path: Path, capsys) -> None:
    assert _fetch(tmp_path, "https://a.example/x/data.json", "https://b.example/y/data.json") == 2
    assert "both be saved as data.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://h.example/a/train-0.parquet?download=true", "train-0.parquet"),
        ("https://h.example/a/my%20data.csv#frag", "my data.csv"),
    ],
)
def test_file_name_is_the_decoded_last_segment(url: str, name: str) -> None:
    assert file_name(url) == name


@pytest.mark.parametrize("url", ["https://h.example/dir/", "https://h.example/%2e%2e", "https://h.example/a%2Fb"])
def test_urls_without_a_safe_file_name_are_refused(url: str) -> None:
    with pytest.raises(FetchError, match="file name"):
        file_name(url)


def test_redact_drops_credentials_query_and_fragment() -> None:
    assert redact("https://user:pw@h.example:8443/p/x.csv?sig=secret#f") == "https://h.example:8443/p/x.csv"


def test_malformed_urls_and_redirects_are_errors_not_tracebacks(data_server, allow_loopback, tmp_path, capsys):
    base, _ = data_server
    assert _fetch(tmp_path, "http://[not-an-address/x.json") == 2
    assert "is not a valid URL" in capsys.readouterr().err
    assert _fetch(tmp_path, f"{base}/bad-redirect/x.json") == 1
    assert "redirects to an invalid URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
