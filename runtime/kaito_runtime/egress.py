"""Outbound HTTP of the runtime helpers (data fetcher, image puller and pusher): public addresses only, and the
connection goes to exactly the address that was vetted.

Every request, redirect hops and registry token realms included, passes two checks:

1. the URL: an allowed scheme, a host that is not ``localhost`` or a cloud metadata name, and, for an IP
   literal, a public address;
2. the connection: the host is resolved once, every address it resolves to must be public (not loopback,
   private, link-local, multicast, reserved, unspecified, shared or documentation space, nor an IPv6 address
   embedding such an IPv4 address: IPv4-mapped, 6to4, NAT64), and the socket is connected to one of those
   vetted addresses. No second lookup happens between the check and the connect, so a DNS answer that
   changes (rebinding) cannot redirect the connection.

The URL keeps its host name, so the ``Host`` header, TLS SNI and certificate verification are for that name.
Proxies from the environment are not used: a proxy would make its own lookup. ``SSL_CERT_FILE`` and
``SSL_CERT_DIR`` are honoured for the CA bundle.

Relies on httpx's ``HTTPTransport`` keeping its httpcore pool in ``_pool`` and on httpcore's
``NetworkBackend`` (verified with httpx 0.29.0 and httpcore 1.0.9, pinned in pyproject.toml); if that
changes, building a client fails instead of connecting unpinned.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.google", "instance-data.ec2.internal"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeDestination(Exception):
    """A URL or address the policy refuses. Deliberately not an httpx error: it is never retried."""


@dataclass(frozen=True)
class EgressPolicy:
    """What a helper may connect to.

    ``plain_http``: ``http://`` is allowed to any (public) host; without it only https is, except to a
    loopback host when ``allow_loopback`` is set. ``allow_loopback`` is for tests only: the helpers set it
    from an environment variable that no compiled manifest sets.
    """

    plain_http: bool
    allow_loopback: bool = False


def redact(url: str) -> str:
    """The URL without credentials, query or fragment (they may hold tokens), for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a malformed URL)"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url(url: str, policy: EgressPolicy) -> None:
    """Refuse a URL by its scheme and host alone (no lookup): see the module docstring."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as error:
        raise UnsafeDestination(f"{redact(url)} is not a valid URL ({error})") from error
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestination(f"{redact(url)}: only http and https URLs are fetched")
    if not host:
        raise UnsafeDestination(f"{redact(url)}: the URL has no host")
    local_name = host == "localhost" or host.endswith(".localhost")
    if host in METADATA_HOSTS or (local_name and not policy.allow_loopback):
        raise UnsafeDestination(f"{redact(url)}: must not target a local or metadata endpoint")
    literal = _ip_literal(host)
    if literal is not None:
        check_address(literal, redact(url), policy)
    if scheme == "http" and not policy.plain_http and not (policy.allow_loopback and is_loopback_host(host)):
        raise UnsafeDestination(f"{redact(url)}: only https is allowed here")


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """``localhost``, ``*.localhost`` or a loopback IP literal (no lookup)."""
    literal = _ip_literal(host)
    return host == "localhost" or host.endswith(".localhost") or (literal is not None and literal.is_loopback)


def check_address(address: IPAddress, where: str, policy: EgressPolicy) -> None:
    """Refuse an address that is not public (or loopback, when the test policy allows it); ``where`` names
    the URL or host in the message."""
    if not is_public(address) and not (policy.allow_loopback and _is_loopback(address)):
        raise UnsafeDestination(f"{where}: must not target a loopback, private, link-local or other non-public address")


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast. An IPv6 address that carries an IPv4 address is judged by it: IPv4-mapped
    and NAT64 (64:ff9b::/96) ones by the IPv4 address alone (that is where the packets go), 6to4 ones by both."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        if not is_public(embedded):
            return False
        if address.ipv4_mapped is not None or address in _NAT64:  # type: ignore[union-attr]
            return True
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified or address.is_link_local
        or address.is_loopback or address.is_private or getattr(address, "is_site_local", False)
    )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, well-known NAT64 prefix), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_loopback(address: IPAddress) -> bool:
    embedded = _embedded_ipv4(address)
    return address.is_loopback or (embedded is not None and embedded.is_loopback)


def resolve_vetted(host: str, port: int, policy: EgressPolicy) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` answers for ``host``, once; all of them must pass ``check_address``.

    Raises ``OSError`` when the name does not resolve (worth a retry) and ``UnsafeDestination`` when any
    address is refused (a name that resolves to both public and private addresses is refused as a whole).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} resolved to no address")
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        check_address(address, f"{host} resolves to {address}", policy)
    return infos


class VettingBackend(httpcore.NetworkBackend):
    """httpcore's network layer with the lookup done here: resolve, vet, connect to the vetted IP literal."""

    def __init__(self, policy: EgressPolicy):
        self.policy = policy
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            infos = resolve_vetted(host, port, self.policy)
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        failure: Exception | None = None
        for info in infos:
            vetted_ip = str(info[4][0])
            try:
                return self._backend.connect_tcp(vetted_ip, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        raise UnsafeDestination("unix sockets are not reachable from the runtime helpers")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport that checks every request's URL and connects through ``VettingBackend``."""

    def __init__(self, policy: EgressPolicy):
        ssl_context = httpx.create_ssl_context(trust_env=True)
        super().__init__(verify=ssl_context, trust_env=False)
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError(f"httpx {httpx.__version__} changed its transport; refusing to connect unpinned")
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=VettingBackend(policy),
        )
        self.policy = policy

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url), self.policy)
        return super().handle_request(request)


def guarded_client(policy: EgressPolicy, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` whose every request and connection obeys ``policy`` (no environment proxies)."""
    return httpx.Client(transport=GuardedTransport(policy), trust_env=False, **options)
