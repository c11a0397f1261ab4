"""`kaito-compile push` against a real registry (Debian's docker-registry on 127.0.0.1), read back with skopeo.

Each registry runs from its own temporary config and storage on a free loopback port, for this module only.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kaito_compile.cli import cli
from kaito_compile.gitops.flux_artifact import (FLUX_CONFIG, FLUX_CONTENT, OCI_MANIFEST, ArtifactError,
                                                build_artifact)
from kaito_compile.output import LOCK_FILE
from kaito_compile.output.ownership import read_lock
from tests.support import kube
from tests.support.cli import run_cli

with warnings.catch_warnings():  # deprecated since 3.11 (the project's Python): libcrypt makes the bcrypt hash
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

REPO = Path(__file__).resolve().parents[2]
REGISTRY_BIN = shutil.which("docker-registry")
SKOPEO = shutil.which("skopeo")
needs_registry = pytest.mark.skipif(
    REGISTRY_BIN is None or SKOPEO is None,
    reason="LOUD SKIP: Debian's docker-registry and skopeo are needed to test push against a real registry "
           "(apt-get install docker-registry skopeo; `make test` installs them when run as root)")
START_TIMEOUT_S = 30
USER, PASSWORD = "flux", "s3cret-pass"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalRegistry:
    """docker-registry serving 127.0.0.1:<free port> from ``directory``, with htpasswd auth or the ``auth``
    section given (the token flow), or none."""

    def __init__(self, directory: Path, *, htpasswd: bool = False, auth: dict | None = None):
        self.host = f"127.0.0.1:{_free_port()}"
        config = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
                  "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}},
                  "http": {"addr": self.host, "secret": "test-only"}}
        if htpasswd:
            hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
            (directory / "htpasswd").write_text(f"{USER}:{hashed}\n")
            config["auth"] = {"htpasswd": {"realm": "kaito-test", "path": str(directory / "htpasswd")}}
        if auth:
            config["auth"] = auth
        (directory / "config.yml").write_text(yaml.safe_dump(config))
        self.log = (directory / "registry.log").open("wb")
        self.process = subprocess.Popen([REGISTRY_BIN, "serve", str(directory / "config.yml")], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self._wait_until_up(directory)

    def _wait_until_up(self, directory: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(directory / 'registry.log').read_text()}")
            try:
                urllib.request.build_opener(urllib.request.ProxyHandler({})).open(f"http://{self.host}/v2/",
                                                                                   timeout=2)
                return
            except urllib.error.HTTPError:  # 401 with auth on: it is up
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not answer within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    server = LocalRegistry(tmp_path_factory.mktemp("registry"))
    yield server.host
    server.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    server = LocalRegistry(tmp_path_factory.mktemp("auth-registry"), htpasswd=True)
    yield server.host
    server.stop()


@pytest.fixture()
def tree(tmp_path) -> Path:
    """A copy of the committed, compiled examples, as `build` wrote them."""
    shutil.copytree(REPO / "out", tmp_path / "out")
    return tmp_path / "out"


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))


def _push(*args: str) -> tuple[int, str, str]:
    return run_cli("push", *args)


def _skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SKOPEO, *args], capture_output=True, timeout=120, check=True,
                          env={**os.environ, "HOME": os.environ.get("HOME", "/root")})


def _published(out: Path) -> dict[str, bytes]:
    lock, _ = read_lock(out)
    return {path: (out / path).read_bytes() for path in [*lock.files, LOCK_FILE]}


def _tar_members(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        return {member.name: member for member in archive.getmembers()}


def _tar_files(layer: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


# --- the artifact, without a registry -------------------------------------------------------------------------

def test_same_tree_same_digest_whatever_the_mtimes_modes_and_location(tree, tmp_path):
    first = build_artifact(tree)
    other = tmp_path / "elsewhere" / "out"
    shutil.copytree(tree, other)
    for index, path in enumerate(sorted(other.rglob("*"))):
        os.utime(path, (1_000_000 + index, 2_000_000 + index))
        if path.is_file():
            path.chmod(0o600 if index % 2 else 0o664)
    second = build_artifact(other)
    assert second.manifest.data == first.manifest.data and second.layer.data == first.layer.data


def test_layer_is_a_sorted_gzip_tarball_with_fixed_metadata(tree):
    artifact = build_artifact(tree)
    layer = artifact.layer.data
    assert layer[:3] == b"\x1f\x8b\x08" and layer[3] & 0x08 == 0  # gzip, no FNAME field
    assert int.from_bytes(layer[4:8], "little") == 0  # gzip mtime
    members = _tar_members(layer)
    assert list(members) == sorted(members)
    for member in members.values():
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "", "")
        assert member.mode == (0o755 if member.isdir() else 0o644) and (member.isdir() or member.isfile())
    assert _tar_files(layer) == _published(tree)


def test_manifest_has_flux_media_types_and_annotations_only_when_asked(tree):
    manifest = json.loads(build_artifact(tree).manifest.data)
    assert manifest["mediaType"] == OCI_MANIFEST and manifest["schemaVersion"] == 2
    assert manifest["config"]["mediaType"] == FLUX_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FLUX_CONTENT]
    assert "annotations" not in manifest
    annotated = json.loads(build_artifact(tree, source="https://github.com/acme/fleet.git",
                                          revision="main@sha1:abc").manifest.data)
    assert annotated["annotations"] == {"org.opencontainers.image.source": "https://github.com/acme/fleet.git",
                                        "org.opencontainers.image.revision": "main@sha1:abc"}


def test_a_changed_tree_changes_the_digest_and_an_edited_file_is_refused(tree):
    before = build_artifact(tree).manifest.digest
    victim = next(tree.rglob("service-*.yaml"))
    victim.write_bytes(victim.read_bytes() + b"# edited\n")
    with pytest.raises(ArtifactError, match="differs from what kaito-compile build wrote"):
        build_artifact(tree)
    victim.unlink()
    with pytest.raises(ArtifactError, match="listed in .* but missing"):
        build_artifact(tree)
    assert before


def test_symlinks_and_special_files_are_refused(tree, tmp_path):
    (tree / "default" / "link.yaml").symlink_to("/etc/passwd")
    with pytest.raises(ArtifactError, match="link.yaml is a symlink"):
        build_artifact(tree)
    (tree / "default" / "link.yaml").unlink()
    os.mkfifo(tree / "fifo.yaml")
    with pytest.raises(ArtifactError, match="fifo.yaml is not a regular file"):
        build_artifact(tree)


def test_a_tree_without_lock_is_refused(tmp_path):
    (tmp_path / "x.yaml").write_text("a: 1\n")
    code, stdout, stderr = _push("oci://127.0.0.1:1/x:y", str(tmp_path), "--plain-http")
    assert code == 2 and "not a tree kaito-compile build wrote [KC-E010]" in stderr


def test_plain_http_is_refused_for_a_remote_registry(tree):
    code, _, stderr = _push("oci://registry.example.com/fleet/kaito:main", str(tree), "--plain-http")
    assert code == 2 and "--plain-http is only for a registry on this machine" in stderr


def test_reference_must_have_a_tag(tree):
    result = CliRunner().invoke(cli, ["push", "oci://127.0.0.1:5000/fleet/kaito", str(tree)])
    assert result.exit_code == 2 and "give a tag" in result.output


# --- a real registry ---------------------------------------------------------------------------------------------

@needs_registry
def test_push_round_trip_read_back_with_skopeo(registry, tree, tmp_path):
    (tree / "NOTES.md").write_text("hand-written, not generated\n")
    url = f"oci://{registry}/fleet/kaito:main"
    code, stdout, stderr = _push(url, str(tree), "--plain-http")
    assert code == 0, stderr
    artifact = build_artifact(tree)
    assert stdout.startswith(f"Pushed {url}@{artifact.manifest.digest}: {len(artifact.files)} files")
    assert "NOTES.md is not in the ownership lock: not published" in stderr

    raw = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry}/fleet/kaito:main").stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == artifact.manifest.digest
    manifest = json.loads(raw)
    assert manifest["config"]["mediaType"] == FLUX_CONFIG
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FLUX_CONTENT]

    copy = tmp_path / "copy"
    _skopeo("copy", "--quiet", "--src-tls-verify=false", f"docker://{registry}/fleet/kaito:main", f"dir:{copy}")
    (layer,) = manifest["layers"]
    layer_bytes = (copy / layer["digest"].split(":")[1]).read_bytes()
    assert "sha256:" + hashlib.sha256(layer_bytes).hexdigest() == layer["digest"]
    assert _tar_files(layer_bytes) == _published(tree)
    assert "NOTES.md" not in _tar_files(layer_bytes)
    _kustomize_every_workspace_as_flux_would(layer_bytes, tmp_path / "extracted")

    # The same tree again, under a second tag: the same digest; the blobs are already there.
    code, stdout, _ = _push(f"oci://{registry}/fleet/kaito:v1", str(tree), "--plain-http")
    assert code == 0 and artifact.manifest.digest in stdout
    again = _skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry}/fleet/kaito:v1").stdout
    assert again == raw


@needs_registry
def test_push_with_htpasswd_auth_from_the_docker_config(auth_registry, tree, tmp_path, monkeypatch):
    url = f"oci://{auth_registry}/fleet/kaito:main"
    code, _, stderr = _push(url, str(tree), "--plain-http")
    assert code == 2 and "needs credentials" in stderr and "no auths entry" in stderr

    config = tmp_path / "docker"
    config.mkdir()
    token = base64.b64encode(f"{USER}:wrong".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {auth_registry: {"auth": token}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    code, _, stderr = _push(url, str(tree), "--plain-http")
    assert code == 2 and "401" in stderr and PASSWORD not in stderr

    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {f"http://{auth_registry}": {"auth": token}}}))
    code, stdout, stderr = _push(url, str(tree), "--plain-http")
    assert code == 0, stderr
    raw = _skopeo("inspect", "--raw", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                  f"docker://{auth_registry}/fleet/kaito:main").stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() in stdout


def _kustomize_every_workspace_as_flux_would(layer: bytes, target: Path) -> None:
    """Extract the layer (source-controller's job), then build each path `gitops flux --oci` points a
    Kustomization at (kustomize-controller's): every workspace builds, into exactly its objects of out/."""
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:gz") as archive:
        archive.extractall(target, filter="data")
    lock, _ = read_lock(target)
    directories = sorted({path.rsplit("/", 1)[0] for path in lock.files if path.count("/") == 2})
    assert directories
    for directory in directories:
        built = kube.parse_manifests(kube.kustomize_build(target / directory))
        expected = [yaml.safe_load((target / path).read_bytes()) for path in lock.files
                    if path.startswith(f"{directory}/") and not path.endswith("/kustomization.yaml")]
        assert {_identity(obj): obj for obj in built} == {_identity(obj): obj for obj in expected}, directory


def _identity(obj: dict) -> tuple[str, str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


# --- the Flux objects for it ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flux_objects() -> list[dict]:
    patch = pytest.MonkeyPatch()
    patch.chdir(REPO)
    try:
        result = CliRunner().invoke(cli, ["gitops", "flux", "--oci", "oci://registry.example.com/fleet/kaito:main",
                                          "--oci-secret", "ghcr-auth"], catch_exceptions=False)
    finally:
        patch.undo()
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.skipif(not kube.upstream_available(), reason="CRDs are read from ../shared/upstream")
def test_flux_oci_objects_validate_against_the_flux_crds(flux_objects):
    assert flux_objects[0]["kind"] == "OCIRepository" and len(flux_objects) > 1
    for obj in flux_objects:
        assert kube.validate_manifest(obj) == [], obj["metadata"]["name"]


def test_every_kustomization_points_at_a_workspace_kustomization_inside_the_artifact(flux_objects):
    repository, *kustomizations = flux_objects
    assert repository["spec"]["url"] == "oci://registry.example.com/fleet/kaito"
    assert repository["spec"]["ref"] == {"tag": "main"} and repository["spec"]["secretRef"] == {"name": "ghcr-auth"}
    assert repository["spec"]["layerSelector"] == {"mediaType": FLUX_CONTENT, "operation": "extract"}
    files = _tar_files(build_artifact(REPO / "out").layer.data)
    for kustomization in kustomizations:
        assert kustomization["spec"]["sourceRef"] == {"kind": "OCIRepository", "name": "kaito-workspaces"}
        path = kustomization["spec"]["path"]
        assert path.startswith("./") and f"{path[2:]}/kustomization.yaml" in files


def test_oci_options_need_oci():
    result = CliRunner().invoke(cli, ["gitops", "flux", "--oci-secret", "x"])
    assert result.exit_code == 2 and "go with --oci" in result.output


@pytest.mark.skipif(not kube.upstream_available(), reason="CRDs are read from ../shared/upstream")
def test_the_documented_oci_repository_is_what_the_command_writes(flux_objects):
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```",
                                                             (REPO / "docs" / "gitops.md").read_text(), re.DOTALL)]
    (documented,) = [block for block in blocks if isinstance(block, dict) and block.get("kind") == "OCIRepository"]
    assert kube.validate_manifest(documented) == []
    generated = flux_objects[0]
    assert documented["metadata"] == generated["metadata"]
    assert {**documented["spec"], "url": generated["spec"]["url"]} == generated["spec"]
