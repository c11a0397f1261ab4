"""Adapter images: push and pull against a small OCI distribution registry served on 127.0.0.1.

The registry below implements the parts of the distribution API that clients use (token and Basic auth,
blob HEAD/GET, monolithic uploads, manifest PUT/GET by tag and digest) and checks what it receives, so the
client is exercised over real HTTP, not against a mock.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from kaito_runtime import artifact
from kaito_runtime.artifact import ArtifactError, Credential, credentials_for, parse_image, registry_base_url
from kaito_runtime.layout import PULL_SECRETS_DIR

USER, PASSWORD = "kaito-pusher", "s3cret-Pa55"
ADAPTER_CONFIG = json.dumps({"peft_type": "LORA", "r": 8, "target_modules": ["q_proj", "v_proj"]}).encode()
ADAPTER_WEIGHTS = bytes(range(256)) * 64


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class OciRegistry:
    """State of the test registry: blobs, manifests, issued tokens, and what the clients asked for."""

    auth: str = "bearer"  # "bearer" or "basic"
    public: set[str] = field(default_factory=set)
    corrupt_blobs: bool = False
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    tokens: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    token_scopes: list[str] = field(default_factory=list)
    address: str = ""
    realm: str | None = None  # the token realm to announce (default: this registry's /token)
    blob_redirect: str | None = None  # redirect blob GETs to this URL + digest, as registries do to storage
    storage_hits: int = 0

    def add_image(self, repository: str, tag: str, layers: list[bytes], *, media_type: str = artifact.OCI_MANIFEST,
                  config: bytes = b"{}") -> str:
        """Store an image directly (as another tool would have pushed it); return its manifest digest."""
        for blob in (config, *layers):
            self.blobs[_digest(blob)] = blob
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": artifact.OCI_CONFIG, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": artifact.OCI_LAYER_GZIP, "digest": _digest(b), "size": len(b)} for b in layers],
        }
        return self.add_manifest(repository, tag, media_type, json.dumps(manifest).encode())

    def add_manifest(self, repository: str, tag: str, media_type: str, body: bytes) -> str:
        digest = _digest(body)
        self.manifests[(repository, tag)] = self.manifests[(repository, digest)] = (media_type, body)
        return digest


_BLOB = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
_UPLOAD = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<id>[^/]*)$")
_MANIFEST = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")


class _RegistryHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def state(self) -> OciRegistry:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802
        self._route()

    def do_HEAD(self) -> None:  # noqa: N802
        self._route()

    def do_POST(self) -> None:  # noqa: N802
        self._route()

    def do_PUT(self) -> None:  # noqa: N802
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/token":
            return self._issue_token(parse_qs(url.query))
        if url.path.startswith("/storage/"):
            self.state.storage_hits += 1
            return self._reply(200, self.state.blobs[url.path.removeprefix("/storage/")])
        match = _UPLOAD.match(url.path) or _BLOB.match(url.path) or _MANIFEST.match(url.path)
        if not match:
            return self._reply(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no route"}]}')
        repository = match["repo"]
        action = "pull" if self.command in ("GET", "HEAD") else "push"
        if not self._authorized(repository, action):
            return self._challenge(repository, action)
        if match.re is _UPLOAD:
            return self._upload(repository, match["id"], parse_qs(url.query), body)
        if match.re is _BLOB:
            return self._blob(match["digest"])
        return self._manifest(repository, match["ref"], body)

    def _authorized(self, repository: str, action: str) -> bool:
        header = self.headers.get("Authorization", "")
        if self.state.auth == "basic":
            return header == Credential(USER, PASSWORD).basic_header()
        granted = self.state.tokens.get(header.removeprefix("Bearer "), set())
        return (repository, action) in granted

    def _challenge(self, repository: str, action: str) -> None:
        if self.state.auth == "basic":
            challenge = 'Basic realm="test-registry"'
        else:
            realm = self.state.realm or f"http://{self.state.address}/token"
            challenge = f'Bearer realm="{realm}",service="test-registry",scope="repository:{repository}:{action}"'
        self._reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                    {"WWW-Authenticate": challenge})

    def _issue_token(self, query: dict[str, list[str]]) -> None:
        scope = query.get("scope", [""])[0]
        self.state.token_scopes.append(scope)
        _, repository, actions = scope.split(":")
        header = self.headers.get("Authorization")
        if header and header != Credential(USER, PASSWORD).basic_header():
            return self._reply(401, b'{"details":"incorrect username or password"}')
        allowed = set(actions.split(",")) if header else ({"pull"} if repository in self.state.public else set())
        token = secrets.token_hex(8)
        self.state.tokens[token] = {(repository, a) for a in allowed}
        self._reply(200, json.dumps({"token": token}).encode())

    def _upload(self, repository: str, upload_id: str, query: dict[str, list[str]], body: bytes) -> None:
        if self.command == "POST":
            return self._reply(202, b"", {"Location": f"/v2/{repository}/blobs/uploads/{secrets.token_hex(4)}?state=x"})
        if query.get("state") != ["x"] or _digest(body) != query.get("digest", [""])[0]:
            return self._reply(400, b'{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}')
        self.state.blobs[_digest(body)] = body
        self._reply(201, b"", {"Docker-Content-Digest": _digest(body)})

    def _blob(self, digest: str) -> None:
        if digest not in self.state.blobs:
            return self._reply(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
        if self.state.blob_redirect:
            return self._reply(307, b"", {"Location": self.state.blob_redirect + digest})
        data = self.state.blobs[digest]
        self._reply(200, data[:-1] + b"!" if self.state.corrupt_blobs else data)

    def _manifest(self, repository: str, reference: str, body: bytes) -> None:
        if self.command == "PUT":
            referenced = [json.loads(body)["config"], *json.loads(body)["layers"]]
            if any(d["digest"] not in self.state.blobs for d in referenced):
                return self._reply(400, b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"}]}')
            digest = self.state.add_manifest(repository, reference, self.headers["Content-Type"], body)
            return self._reply(201, b"", {"Docker-Content-Digest": digest})
        if (repository, reference) not in self.state.manifests:
            return self._reply(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
        media_type, stored = self.state.manifests[(repository, reference)]
        self._reply(200, stored, {"Content-Type": media_type, "Docker-Content-Digest": _digest(stored)})

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve_registry(state: OciRegistry) -> Iterator[OciRegistry]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RegistryHandler)
    server.state = state  # type: ignore[attr-defined]
    state.address = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def registry() -> Iterator[OciRegistry]:
    yield from serve_registry(OciRegistry(public={"public/adapters"}))


@pytest.fixture
def basic_registry() -> Iterator[OciRegistry]:
    yield from serve_registry(OciRegistry(auth="basic"))


@pytest.fixture
def runtime_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A KAITO_RUNTIME_ROOT with a pull-secrets volume folder, and plain http allowed to loopback."""
    root = tmp_path / "root"
    (root / PULL_SECRETS_DIR.lstrip("/") / "secrets-volume").mkdir(parents=True)
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(root))
    monkeypatch.setenv(artifact.PLAIN_HTTP_ENV, "1")
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    return root


