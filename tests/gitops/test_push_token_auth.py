"""`kaito-compile push` through the registry token flow (what ghcr.io, Docker Hub, ACR, Harbor do): the real
docker-registry in token mode, and a token service on 127.0.0.1 that checks the Basic credentials it is sent and
issues RS256 JWTs (signed with openssl) that the registry verifies against the service's certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.gitops.test_push import LocalRegistry, needs_registry
from tests.support.cli import run_cli

REPO = Path(__file__).resolve().parents[2]
OPENSSL = shutil.which("openssl")
ISSUER, SERVICE = "kaito-test-issuer", "kaito-test-registry"
USER, PASSWORD = "ci-bot", "t0ken-pass"
pytestmark = [needs_registry, pytest.mark.skipif(OPENSSL is None, reason="openssl signs the test tokens")]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenService:
    """GET /token?service=…&scope=repository:NAME:ACTIONS with Basic auth → {"token": <JWT for that scope>}."""

    def __init__(self, directory: Path):
        self.key, self.cert = directory / "key.pem", directory / "cert.pem"
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key), "-out",
                        str(self.cert), "-days", "1", "-subj", "/CN=kaito-test-token-issuer"],
                       check=True, capture_output=True, timeout=60)
        self.cert_der = subprocess.run([OPENSSL, "x509", "-in", str(self.cert), "-outform", "DER"], check=True,
                                       capture_output=True, timeout=60).stdout
        self.requests: list[dict] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                authorization = self.headers.get("Authorization", "")
                service.requests.append({"query": query, "authorization": authorization})
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                if authorization != expected:
                    self._reply(401, {"details": "bad credentials"})
                    return
                self._reply(200, {"token": service.token(query.get("scope", ""))})

            def _reply(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, scope: str) -> str:
        _, name, actions = scope.split(":")
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": ISSUER, "sub": USER, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": f"{now}-{len(self.requests)}",
                  "access": [{"type": "repository", "name": name, "actions": actions.split(",")}]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", str(self.key)], input=signing_input.encode(),
                                   check=True, capture_output=True, timeout=60).stdout
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    service = TokenService(tmp_path_factory.mktemp("token-service"))
    registry = LocalRegistry(tmp_path_factory.mktemp("token-registry"), auth={"token": {
        "realm": service.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(service.cert)}})
    yield registry.host, service
    registry.stop()
    service.stop()


def _push(url: str, tree: Path) -> tuple[int, str, str]:
    return run_cli("push", url, str(tree), "--plain-http")


def test_bearer_token_flow_with_docker_config_credentials(token_registry, tmp_path, monkeypatch):
    host, service = token_registry
    tree = tmp_path / "out"
    shutil.copytree(REPO / "out", tree)
    url = f"oci://{host}/fleet/kaito:main"

    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    code, _, stderr = _push(url, tree)
    assert code == 2 and "refused (401)" in stderr and "no auths entry" in stderr
    assert service.requests[-1]["authorization"] == ""  # anonymous: no credentials were there to send

    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"username": USER, "password": PASSWORD}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    code, stdout, stderr = _push(url, tree)
    assert code == 0, stderr
    assert stdout.startswith(f"Pushed {url}@sha256:")
    scopes = {request["query"]["scope"] for request in service.requests}
    assert scopes == {"repository:fleet/kaito:pull,push"}
    assert {request["query"]["service"] for request in service.requests} == {SERVICE}

    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                          f"docker://{host}/fleet/kaito:main"], capture_output=True, check=True, timeout=120).stdout
    assert json.loads(raw)["layers"][0]["mediaType"] == "application/vnd.cncf.flux.content.v1.tar+gzip"
    assert f"@sha256:{hashlib.sha256(raw).hexdigest()}:" in stdout


def test_a_realm_that_is_not_https_is_refused_for_a_remote_registry():
    from kaito_compile.gitops.registry import Credential, Reference, Registry, RegistryError

    registry = Registry(Reference.parse("oci://registry.example.com/fleet/kaito:main"),
                        credential=Credential("u", "p"))
    with pytest.raises(RegistryError, match="is not https: refusing to send credentials"):
        registry._token({"realm": "http://auth.example.com/token", "service": "x"})
