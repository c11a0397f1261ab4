"""The runtime's outbound HTTP rules (kaito_runtime.egress): which URLs and addresses are refused, and that the
connection goes to the very address that was vetted (no second lookup a rebinding DNS server could answer)."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import httpx
import pytest

from kaito_runtime import egress, fetch
from kaito_runtime.egress import EgressPolicy, UnsafeDestination, check_url, guarded_client, is_public, resolve_vetted

FETCHER = EgressPolicy(plain_http=True)
REGISTRY = EgressPolicy(plain_http=False)
PUBLIC_IP = "93.184.216.34"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/data.csv",
        "https:///data.csv",
        "http://localhost/data.csv",
        "http://LOCALHOST./data.csv",
        "http://api.localhost/data.csv",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://instance-data.ec2.internal/latest",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/data.csv",
        "http://192.168.0.10/data.csv",
        "http://100.100.100.200/latest",
        "http://0.0.0.0/data.csv",
        "http://224.0.0.1/data.csv",
        "http://239.255.255.250/data.csv",
        "http://240.0.0.1/data.csv",
        "http://255.255.255.255/data.csv",
        "http://198.18.0.1/data.csv",
        "http://192.0.2.1/data.csv",
        "http://[::1]/data.csv",
        "http://[::]/data.csv",
        "http://[fd00:ec2::254]/latest",
        "http://[fe80::1%25eth0]/data.csv",
        "http://[fec0::1]/data.csv",
        "http://[ff02::1]/data.csv",
        "http://[::ffff:127.0.0.1]/data.csv",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[::127.0.0.1]/data.csv",  # IPv4-compatible (deprecated)
        "http://[2002:7f00:1::]/data.csv",  # 6to4 embedding 127.0.0.1
        "http://[2002:a9fe:a9fe::]/latest",  # 6to4 embedding 169.254.169.254
        "http://[64:ff9b::a00:1]/data.csv",  # NAT64 embedding 10.0.0.1
        "http://[64:ff9b:1::1]/data.csv",  # local-use NAT64
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/data.csv",  # Teredo
        "http://[2001:db8::1]/data.csv",  # documentation
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeDestination):
        check_url(url, FETCHER)


@pytest.mark.parametrize(
    "url",
    [
        "https://huggingface.co/datasets/a/b/resolve/main/x.parquet",
        f"http://{PUBLIC_IP}/x",
        "http://[2606:2800:220:1:248:1893:25c8:1946]/x",
        "http://[2002:5db8:d822::]/x",  # 6to4 embedding a public address
        "http://[::ffff:93.184.216.34]/x",  # IPv4-mapped public address
        "http://[64:ff9b::5db8:d822]/x",  # NAT64 embedding a public address
    ],
)
def test_public_urls_pass_the_static_checks(url: str) -> None:
    check_url(url, FETCHER)


def test_registries_are_https_only_and_plain_http_only_reaches_loopback_in_tests() -> None:
    check_url("https://ghcr.io/v2/", REGISTRY)
    with pytest.raises(UnsafeDestination, match="only https"):
        check_url("http://ghcr.io/v2/", REGISTRY)
    test_registry = EgressPolicy(plain_http=False, allow_loopback=True)
    check_url("http://127.0.0.1:5000/v2/", test_registry)
    check_url("http://localhost:5000/v2/", test_registry)
    with pytest.raises(UnsafeDestination, match="only https"):
        check_url("http://ghcr.io/v2/", test_registry)
    with pytest.raises(UnsafeDestination, match="non-public"):
        check_url("https://10.0.0.1/v2/", test_registry)  # the test flag opens loopback only


def test_the_loopback_test_flag_opens_loopback_and_nothing_else() -> None:
    allowed = EgressPolicy(plain_http=True, allow_loopback=True)
    for url in ("http://127.0.0.1/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://localhost/x"):
        check_url(url, allowed)
    for url in ("http://10.0.0.1/x", "http://169.254.169.254/x", "http://metadata.google.internal/x"):
        with pytest.raises(UnsafeDestination):
            check_url(url, allowed)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111"])
def test_is_public_accepts_global_unicast(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["2130706433", "127.1", "0x7f.0.0.1"])
def test_hosts_resolving_to_loopback_are_refused_unless_allowed(host: str) -> None:
    check_url(f"http://{host}/data.csv", FETCHER)  # not an IP literal or a local name: only resolution catches it
    with pytest.raises(UnsafeDestination, match="non-public"):
        resolve_vetted(host, 80, FETCHER)
    assert resolve_vetted(host, 80, EgressPolicy(plain_http=True, allow_loopback=True))


# --- DNS rebinding: the connection goes to the vetted address ---------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with the server's ``body`` (or a redirect to its ``redirect``) and records the path
    and the Host header."""

    def do_GET(self) -> None:  # noqa: N802
        self.server.hits[self.path] += 1  # type: ignore[attr-defined]
        self.server.hosts.append(self.headers.get("Host"))  # type: ignore[attr-defined]
        body = self.server.body  # type: ignore[attr-defined]
        redirect = getattr(self.server, "redirect", None)
        self.send_response(302 if redirect else 200)
        if redirect:
            self.send_header("Location", redirect)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(body: bytes, context: ssl.SSLContext | None = None) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.body, server.hits, server.hosts = body, Counter(), []  # type: ignore[attr-defined]
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def internal_server() -> Iterator[ThreadingHTTPServer]:
    yield from _serve(b"internal secret\n")


