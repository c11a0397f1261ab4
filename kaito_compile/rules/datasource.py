"""Checks on data sources and destinations (tuning input/output, adapter sources): Kaito's T5/T6.

Kaito refuses data URLs that are not http(s) or that point at local, metadata, loopback,
private or link-local endpoints (SSRF); image references must parse.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from kaito_runtime.imageref import InvalidReference, parse_docker_ref

_BLOCKED_HOSTS = ("localhost", "metadata.google.internal", "metadata.google", "instance-data.ec2.internal")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f]")


def url_problem(url: str) -> str | None:
    """Kaito's message for a data URL it would refuse, or None."""
    if _FORBIDDEN_CHARS.search(url):
        return "invalid data source URL: it contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"invalid data source URL: {exc}"
    if not parts.scheme or not parts.netloc or not host:
        return "invalid data source URL: it must be an absolute URL with a host"
    if parts.scheme.lower() not in ("http", "https"):
        return "data source URL must use HTTP or HTTPS"
    host = host.lower().rstrip(".")
    if host in _BLOCKED_HOSTS or host.endswith(".localhost"):
        return "data source URL must not target a local or metadata endpoint"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_unspecified or (
            ip.is_multicast and _is_link_local_multicast(ip)):
        return "data source URL must not target a loopback, private, or link-local address"
    return None


def _is_link_local_multicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        return ip in ipaddress.ip_network("224.0.0.0/24")
    return (int(ip) >> 112) & 0xF == 0x2 if (int(ip) >> 120) == 0xFF else False


def image_problem(image: str) -> str | None:
    try:
        parse_docker_ref(image)
    except InvalidReference as exc:
        return str(exc)
    return None
