"""Adapter (and data) images: the one definition of their OCI layout, and pull/push over the registry API.

Layout, as Kaito's puller and pusher expect it: an OCI image manifest with one gzip tar layer holding
``data/adapter_config.json`` and ``data/adapter_model.safetensors``, an image config whose ``rootfs.diff_ids``
names that tar, and the manifest annotation ``sh.kaito.model.name`` (the tuned preset). Pulling extracts
``data/`` of every layer into ``--dest``, so any image that keeps its files under ``/data`` works, including
images built with docker (multi-platform indexes are resolved to linux/amd64).

``python3 -m kaito_runtime.artifact pull --image=<ref> --dest=<dir>``
``python3 -m kaito_runtime.artifact push --image=<ref> --source=<dir> --wait-for=<marker> [--model-name=<preset>]``

Credentials: ``auths`` entries of ``$DOCKER_CONFIG/config.json`` (``DOCKER_CONFIG`` defaults to
``/mnt/docker-config``, where the compiled pusher mounts the push secret) and of every
``/mnt/pull-secrets/<volume>/<secret>.json`` (the pullers' secret volumes, see ``kaito_runtime.layout``); the
registry's Bearer token or Basic challenge decides how they are used.

Network: registries, their token realms and every redirect (blob storage) are reached over https, at public
addresses only, connecting to exactly the address vetted (``kaito_runtime.egress``, the fetcher's rules).
Tests set ``KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK=1`` to reach a registry on 127.0.0.1, over plain http;
no compiled manifest sets it. Layers are unpacked by ``kaito_runtime.layers``: nothing is written or linked
outside ``--dest``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from kaito_runtime import dockerconfig
from kaito_runtime.challenge import parse_challenge
from kaito_runtime.dockerconfig import Credential
from kaito_runtime.egress import EgressPolicy, UnsafeDestination, guarded_client, is_loopback_host
from kaito_runtime.imageref import ImageReference, InvalidReference, parse_normalized
from kaito_runtime.layers import DATA_DIR, UnsafeLayer, extract_data
from kaito_runtime.layout import DOCKER_CONFIG_DIR, PULL_SECRETS_DIR
from kaito_runtime.paths import resolve

log = logging.getLogger("kaito_runtime.artifact")

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
MODEL_NAME_ANNOTATION = "sh.kaito.model.name"
PLAIN_HTTP_ENV = "KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
_MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST))
_TIMEOUT = httpx.Timeout(120.0, connect=30.0)
_CHUNK = 1 << 20
MAX_REDIRECTS = 5


class ArtifactError(RuntimeError):
    """A pull or push that cannot succeed; the message says why (never with credentials)."""


# --- references ------------------------------------------------------------------------------------


def parse_image(text: str) -> ImageReference:
    """The reference as Kaito parses it (``kaito_runtime.imageref``), with a tag or a sha256 digest: the
    implicit ``latest`` is refused, and only a digest this puller can verify is accepted."""
    try:
        reference = parse_normalized(text)
    except InvalidReference as error:
        raise ArtifactError(f"{text!r} is not a valid image reference: {error}") from error
    if not reference.tag and not reference.digest:
        raise ArtifactError(f"{text!r} names no tag or digest; refusing the implicit 'latest'")
    if reference.digest and not reference.digest.startswith("sha256:"):
        raise ArtifactError(f"{text!r}: only sha256 digests can be verified")
    return reference


def manifest_reference(reference: ImageReference) -> str:
    """What the manifest URL ends in: the digest when there is one, else the tag."""
    return reference.digest or reference.tag or ""


def api_host(reference: ImageReference) -> str:
    return "registry-1.docker.io" if reference.domain == "docker.io" else reference.domain


def plain_http_allowed(host: str) -> bool:
    """Test-only: plain http to a loopback registry (``host`` may carry a port)."""
    return os.environ.get(PLAIN_HTTP_ENV) == "1" and is_loopback_host(urlsplit(f"//{host}").hostname or "")


def egress_policy() -> EgressPolicy:
    """Public https registries and storage; loopback (and plain http to it) only with the test variable."""
    return EgressPolicy(plain_http=False, allow_loopback=os.environ.get(PLAIN_HTTP_ENV) == "1")


def registry_base_url(reference: ImageReference) -> str:
    host = api_host(reference)
    scheme = "http" if plain_http_allowed(host) else "https"
    return f"{scheme}://{host}"


# --- credentials -----------------------------------------------------------------------------------


def docker_config_files() -> list[Path]:
    """``$DOCKER_CONFIG/config.json`` first, then ``<PULL_SECRETS_DIR>/<volume>/<secret>.json`` in name order."""
    main_config = resolve(os.environ.get("DOCKER_CONFIG") or DOCKER_CONFIG_DIR) / "config.json"
    pull_secrets = resolve(PULL_SECRETS_DIR)
    extra = sorted(pull_secrets.glob("*/*.json")) if pull_secrets.is_dir() else []
    return [path for path in (main_config, *extra) if path.is_file()]


def credentials_for(registry: str, files: Iterable[Path]) -> list[Credential]:
    """Every username/password the Docker config files hold for ``registry``, in file order."""
    try:
        return dockerconfig.credentials_for(registry, files)
    except dockerconfig.DockerConfigError as error:
        raise ArtifactError(str(error)) from None


# --- registry auth and client ----------------------------------------------------------------------


class RegistryAuth(httpx.Auth):
    """Answers the registry's 401 challenge: a Bearer token for ``scope`` (with each credential in turn, or
    anonymously), or Basic credentials. The winning header is reused for later requests.

    Response bodies are not preloaded (blobs are streamed); only token responses are read, so this is for
    the synchronous client.
    """

    def __init__(self, credentials: Sequence[Credential], scope: str):
        self.credentials = list(credentials)
        self.scope = scope
        self.header: str | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.header:
            request.headers["Authorization"] = self.header
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme not in ("bearer", "basic"):
            raise ArtifactError(f"registry asks for unsupported authentication {scheme or '(none)'!r}")
        for credential in self.credentials or ([None] if scheme == "bearer" else []):
            if scheme == "basic":
                header = credential.basic_header()
            else:
                token_response = yield self._token_request(params, credential)
                token_response.read()
                if token_response.status_code != 200:
                    continue
                header = "Bearer " + _token(token_response)
            request.headers["Authorization"] = header
            response = yield request
            if response.status_code != 401:
                self.header = header
                return

    def _token_request(self, params: dict[str, str], credential: Credential | None) -> httpx.Request:
        """The realm is vetted like every URL the client requests (https, public address) before it is sent."""
        realm = params.get("realm", "")
        query = {key: value for key, value in (("service", params.get("service")), ("scope", self.scope)) if value}
        headers = {"Authorization": credential.basic_header()} if credential else {}
        return httpx.Request("GET", realm, params=query, headers=headers)


def _token(response: httpx.Response) -> str:
    body = response.json()
    token = body.get("token") or body.get("access_token")
    if not token:
        raise ArtifactError("registry token endpoint answered without a token")
    return token


@dataclass(frozen=True)
class Blob:
    """Content addressed by ``digest``: a file on disk or bytes in memory."""

    media_type: str
    digest: str
    size: int
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def from_bytes(cls, media_type: str, data: bytes) -> Blob:
        return cls(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data), data=data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class Registry:
    """The few OCI distribution API calls an adapter needs, for one repository."""

    def __init__(self, reference: ImageReference, actions: str, credentials: Sequence[Credential]):
        self.reference = reference
        self.host = api_host(reference)
        scope = f"repository:{reference.path}:{actions}"
        self.client = guarded_client(
            egress_policy(),
            base_url=registry_base_url(reference),
            auth=RegistryAuth(credentials, scope),
            timeout=_TIMEOUT,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
        )
        self.prefix = f"/v2/{reference.path}"

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except UnsafeDestination as error:
            raise ArtifactError(f"refusing to connect: {error}") from error
        except httpx.HTTPError as error:
            raise ArtifactError(f"{self.host}: {type(error).__name__}: {error}") from error

    def manifest(self, reference: str) -> tuple[str, bytes]:
        """Media type and body of a manifest; one fetched by digest must match that digest."""
        url = f"{self.prefix}/manifests/{reference}"
        response = self._request("GET", url, headers={"Accept": _MANIFEST_ACCEPT})
        _expect(response, 200, f"get manifest {self.reference.path}:{reference}")
        if reference.startswith("sha256:") and "sha256:" + hashlib.sha256(response.content).hexdigest() != reference:
            raise ArtifactError(f"manifest {reference} does not match its digest; refusing tampered content")
        return response.headers.get("content-type", "").split(";")[0], response.content

    def put_manifest(self, manifest: Blob) -> None:
        url = f"{self.prefix}/manifests/{manifest_reference(self.reference)}"
        response = self._request("PUT", url, content=manifest.data, headers={"Content-Type": manifest.media_type})
        _expect(response, 201, f"push manifest {self.reference}")

    def has_blob(self, digest: str) -> bool:
        return self._request("HEAD", f"{self.prefix}/blobs/{digest}").status_code == 200

    def push_blob(self, blob: Blob) -> None:
        if self.has_blob(blob.digest):
            return
        started = self._request("POST", f"{self.prefix}/blobs/uploads/")
        _expect(started, 202, "start blob upload")
        upload_url = httpx.URL(started.headers["location"])
        if not upload_url.is_absolute_url:
            upload_url = self.client.base_url.join(started.headers["location"])
        upload_url = upload_url.copy_merge_params({"digest": blob.digest})
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(blob.size)}
        if blob.path is not None:
            with blob.path.open("rb") as body:
                finished = self._request("PUT", str(upload_url), content=_chunks(body), headers=headers)
        else:
            finished = self._request("PUT", str(upload_url), content=blob.data, headers=headers)
        _expect(finished, 201, f"upload blob {blob.digest}")

    def download_blob(self, digest: str, target: Path) -> None:
        """Stream a blob to ``target`` and check it against its digest."""
        hasher = hashlib.sha256()
        try:
            with self.client.stream("GET", f"{self.prefix}/blobs/{digest}") as response:
                _expect(response, 200, f"get blob {digest}")
                with target.open("wb") as sink:
                    for chunk in response.iter_raw(_CHUNK):
                        hasher.update(chunk)
                        sink.write(chunk)
        except UnsafeDestination as error:
            raise ArtifactError(f"refusing to connect: {error}") from error
        except httpx.HTTPError as error:
            raise ArtifactError(f"{self.host}: {type(error).__name__}: {error}") from error
        if f"sha256:{hasher.hexdigest()}" != digest:
            raise ArtifactError(f"blob {digest} does not match its digest; refusing corrupted or tampered content")


def _chunks(body) -> Iterable[bytes]:
    while chunk := body.read(_CHUNK):
        yield chunk


def _expect(response: httpx.Response, status: int, action: str) -> None:
    if response.status_code == status:
        return
    if not response.is_stream_consumed:
        response.read()
    detail = _registry_errors(response)
    hint = " (check the credentials in the Docker config files)" if response.status_code in (401, 403) else ""
    raise ArtifactError(f"cannot {action}: HTTP {response.status_code}{detail}{hint}")


def _registry_errors(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return ""
    return "".join(f"; {e.get('code', '')}: {e.get('message', '')}" for e in errors if isinstance(e, dict))


# --- the adapter layout ----------------------------------------------------------------------------


def adapter_layer(source: Path, workdir: Path) -> tuple[Blob, str]:
    """The gzip tar layer with ``data/<adapter files>`` (reproducible: fixed times, owners, modes), and the
    ``diff_id`` (digest of the uncompressed tar)."""
    missing = [name for name in ADAPTER_FILES if not (source / name).is_file()]
    if missing:
        raise ArtifactError(f"{source} has no {', '.join(missing)}; nothing to push")
    tar_path, gz_path = workdir / "layer.tar", workdir / "layer.tar.gz"
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_tar_entry(f"{DATA_DIR}/", tarfile.DIRTYPE, 0o755, 0))
        for name in ADAPTER_FILES:
            path = source / name
            with path.open("rb") as content:
                tar.addfile(_tar_entry(f"{DATA_DIR}/{name}", tarfile.REGTYPE, 0o644, path.stat().st_size), content)
    with tar_path.open("rb") as plain, gz_path.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=0
    ) as packed:
        shutil.copyfileobj(plain, packed, _CHUNK)
    layer = Blob(OCI_LAYER_GZIP, _file_digest(gz_path), gz_path.stat().st_size, path=gz_path)
    return layer, _file_digest(tar_path)


def _tar_entry(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, 0
    return info


def _file_digest(path: Path) -> str:
    with path.open("rb") as content:
        return "sha256:" + hashlib.file_digest(content, "sha256").hexdigest()


def image_config(diff_id: str) -> Blob:
    config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    return Blob.from_bytes(OCI_CONFIG, json.dumps(config, separators=(",", ":"), sort_keys=True).encode())


def image_manifest(config: Blob, layer: Blob, model_name: str | None) -> Blob:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [layer.descriptor()],
    }
    if model_name:
        manifest["annotations"] = {MODEL_NAME_ANNOTATION: model_name}
    return Blob.from_bytes(OCI_MANIFEST, json.dumps(manifest, separators=(",", ":")).encode())


# --- push and pull ---------------------------------------------------------------------------------


def wait_for(marker: Path, poll_interval_s: float) -> None:
    """Block until the tuning run's completion marker exists."""
    log.info("waiting for %s", marker)
    while not marker.exists():
        time.sleep(poll_interval_s)