@pytest.fixture
def public_server() -> Iterator[ThreadingHTTPServer]:
    yield from _serve(b"public data\n")


def _resolver(answers: dict[str, list[list[str]]], calls: list[str]) -> Callable[..., list]:
    """A getaddrinfo that answers the names in ``answers`` from a script (one list per call, the last one
    repeated) and passes everything else to the real resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        script = answers[host]
        addresses = script[min(len(calls) - 1, len(script) - 1)]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in addresses]

    return getaddrinfo


def _public_ip_plays(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Let ``server`` stand in for PUBLIC_IP at the socket layer; return the list of hosts the socket layer is
    asked to connect to (httpcore's, below every check)."""
    connected: list[str] = []
    real_connect = httpcore.SyncBackend.connect_tcp

    def connect_tcp(self, host, port, *args, **kwargs):
        connected.append(host)
        if host == PUBLIC_IP:
            return real_connect(self, "127.0.0.1", server.server_address[1], *args, **kwargs)
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    return connected


def test_a_rebinding_answer_cannot_redirect_the_connection(internal_server, public_server, tmp_path, monkeypatch):
    """data.example first resolves to a public address, then to 127.0.0.1 (a rebinding DNS server). The fetch
    connects to the public address it vetted, once, and the internal server on 127.0.0.1 is never reached.

    Without internet, the public address is played by a second local server: the socket layer is told to
    reach PUBLIC_IP at that server's port. Were the URL's host looked up again at connect time (as a check
    followed by a plain ``httpx`` request does), that second answer would reach the internal server."""
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    port = internal_server.server_address[1]
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"data.example": [[PUBLIC_IP], ["127.0.0.1"]]}, calls))
    connected = _public_ip_plays(public_server, monkeypatch)
    assert fetch.main([f"--dest={tmp_path}", f"--url=http://data.example:{port}/files/x.json", "--attempts=1"]) == 0
    assert (tmp_path / "x.json").read_bytes() == b"public data\n"
    assert connected == [PUBLIC_IP] and calls == ["data.example"]
    assert sum(internal_server.hits.values()) == 0
    assert public_server.hosts == [f"data.example:{port}"]  # the Host header names the host, not the address


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(internal_server, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    port = internal_server.server_address[1]
    calls: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"data.example": [[PUBLIC_IP, "127.0.0.1"]]}, calls))
    assert fetch.main([f"--dest={tmp_path}", f"--url=http://data.example:{port}/x.json", "--attempts=1"]) == 1
    assert "data.example resolves to 127.0.0.1: must not target" in capsys.readouterr().err
    assert sum(internal_server.hits.values()) == 0 and list(tmp_path.iterdir()) == []