def _mount_push_secret(root: Path, address: str, password: str = PASSWORD) -> None:
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    path = root / PULL_SECRETS_DIR.lstrip("/") / "secrets-volume" / "push-secret.json"
    path.write_text(json.dumps({"auths": {f"https://{address}": {"auth": auth}, "other.example": {"auth": "eDp5"}}}))


def _write_tuning_output(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "adapter_config.json").write_bytes(ADAPTER_CONFIG)
    (directory / "adapter_model.safetensors").write_bytes(ADAPTER_WEIGHTS)
    (directory / "README.md").write_text("model card, not part of the image")
    (directory / "checkpoint-2").mkdir(exist_ok=True)
    (directory / "checkpoint-2" / "optimizer.pt").write_bytes(b"not part of the image")
    return directory


def _layer_members(state: OciRegistry, repository: str, tag: str) -> tuple[dict, list[str], bytes]:
    _, body = state.manifests[(repository, tag)]
    manifest = json.loads(body)
    layer = state.blobs[manifest["layers"][0]["digest"]]
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as tar:
        names = tar.getnames()
    return manifest, names, gzip.decompress(layer)


def _run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args[1:]], env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def test_pusher_waits_for_the_marker_then_pull_round_trips_the_adapter(registry, runtime_root: Path) -> None:
    _mount_push_secret(runtime_root, registry.address)
    _write_tuning_output(runtime_root / "mnt" / "results")
    image = f"{registry.address}/adapters/phi-3-mini-128k-qlora:0.0.1"
    push_argv = [
        "python3", "-m", "kaito_runtime.artifact", "push", f"--image={image}", "--source=/mnt/results",
        "--wait-for=/mnt/results/fine_tuning_completed.txt", "--model-name=phi-3-mini-128k-instruct",
        "--poll-interval-s=0.1",
    ]
    pusher = _run(push_argv, {})
    time.sleep(1.5)
    assert pusher.poll() is None, pusher.communicate()
    assert registry.manifests == {}
    (runtime_root / "mnt" / "results" / "fine_tuning_completed.txt").write_text("done\n")
    _, stderr = pusher.communicate(timeout=60)
    assert pusher.returncode == 0, stderr

    manifest, members, tar_bytes = _layer_members(registry, "adapters/phi-3-mini-128k-qlora", "0.0.1")
    assert members == ["data", "data/adapter_config.json", "data/adapter_model.safetensors"]
    assert manifest["annotations"] == {"sh.kaito.model.name": "phi-3-mini-128k-instruct"}
    assert manifest["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    config = json.loads(registry.blobs[manifest["config"]["digest"]])
    assert config["rootfs"]["diff_ids"] == [_digest(tar_bytes)]
    assert registry.token_scopes == ["repository:adapters/phi-3-mini-128k-qlora:pull,push"]

    docker_config = runtime_root / "docker-config"  # DOCKER_CONFIG is a container path, remapped like the others
    docker_config.mkdir()
    basic = {"username": USER, "password": PASSWORD}
    (docker_config / "config.json").write_text(json.dumps({"auths": {registry.address: basic}}))
    pull_argv = ["python3", "-m", "kaito_runtime.artifact", "pull", f"--image={image}", "--dest=/mnt/adapter/phi-3"]
    (runtime_root / PULL_SECRETS_DIR.lstrip("/") / "secrets-volume" / "push-secret.json").unlink()
    puller = _run(pull_argv, {"DOCKER_CONFIG": "/docker-config"})
    _, stderr = puller.communicate(timeout=60)
    assert puller.returncode == 0, stderr
    pulled = runtime_root / "mnt" / "adapter" / "phi-3"
    assert sorted(p.name for p in pulled.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    assert (pulled / "adapter_config.json").read_bytes() == ADAPTER_CONFIG
    assert (pulled / "adapter_model.safetensors").read_bytes() == ADAPTER_WEIGHTS


def test_pushing_the_same_adapter_twice_gives_the_same_digest(registry, runtime_root: Path) -> None:
    _mount_push_secret(runtime_root, registry.address)
    (_write_tuning_output(runtime_root / "out") / "done").write_text("")
    for tag in ("a", "b"):
        artifact.push(f"{registry.address}/adapters/x:{tag}", "/out", "/out/done", model_name=None, poll_interval_s=0.1)
    assert registry.manifests[("adapters/x", "a")] == registry.manifests[("adapters/x", "b")]
    assert "annotations" not in json.loads(registry.manifests[("adapters/x", "a")][1])


def test_wrong_credentials_fail_clearly_without_echoing_them(registry, runtime_root: Path, capsys) -> None:
    _mount_push_secret(runtime_root, registry.address, password="wrong-Pa55")
    (_write_tuning_output(runtime_root / "out") / "done").write_text("")
    argv = ["push", f"--image={registry.address}/adapters/x:1", "--source=/out", "--wait-for=/out/done"]
    assert artifact.main(argv) == 1
    error = capsys.readouterr().err
    assert "HTTP 401" in error and "check the credentials" in error and "wrong-Pa55" not in error
    assert registry.manifests == {}


def test_anonymous_pull_works_for_public_repositories_only(registry, runtime_root: Path) -> None:
    layer = _gzip_tar({"data/adapter_config.json": b"{}", "data/adapter_model.safetensors": b"w"})
    registry.add_image("public/adapters", "1", [layer])
    registry.add_image("private/adapters", "1", [layer])
    artifact.pull(f"{registry.address}/public/adapters:1", "/public")
    assert (runtime_root / "public" / "adapter_model.safetensors").read_bytes() == b"w"
    with pytest.raises(ArtifactError, match="HTTP 401"):
        artifact.pull(f"{registry.address}/private/adapters:1", "/private")


def test_basic_auth_registry_round_trip(basic_registry, runtime_root: Path) -> None:
    _mount_push_secret(runtime_root, basic_registry.address)
    (_write_tuning_output(runtime_root / "out") / "done").write_text("")
    image = f"{basic_registry.address}/team/adapter:v1"
    artifact.push(image, "/out", "/out/done", model_name="falcon-7b", poll_interval_s=0.1)
    artifact.pull(image, "/pulled")
    assert (runtime_root / "pulled" / "adapter_model.safetensors").read_bytes() == ADAPTER_WEIGHTS


def test_pull_by_digest_through_a_docker_style_index(registry, runtime_root: Path) -> None:
    amd64 = registry.add_image("public/adapters", "amd64", [_gzip_tar({"data/which.txt": b"amd64"})])
    arm64 = registry.add_image("public/adapters", "arm64", [_gzip_tar({"data/which.txt": b"arm64"})])
    attestation = registry.add_image("public/adapters", "att", [_gzip_tar({"statement.json": b"{}"})])
    entries = [
        (arm64, {"os": "linux", "architecture": "arm64"}),
        (attestation, {"os": "unknown", "architecture": "unknown"}),
        (amd64, {"os": "linux", "architecture": "amd64"}),
    ]
    index = {"schemaVersion": 2, "mediaType": artifact.OCI_INDEX, "manifests": [
        {"mediaType": artifact.OCI_MANIFEST, "digest": digest, "size": 1, "platform": platform}
        for digest, platform in entries
    ]}
    index_digest = registry.add_manifest("public/adapters", "multi", artifact.OCI_INDEX, json.dumps(index).encode())
    artifact.pull(f"{registry.address}/public/adapters@{index_digest}", "/pulled")
    assert (runtime_root / "pulled" / "which.txt").read_bytes() == b"amd64"


def test_corrupted_blobs_are_refused(registry, runtime_root: Path) -> None:
    registry.add_image("public/adapters", "1", [_gzip_tar({"data/adapter_config.json": b"{}"})])
    registry.corrupt_blobs = True
    with pytest.raises(ArtifactError, match="does not match its digest"):
        artifact.pull(f"{registry.address}/public/adapters:1", "/pulled")
    assert list((runtime_root / "pulled").iterdir()) == []


@pytest.mark.parametrize(
    "members",
    [
        {"data/../../escaped.txt": b"x"},
        {"data/link": (tarfile.SYMTYPE, "/etc/passwd")},
        {"data/hardlink": (tarfile.LNKTYPE, "../../escaped.txt")},
    ],
)
def test_unsafe_layer_entries_are_refused(registry, runtime_root: Path, members: dict) -> None:
    registry.add_image("public/adapters", "evil", [_gzip_tar(members)])
    with pytest.raises(ArtifactError, match="unsafe"):
        artifact.pull(f"{registry.address}/public/adapters:evil", "/pulled")
    assert not (runtime_root / "escaped.txt").exists() and list((runtime_root / "pulled").iterdir()) == []


def test_absolute_layer_paths_stay_inside_the_destination(registry, runtime_root: Path) -> None:
    registry.add_image("public/adapters", "abs", [_gzip_tar({"/data/absolute.txt": b"x", "/etc/evil": b"y"})])
    artifact.pull(f"{registry.address}/public/adapters:abs", "/pulled")
    assert [p.name for p in (runtime_root / "pulled").iterdir()] == ["absolute.txt"]
    assert not (runtime_root / "etc").exists()


def test_image_without_a_data_folder_is_a_clear_error(registry, runtime_root: Path) -> None:
    registry.add_image("public/adapters", "nodata", [_gzip_tar({"weights/adapter_config.json": b"{}"})])
    with pytest.raises(ArtifactError, match="no /data folder"):
        artifact.pull(f"{registry.address}/public/adapters:nodata", "/pulled")


def test_push_refuses_an_output_without_the_adapter_files(registry, runtime_root: Path) -> None:
    (runtime_root / "done").write_text("")
    with pytest.raises(ArtifactError, match="adapter_model.safetensors"):
        artifact.push(f"{registry.address}/a/b:1", "/", "/done", model_name=None, poll_interval_s=0.1)


def test_plain_http_is_only_for_loopback_registries_with_the_test_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifact.PLAIN_HTTP_ENV, raising=False)
    assert registry_base_url(parse_image("127.0.0.1:5000/a:1")) == "https://127.0.0.1:5000"
    monkeypatch.setenv(artifact.PLAIN_HTTP_ENV, "1")
    assert registry_base_url(parse_image("127.0.0.1:5000/a:1")) == "http://127.0.0.1:5000"
    assert registry_base_url(parse_image("localhost:5000/a:1")) == "http://localhost:5000"
    assert registry_base_url(parse_image("[::1]:5000/a:1")) == "http://[::1]:5000"
    assert registry_base_url(parse_image("10.0.0.5:5000/a:1")) == "https://10.0.0.5:5000"
    assert registry_base_url(parse_image("myacr.azurecr.io/a:1")) == "https://myacr.azurecr.io"


def test_without_the_flag_a_loopback_registry_is_not_spoken_to(registry, runtime_root, monkeypatch):
    """Without the test variable a registry on 127.0.0.1 is refused before any connection (the SSRF rules)."""
    monkeypatch.delenv(artifact.PLAIN_HTTP_ENV)
    registry.add_image("public/adapters", "1", [_gzip_tar({"data/x": b"x"})])
    with pytest.raises(ArtifactError, match="refusing to connect: .*non-public address"):
        artifact.pull(f"{registry.address}/public/adapters:1", "/pulled")
    assert registry.token_scopes == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ubuntu:22.04", ("docker.io", "library/ubuntu", "22.04", None)),
        ("kaito/adapter:1", ("docker.io", "kaito/adapter", "1", None)),
        ("contosoacr.azurecr.io/phi-3-qlora:0.0.1", ("contosoacr.azurecr.io", "phi-3-qlora", "0.0.1", None)),
        ("localhost:5000/a/b/c:v1", ("localhost:5000", "a/b/c", "v1", None)),
        ("ghcr.io/o/a@sha256:" + "a" * 64, ("ghcr.io", "o/a", None, "sha256:" + "a" * 64)),
        ("UPPER/case:1", ("UPPER", "case", "1", None)),  # an upper-case first component is a domain, as in docker
    ],
)
def test_image_references_are_normalised_like_docker(text: str, expected: tuple) -> None:
    parsed = parse_image(text)
    assert (parsed.domain, parsed.path, parsed.tag, parsed.digest) == expected