def push(image: str, source: str, marker: str, *, model_name: str | None, poll_interval_s: float) -> None:
    reference = parse_image(image)
    wait_for(resolve(marker), poll_interval_s)
    with tempfile.TemporaryDirectory(prefix="kaito-push-") as workdir:
        layer, diff_id = adapter_layer(resolve(source), Path(workdir))
        config = image_config(diff_id)
        manifest = image_manifest(config, layer, model_name)
        credentials = credentials_for(reference.domain, docker_config_files())
        with Registry(reference, "pull,push", credentials) as registry:
            registry.push_blob(config)
            registry.push_blob(layer)
            registry.put_manifest(manifest)
    log.info("pushed %s (manifest %s)", reference, manifest.digest)


def pull(image: str, dest: str) -> Path:
    """Put the ``data/`` folder of ``image`` into ``dest`` (created if needed); return ``dest``."""
    reference = parse_image(image)
    target = resolve(dest)
    target.mkdir(parents=True, exist_ok=True)
    credentials = credentials_for(reference.domain, docker_config_files())
    with Registry(reference, "pull", credentials) as registry, tempfile.TemporaryDirectory(
        prefix=".kaito-pull-", dir=target
    ) as staging:
        layers = _image_layers(registry, manifest_reference(reference))
        for number, digest in enumerate(layers):
            blob_path = Path(staging) / f"layer-{number}"
            registry.download_blob(digest, blob_path)
            _extract_data(blob_path, Path(staging) / "rootfs")
        _move_children(Path(staging) / "rootfs" / DATA_DIR, target, image)
    log.info("pulled %s into %s", reference, target)
    return target


