"""A small OCI distribution client for pushing one artifact: blobs, then the manifest under a tag.

Standard library only, so the compiler image needs nothing more. Credentials come from the standard Docker
config (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``): the ``auths`` entry of the registry,
as ``auth`` (base64 of ``user:password``) or ``username``/``password``. Credential helpers (``credsStore``,
``credHelpers``) are not run: their programs are outside what kaito-compile vets. The registry's 401 challenge
decides how credentials are used: ``Bearer`` (the token flow: ask the realm for a token for
``repository:<name>:pull,push``, with the credentials as Basic auth when there are any) or ``Basic``.

Connections go to exactly the registry named: https, or plain http only with ``plain_http`` and only to a
loopback address (a local registry without TLS); redirects are not followed, so credentials never travel to
another host; a token realm must be https too (or loopback http with ``plain_http``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kaito_runtime import dockerconfig, imageref
from kaito_runtime.challenge import parse_challenge
from kaito_runtime.dockerconfig import Credential

from .flux_artifact import Artifact, Blob

TIMEOUT_S = 60
DOCKER_HUB = dockerconfig.DOCKER_HUB_HOSTS
class RegistryError(RuntimeError):
    """The registry refused, or could not be reached."""


@dataclass(frozen=True)
class Reference:
    host: str  # as given, with its port
    repository: str
    tag: str

    @classmethod
    def parse(cls, url: str) -> Reference:
        """``oci://HOST[:PORT]/REPOSITORY:TAG``."""
        if not url.startswith("oci://"):
            raise ValueError(f"{url!r}: expected oci://HOST/REPOSITORY:TAG")
        text = url[len("oci://"):]
        try:  # the one image-reference parser, shared with the compiler's rules and the runtime's puller
            parsed = imageref.parse_normalized(text)
        except imageref.InvalidReference as error:
            raise ValueError(f"{url!r}: {error}") from None
        if not text.startswith(parsed.domain + "/"):
            raise ValueError(f"{url!r}: name the registry host, oci://HOST/REPOSITORY:TAG")
        if parsed.tag is None or parsed.digest is not None:
            raise ValueError(f"{url!r}: give a tag (and no digest), oci://HOST/REPOSITORY:TAG")
        host, repository, tag = parsed.domain, parsed.path, parsed.tag
        return cls(host, repository, tag)

    @property
    def url(self) -> str:
        return f"oci://{self.host}/{self.repository}:{self.tag}"

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.host in DOCKER_HUB else self.host