def test_redirect_hops_are_resolved_and_vetted_one_by_one(internal_server, public_server, tmp_path, monkeypatch,
                                                          capsys):
    """A public host redirects to a name that resolves to loopback: that hop is refused at its own lookup,
    before any connection to it."""
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    port = internal_server.server_address[1]
    public_server.redirect = f"http://internal.example:{port}/secret.json"  # type: ignore[attr-defined]
    calls: list[str] = []
    answers = {"data.example": [[PUBLIC_IP]], "internal.example": [["127.0.0.1"]]}
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(answers, calls))
    connected = _public_ip_plays(public_server, monkeypatch)
    assert fetch.main([f"--dest={tmp_path}", f"--url=http://data.example:{port}/x.json", "--attempts=1"]) == 1
    assert "internal.example resolves to 127.0.0.1: must not target" in capsys.readouterr().err
    assert calls == ["data.example", "internal.example"] and connected == [PUBLIC_IP]
    assert sum(public_server.hits.values()) == 1 and sum(internal_server.hits.values()) == 0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for data.example (made with the openssl CLI), and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=data.example",
         "-addext", "subjectAltName=DNS:data.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[ThreadingHTTPServer]:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    for server in _serve(b"over tls\n", context):
        server.sni_names = names  # type: ignore[attr-defined]
        yield server


def test_tls_is_verified_for_the_host_name_while_connecting_to_the_vetted_address(
    tls_server, tls_files, tmp_path, monkeypatch, capsys
):
    """Connecting to the vetted IP keeps SNI, Host and certificate verification on the URL's name: a name the
    certificate does not cover fails verification even though it resolves to the same address."""
    monkeypatch.setenv(fetch.ALLOW_LOOPBACK_ENV, "1")
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    port = tls_server.server_address[1]
    calls: list[str] = []
    answers = {"data.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]}
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(answers, calls))
    assert fetch.main([f"--dest={tmp_path}", f"--url=https://data.example:{port}/x.json", "--attempts=1"]) == 0
    assert (tmp_path / "x.json").read_bytes() == b"over tls\n"
    assert tls_server.sni_names == ["data.example"] and tls_server.hosts == [f"data.example:{port}"]
    assert fetch.main([f"--dest={tmp_path}", f"--url=https://other.example:{port}/y.json", "--attempts=1"]) == 1
    assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err and not (tmp_path / "y.json").exists()


def test_a_client_refuses_to_build_when_httpx_no_longer_has_the_pool_it_pins(monkeypatch) -> None:
    """The pinning relies on httpx internals; if they change, no unpinned client is ever made."""
    real_init = httpx.HTTPTransport.__init__

    def init_without_pool(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        del self._pool

    monkeypatch.setattr(httpx.HTTPTransport, "__init__", init_without_pool)
    with pytest.raises(RuntimeError, match="refusing to connect unpinned"):
        guarded_client(FETCHER)


def test_proxy_settings_are_not_used(internal_server, public_server, tmp_path, monkeypatch) -> None:
    """A proxy would make its own lookup of the host, so the environment's proxies are ignored: the request
    goes to the vetted address, not to the proxy (here the internal server)."""
    monkeypatch.delenv(fetch.ALLOW_LOOPBACK_ENV, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{internal_server.server_address[1]}")
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({"data.example": [[PUBLIC_IP]]}, []))
    connected = _public_ip_plays(public_server, monkeypatch)
    assert fetch.main([f"--dest={tmp_path}", "--url=http://data.example/x.json", "--attempts=1"]) == 0
    assert connected == [PUBLIC_IP] and sum(internal_server.hits.values()) == 0


def test_no_compiled_manifest_can_switch_the_loopback_overrides_on() -> None:
    """The test-only variables are never emitted: the helpers' containers get a fixed environment (the spec
    has no field that reaches it), and the names appear nowhere in the compiler or the compiled examples."""
    import yaml

    from kaito_runtime import artifact
    from tests.support.compiled import OUT

    overrides = (fetch.ALLOW_LOOPBACK_ENV, artifact.PLAIN_HTTP_ENV)
    compiler = Path(__file__).resolve().parents[2] / "kaito_compile"
    for path in [*compiler.rglob("*.py"), *OUT.rglob("*.yaml")]:
        text = path.read_text()
        assert not any(name in text for name in overrides), path
    helpers = 0
    for path in OUT.rglob("*.yaml"):
        for manifest in yaml.safe_load_all(path.read_text()):
            pod = (manifest or {}).get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                if container.get("command", [])[:3] in (["python3", "-m", "kaito_runtime.fetch"],
                                                        ["python3", "-m", "kaito_runtime.artifact"]):
                    helpers += 1
                    assert {e["name"] for e in container.get("env", [])} <= {"DOCKER_CONFIG"}, path
                    assert "envFrom" not in container, path
    assert helpers >= 3