def _image_layers(registry: Registry, reference: str) -> list[str]:
    media_type, body = registry.manifest(reference)
    manifest = json.loads(body)
    media_type = manifest.get("mediaType") or media_type
    if media_type in _INDEX_TYPES:
        media_type, body = registry.manifest(_platform_manifest_digest(manifest))
        manifest = json.loads(body)
    return [layer["digest"] for layer in manifest.get("layers", [])]


def _platform_manifest_digest(index: dict[str, Any]) -> str:
    """linux/amd64, or the only image of the index (attestation manifests say unknown/unknown)."""
    images = [m for m in index.get("manifests", []) if m.get("platform", {}).get("os") != "unknown"]
    for entry in images:
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == "amd64":
            return entry["digest"]
    if len(images) == 1:
        return images[0]["digest"]
    raise ArtifactError("image index has no linux/amd64 image")


def _extract_data(layer: Path, rootfs: Path) -> None:
    """Unpack the layer's ``data/`` entries with ``kaito_runtime.layers`` (nothing written or linked outside)."""
    try:
        extract_data(layer, rootfs)
    except UnsafeLayer as error:
        raise ArtifactError(f"refusing unsafe layer content: {error}") from error
    except tarfile.TarError as error:
        raise ArtifactError(f"layer is not a (gzip) tar archive: {error}") from error
    except OSError as error:
        raise ArtifactError(f"cannot unpack the layer: {error.strerror}: {error.filename}") from error