@pytest.mark.parametrize(
    "text",
    ["ghcr.io/o/a", "docker.io/UPPER/case:1", "a b:1", "ghcr.io/o/a:bad tag", "https://ghcr.io/a:1", "",
     "ghcr.io/o/a:1\n", "ghcr.io/o/a:1\u00e9", "ghcr.io/o/a@sha512:" + "a" * 128, "ghcr.io/o/a@sha256:" + "a" * 63],
)
def test_invalid_or_untagged_references_are_refused(text: str) -> None:
    with pytest.raises(ArtifactError):
        parse_image(text)


def test_credentials_are_found_under_any_spelling_of_the_registry(tmp_path: Path) -> None:
    auth = base64.b64encode(b"u1:p:with:colons").decode()
    first = tmp_path / "a.json"
    first.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}, "ghcr.io": {"auth": "!!"}}}))
    second = tmp_path / "b.json"
    second.write_text(json.dumps({"auths": {"docker.io": {"username": "u2", "password": "p2"}}}))
    assert credentials_for("docker.io", [first, second]) == [Credential("u1", "p:with:colons"), Credential("u2", "p2")]
    assert credentials_for("ghcr.io", [first, second]) == []
    assert "p2" not in repr(Credential("u2", "p2"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ArtifactError, match="broken.json"):
        credentials_for("docker.io", [broken])


def _gzip_tar(members: dict[str, bytes | tuple[bytes, str]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


# --- the puller's network rules (kaito_runtime.egress, shared with the fetcher) ---------------------------------


def test_blob_redirects_to_storage_are_followed_hop_by_hop(registry, runtime_root: Path) -> None:
    registry.add_image("public/adapters", "1", [_gzip_tar({"data/adapter_model.safetensors": b"w"})])
    registry.blob_redirect = f"http://localhost:{registry.address.split(':')[1]}/storage/"
    artifact.pull(f"{registry.address}/public/adapters:1", "/pulled")
    assert (runtime_root / "pulled" / "adapter_model.safetensors").read_bytes() == b"w"
    assert registry.storage_hits == 1


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/storage/", "https://10.0.0.1/storage/", "https://metadata.google.internal/storage/",
     "http://[::ffff:10.0.0.1]/storage/", "file:///etc/"],
)
def test_blob_redirects_to_unsafe_destinations_are_refused(registry, runtime_root: Path, location: str) -> None:
    registry.add_image("public/adapters", "1", [_gzip_tar({"data/x": b"x"})])
    registry.blob_redirect = location
    with pytest.raises(ArtifactError, match="refusing to connect"):
        artifact.pull(f"{registry.address}/public/adapters:1", "/pulled")
    assert list((runtime_root / "pulled").iterdir()) == []


@pytest.mark.parametrize(
    "realm", ["http://169.254.169.254/token", "https://10.1.2.3/token", "http://metadata.google.internal/token",
              "https://[fd00::1]/token"],
)
def test_token_realms_get_the_same_rules(registry, runtime_root: Path, realm: str) -> None:
    """A registry's 401 challenge cannot send the puller (and its credentials) to an internal endpoint."""
    _mount_push_secret(runtime_root, registry.address)
    registry.add_image("private/adapters", "1", [_gzip_tar({"data/x": b"x"})])
    registry.realm = realm
    with pytest.raises(ArtifactError, match="refusing to connect"):
        artifact.pull(f"{registry.address}/private/adapters:1", "/pulled")
    assert registry.token_scopes == []


def test_a_plain_http_realm_on_a_public_host_is_refused(registry, runtime_root: Path) -> None:
    """Credentials go over https only, even with the loopback test flag set."""
    _mount_push_secret(runtime_root, registry.address)
    registry.add_image("private/adapters", "1", [_gzip_tar({"data/x": b"x"})])
    registry.realm = "http://auth.example.com/token"
    with pytest.raises(ArtifactError, match="only https"):
        artifact.pull(f"{registry.address}/private/adapters:1", "/pulled")


# --- hostile layers: nothing is written or linked outside --dest (kaito_runtime.layers) -------------------------


def _cve_2025_4517_layer(outside_levels: int) -> bytes:
    """The published PoC of CVE-2025-4517, under data/: a chain of 247-byte directories and one-letter
    symlinks makes realpath() give up past PATH_MAX, so tarfile's ``data`` filter (before the fix) passes
    ``data/escape`` -> ``../`` x ``outside_levels`` /outside and the file written through it."""
    comp, steps = "d" * 247, "abcdefghijklmnop"
    members: dict[str, bytes | tuple] = {}
    path = "data"
    for step in steps:
        members[f"{path}/{comp}"] = (tarfile.DIRTYPE, "")
        members[f"{path}/{step}"] = (tarfile.SYMTYPE, comp)
        path = f"{path}/{comp}"
    long_link = "/".join(steps) + "/" + "l" * 254
    members[f"data/{long_link}"] = (tarfile.SYMTYPE, "../" * len(steps))
    members["data/escape"] = (tarfile.SYMTYPE, long_link + "/" + "../" * outside_levels + "outside")
    members["data/escape/pwned"] = b"pwned"
    return _gzip_tar(members)


def _assert_nothing_escaped(runtime_root: Path) -> None:
    """Nothing was written outside the destination, and the destination is left empty."""
    assert list((runtime_root / "outside").iterdir()) == []
    assert list((runtime_root / "pulled").iterdir()) == []
    assert not (runtime_root / "escaped.txt").exists()


@pytest.fixture
def outside(runtime_root: Path) -> Path:
    (runtime_root / "outside").mkdir()
    (runtime_root / "pulled").mkdir()
    return runtime_root / "outside"


def test_the_cve_2025_4517_layer_is_refused_whatever_the_python_patch_level(registry, runtime_root, outside):
    # staging is <dest>/.kaito-pull-*/rootfs/data: four levels up from data/ is the runtime root
    registry.add_image("public/adapters", "cve", [_cve_2025_4517_layer(outside_levels=4)])
    with pytest.raises(ArtifactError, match="unsafe layer content: .*written through"):
        artifact.pull(f"{registry.address}/public/adapters:cve", "/pulled")
    _assert_nothing_escaped(runtime_root)


@pytest.mark.parametrize(
    ("layers", "reason"),
    [
        # relative symlinks that stay inside the staging rootfs but leave --dest once data/'s children move there
        ([{"data/up": (tarfile.SYMTYPE, "..")}], "points outside /data"),
        ([{"data/sub/": (tarfile.DIRTYPE, ""), "data/sub/up": (tarfile.SYMTYPE, "../..")}], "points outside"),
        ([{"data/x": (tarfile.SYMTYPE, "sub/../../..")}], "points outside"),
        ([{"data/x": (tarfile.SYMTYPE, "")}], "unusable target"),
        ([{"data/x": (tarfile.SYMTYPE, "../" * 2000 + "etc")}], "unusable target|points outside"),
        # data itself must be a folder (a link there would move the link's target into --dest)
        ([{"data": (tarfile.SYMTYPE, "/")}], "must be a directory"),
        ([{"./data": (tarfile.SYMTYPE, "rootfs")}], "must be a directory"),
        # writing through a symlink, from this layer or an earlier one, even one that points inside
        ([{"data/in/": (tarfile.DIRTYPE, ""), "data/l": (tarfile.SYMTYPE, "in"), "data/l/f": b"x"}], "written through"),
        ([{"data/in/": (tarfile.DIRTYPE, ""), "data/l": (tarfile.SYMTYPE, "in")}, {"data/l/f": b"x"}],
         "written through"),
        ([{"data/f": b"file"}, {"data/f/x": b"x"}], "written through"),
        # hardlinks: only to a file unpacked under data/
        ([{"data/h": (tarfile.LNKTYPE, "etc/passwd")}], "does not name a file under /data"),
        ([{"data/h": (tarfile.LNKTYPE, "/etc/passwd")}], "does not name a file under /data"),
        ([{"data/h": (tarfile.LNKTYPE, "data/missing")}], "not to an unpacked file"),
        ([{"data/d/": (tarfile.DIRTYPE, ""), "data/h": (tarfile.LNKTYPE, "data/d")}], "not to an unpacked file"),
        ([{"data/in/": (tarfile.DIRTYPE, ""), "data/l": (tarfile.SYMTYPE, "in"), "data/in/f": b"x",
           "data/h": (tarfile.LNKTYPE, "data/l/f")}], "written through"),
        # special files
        ([{"data/fifo": (tarfile.FIFOTYPE, "")}], "FIFO"),
        ([{"data/null": (tarfile.CHRTYPE, "")}], "character device"),
        ([{"data/sda": (tarfile.BLKTYPE, "")}], "block device"),
        # names
        ([{"data/" + "n" * 256: b"x"}], "over 255 bytes"),
        ([{"data/" + "/".join(["n" * 200] * 21): b"x"}], "not a usable path"),
        ([{"data/ok": b"x", "../data/x": b"x"}], "climbs out"),
    ],
)
def test_hostile_layer_entries_are_refused(registry, runtime_root, outside, layers: list[dict], reason: str) -> None:
    registry.add_image("public/adapters", "evil", [_gzip_tar(layer) for layer in layers])
    with pytest.raises(ArtifactError, match=f"unsafe layer content: .*({reason})"):
        artifact.pull(f"{registry.address}/public/adapters:evil", "/pulled")
    _assert_nothing_escaped(runtime_root)


def test_links_that_stay_inside_data_are_unpacked_and_resolve_inside_the_destination(registry, runtime_root):
    layers = [
        {"data/adapter_config.json": b"{}", "data/weights/": (tarfile.DIRTYPE, ""),
         "data/weights/model.safetensors": b"w", "data/weights/config": (tarfile.SYMTYPE, "../adapter_config.json")},
        {"data/adapter_model.safetensors": (tarfile.SYMTYPE, "weights/model.safetensors"),
         "data/copy.json": (tarfile.LNKTYPE, "data/adapter_config.json"),
         "data/weights/model.safetensors": b"w2"},  # a later layer replaces a file (not through the old one)
    ]
    registry.add_image("public/adapters", "links", [_gzip_tar(layer) for layer in layers])
    artifact.pull(f"{registry.address}/public/adapters:links", "/pulled")
    pulled = runtime_root / "pulled"
    assert sorted(p.name for p in pulled.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "copy.json", "weights"]
    assert (pulled / "adapter_model.safetensors").resolve() == (pulled / "weights" / "model.safetensors")
    assert (pulled / "adapter_model.safetensors").read_bytes() == b"w2"
    assert (pulled / "weights" / "config").resolve() == pulled / "adapter_config.json"
    assert (pulled / "copy.json").read_bytes() == b"{}" and (pulled / "copy.json").stat().st_nlink == 2


def test_unpacked_modes_lose_setuid_and_group_write(registry, runtime_root):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("data/tool")
        info.size, info.mode = 1, 0o6777
        tar.addfile(info, io.BytesIO(b"x"))
    registry.add_image("public/adapters", "modes", [gzip.compress(raw.getvalue(), mtime=0)])
    artifact.pull(f"{registry.address}/public/adapters:modes", "/pulled")
    assert (runtime_root / "pulled" / "tool").stat().st_mode & 0o7777 == 0o755


def test_redirect_chains_are_bounded(registry, runtime_root: Path) -> None:
    registry.add_image("public/adapters", "1", [_gzip_tar({"data/x": b"x"})])
    registry.blob_redirect = f"http://{registry.address}/v2/public/adapters/blobs/"  # redirects to itself
    with pytest.raises(ArtifactError, match="TooManyRedirects"):
        artifact.pull(f"{registry.address}/public/adapters:1", "/pulled")