def is_loopback(host: str) -> bool:
    """Whether ``host`` (with or without a port) names this machine."""
    name = host[1:host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


# --- credentials ----------------------------------------------------------------------------------------------

def docker_config_path() -> Path:
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker" / "config.json"


def credential_for(host: str, config_path: Path | None = None) -> Credential | None:
    """The ``auths`` credential of ``host`` in the Docker config; None when there is none."""
    path = config_path or docker_config_path()
    if not path.exists():
        return None
    try:
        found = dockerconfig.credentials_for(host, [path])
    except dockerconfig.DockerConfigError as error:
        raise RegistryError(str(error)) from None
    return found[0] if found else None


# --- HTTP ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx comes back as the response; credentials never follow it to another host


class Registry:
    """One repository of one registry, authenticated on the first 401."""

    def __init__(self, reference: Reference, *, plain_http: bool = False, credential: Credential | None = None):
        if plain_http and not is_loopback(reference.api_host):
            raise RegistryError(f"--plain-http is only for a registry on this machine (127.0.0.1, ::1, localhost), "
                                f"not {reference.host}")
        self.reference, self.plain_http, self.credential = reference, plain_http, credential
        self.base = f"{'http' if plain_http else 'https'}://{reference.api_host}"
        handlers: list = [_NoRedirect()]
        if is_loopback(reference.api_host):
            handlers.append(urllib.request.ProxyHandler({}))  # a proxy cannot reach our loopback
        self._opener = urllib.request.build_opener(*handlers)
        self._authorization: str | None = None

    # requests

    def request(self, method: str, path_or_url: str, *, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:
        url = urllib.parse.urljoin(self.base, path_or_url)
        response = self._send(method, url, body, headers or {})
        if response.status == 401:
            self._authenticate(response.headers.get("www-authenticate", ""))
            response = self._send(method, url, body, headers or {})
        return response

    def _send(self, method: str, url: str, body: bytes | None, headers: dict[str, str]) -> Response:
        all_headers = {**headers, **({"Authorization": self._authorization} if self._authorization else {})}
        return self._open(urllib.request.Request(url, data=body, headers=all_headers, method=method))

    def _open(self, request: urllib.request.Request) -> Response:
        try:
            with self._opener.open(request, timeout=TIMEOUT_S) as reply:
                return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read())
        except urllib.error.HTTPError as reply:
            return Response(reply.code, {k.lower(): v for k, v in reply.headers.items()}, reply.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"cannot reach {request.full_url.split('?')[0]}: {reason}") from None

    # authentication

    def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credential is None:
                raise RegistryError(self._no_credentials())
            self._authorization = self.credential.basic_header()
        elif scheme == "bearer":
            self._authorization = "Bearer " + self._token(params)
        else:
            raise RegistryError(f"{self.reference.host} asks for unsupported authentication {scheme or '(none)'!r}")

    def _token(self, params: dict[str, str]) -> str:
        realm = params.get("realm", "")
        parsed = urllib.parse.urlsplit(realm)
        if not (parsed.scheme == "https" or (parsed.scheme == "http" and self.plain_http
                                             and is_loopback(parsed.netloc))):
            raise RegistryError(f"the token realm {realm!r} is not https: refusing to send credentials there")
        query = {"scope": f"repository:{self.reference.repository}:pull,push"}
        if params.get("service"):
            query["service"] = params["service"]
        headers = {"Authorization": self.credential.basic_header()} if self.credential else {}
        reply = self._open(urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}", headers=headers))
        if reply.status != 200:
            raise RegistryError(f"the token service {realm} refused ({reply.status}): "
                                + (_errors(reply) if self.credential else self._no_credentials()))
        try:
            body = json.loads(reply.body)
            return body.get("token") or body["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"the token service {realm} answered without a token") from None

    def _no_credentials(self) -> str:
        return (f"{self.reference.host} needs credentials and {docker_config_path()} has no auths entry for it "
                "(log in with docker/podman login, or set DOCKER_CONFIG)")

    # the distribution API

    def has_blob(self, blob: Blob) -> bool:
        reply = self.request("HEAD", f"/v2/{self.reference.repository}/blobs/{blob.digest}")
        if reply.status in (200, 307):
            return True
        if reply.status == 404:
            return False
        raise RegistryError(f"checking blob {blob.digest}: {reply.status} {_errors(reply)}")

    def push_blob(self, blob: Blob) -> None:
        """Monolithic upload: POST a session, PUT the bytes with their digest."""
        started = self.request("POST", f"/v2/{self.reference.repository}/blobs/uploads/", body=b"")
        _expect(started, 202, "starting an upload")
        location = started.headers.get("location")
        if not location:
            raise RegistryError("the registry started an upload without a Location")
        target = urllib.parse.urljoin(self.base + "/", location)
        if urllib.parse.urlsplit(target).netloc != urllib.parse.urlsplit(self.base).netloc:
            raise RegistryError(f"the registry sent the upload to another host ({target}): refusing")
        separator = "&" if urllib.parse.urlsplit(target).query else "?"
        target += f"{separator}digest={urllib.parse.quote(blob.digest)}"
        _expect(self.request("PUT", target, body=blob.data, headers={"Content-Type": "application/octet-stream"}),
                201, f"uploading blob {blob.digest}")

    def put_manifest(self, manifest: Blob) -> str:
        reply = self.request("PUT", f"/v2/{self.reference.repository}/manifests/{self.reference.tag}",
                             body=manifest.data, headers={"Content-Type": manifest.media_type})
        _expect(reply, 201, "putting the manifest")
        stored = reply.headers.get("docker-content-digest")
        if stored and stored != manifest.digest:
            raise RegistryError(f"the registry stored the manifest as {stored}, not {manifest.digest}")
        return manifest.digest


def _expect(reply: Response, status: int, action: str) -> None:
    if reply.status != status:
        raise RegistryError(f"{action}: {reply.status} {_errors(reply)}")


def _errors(reply: Response) -> str:
    if reply.status in (401, 403) and not reply.body:  # a HEAD reply has no body to explain itself
        return "access denied: the registry refused the credentials (or the token they gave)"
    try:
        errors = json.loads(reply.body).get("errors") or []
        return "; ".join(f"{error.get('code')}: {error.get('message')}" for error in errors) or "(no detail)"
    except (ValueError, AttributeError):
        return reply.body[:200].decode(errors="replace") or "(no detail)"


def push(artifact: Artifact, reference: Reference, *, plain_http: bool = False) -> str:
    """Push ``artifact`` to ``reference``; returns the manifest digest."""
    registry = Registry(reference, plain_http=plain_http, credential=credential_for(reference.host))
    for blob in (artifact.layer, artifact.config):
        if not registry.has_blob(blob):
            registry.push_blob(blob)
    return registry.put_manifest(artifact.manifest)