def _move_children(source: Path, target: Path, image: str) -> None:
    if not source.is_dir() or source.is_symlink():
        raise ArtifactError(f"{image} has no /{DATA_DIR} folder; Kaito images keep their files under /{DATA_DIR}")
    for child in source.iterdir():
        destination = target / child.name
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        child.replace(destination)


# --- command line ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m kaito_runtime.artifact", description="Pull or push images.")
    commands = parser.add_subparsers(dest="command", required=True)
    pull_command = commands.add_parser("pull", help="put the image's /data into a folder")
    pull_command.add_argument("--image", required=True, help="registry/repository:tag or @sha256:digest")
    pull_command.add_argument("--dest", required=True, help="folder to fill, e.g. /mnt/adapter/<name>")
    push_command = commands.add_parser("push", help="push a tuning run's adapter once it is complete")
    push_command.add_argument("--image", required=True, help="registry/repository:tag to push to")
    push_command.add_argument("--source", required=True, help="the tuning output folder")
    push_command.add_argument("--wait-for", required=True, help="completion marker to wait for")
    push_command.add_argument("--model-name", help=f"value of the {MODEL_NAME_ANNOTATION} manifest annotation")
    push_command.add_argument("--poll-interval-s", type=float, default=1.0, help="how often to look for the marker")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry full URLs, tokens included
    try:
        if args.command == "pull":
            pull(args.image, args.dest)
        else:
            push(args.image, args.source, args.wait_for, model_name=args.model_name,
                 poll_interval_s=args.poll_interval_s)
    except ArtifactError as error:
        print(f"kaito-artifact: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
