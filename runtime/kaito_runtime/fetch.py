"""Download tuning data from URLs into a folder (the tuning Job's ``data-downloader`` init container).

``python3 -m kaito_runtime.fetch --dest=/mnt/data --url=<url> [--url=<url> ...]``

Each URL is saved as ``<dest>/<last path segment>`` (query and fragment dropped), as Kaito's curl script does.
Only http(s) URLs to public addresses are fetched: hosts named localhost or a cloud metadata endpoint, and
hosts whose addresses are loopback, private, link-local, multicast or otherwise not global, are refused,
both for the URL given and for every redirect it leads to. Tests set ``KAITO_FETCH_ALLOW_LOOPBACK=1`` to
reach a server on 127.0.0.1. Failed attempts are retried; a download must answer 200 with a non-empty body.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import posixpath
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from kaito_runtime.paths import resolve

log = logging.getLogger("kaito_runtime.fetch")

ALLOW_LOOPBACK_ENV = "KAITO_FETCH_ALLOW_LOOPBACK"
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.google", "instance-data.ec2.internal"})
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 20
TIMEOUT = httpx.Timeout(60.0, connect=30.0)


class FetchError(RuntimeError):
    """A download that must not or cannot succeed; retrying does not help."""


class RetryableFetchError(FetchError):
    """A failure worth another attempt (network error, 5xx, 429, truncated body)."""


def loopback_allowed() -> bool:
    return os.environ.get(ALLOW_LOOPBACK_ENV) == "1"


def check_url(url: str, *, allow_loopback: bool) -> None:
    """Refuse anything but http(s) URLs with a host that is not local or a metadata endpoint by name or literal."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{redact(url)}: only http and https URLs are fetched")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise FetchError(f"{redact(url)}: the URL has no host")
    local_name = host == "localhost" or host.endswith(".localhost")
    if host in METADATA_HOSTS or (local_name and not allow_loopback):
        raise FetchError(f"{redact(url)}: must not target a local or metadata endpoint")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    check_address(literal, url, allow_loopback=allow_loopback)


def check_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, url: str, *, allow_loopback: bool) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if allow_loopback and address.is_loopback:
        return
    if not address.is_global or address.is_multicast:
        raise FetchError(f"{redact(url)}: must not target a loopback, private, link-local or other non-public address")


def check_resolved_host(url: str, *, allow_loopback: bool) -> None:
    """Every address the host resolves to must be public (catches ``127.1``, ``2130706433``, DNS names)."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as error:
        raise RetryableFetchError(f"{redact(url)}: cannot resolve {parts.hostname}: {error}") from error
    for info in infos:
        check_address(ipaddress.ip_address(info[4][0].split("%")[0]), url, allow_loopback=allow_loopback)


def file_name(url: str) -> str:
    """The last path segment, decoded; it must name a file, not climb or be empty."""
    name = unquote(posixpath.basename(urlsplit(url).path))
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise FetchError(f"{redact(url)}: the URL path does not end in a file name")
    return name


def redact(url: str) -> str:
    """The URL without credentials, query or fragment (they may hold tokens), for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def download(client: httpx.Client, url: str, dest: Path, *, attempts: int, retry_delay_s: float) -> Path:
    """Fetch ``url`` into ``dest``, retrying failures that may be transient."""
    target = dest / file_name(url)
    attempt = 1
    while True:
        try:
            _download_once(client, url, target)
        except RetryableFetchError as error:
            if attempt >= attempts:
                raise FetchError(f"{error} (gave up after {attempts} attempts)") from error
            log.warning("attempt %d/%d failed: %s; retrying", attempt, attempts, error)
            time.sleep(retry_delay_s * attempt)
            attempt += 1
        else:
            log.info("downloaded %s to %s (%d bytes)", redact(url), target, target.stat().st_size)
            return target


def _download_once(client: httpx.Client, url: str, target: Path) -> None:
    allow_loopback = loopback_allowed()
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        check_url(current, allow_loopback=allow_loopback)
        check_resolved_host(current, allow_loopback=allow_loopback)
        try:
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    current = urljoin(current, response.headers["location"])
                    continue
                _save_body(response, current, target)
                return
        except httpx.TransportError as error:
            raise RetryableFetchError(f"{redact(current)}: {type(error).__name__}: {error}") from error
    raise FetchError(f"{redact(url)}: more than {MAX_REDIRECTS} redirects")


def _save_body(response: httpx.Response, url: str, target: Path) -> None:
    if response.status_code != 200:
        failure = RetryableFetchError if response.status_code >= 500 or response.status_code == 429 else FetchError
        raise failure(f"{redact(url)}: HTTP {response.status_code}")
    partial = target.with_name(f".{target.name}.partial")
    written = 0
    with partial.open("wb") as sink:
        for chunk in response.iter_bytes(CHUNK_BYTES):
            sink.write(chunk)
            written += len(chunk)
    if not _complete(response, written):
        partial.unlink()
        expected = response.headers.get("content-length") or "a non-empty body"
        raise RetryableFetchError(f"{redact(url)}: got {written} bytes, expected {expected}")
    partial.replace(target)


def _complete(response: httpx.Response, written: int) -> bool:
    """Non-empty, and as long as announced (unless compressed, when httpx counts decoded bytes)."""
    expected = response.headers.get("content-length")
    if written == 0:
        return False
    return expected is None or "content-encoding" in response.headers or int(expected) == written


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m kaito_runtime.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", required=True, help="folder to save the files in, e.g. /mnt/data")
    parser.add_argument("--url", required=True, action="append", dest="urls", help="http(s) URL; repeat for more")
    parser.add_argument("--attempts", type=_positive_int, default=3, help="tries per URL (default 3)")
    parser.add_argument("--retry-delay-s", type=float, default=2.0, help="wait before retry n is n times this")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines carry full URLs, tokens included
    try:
        targets = _checked_targets(args.urls)
    except FetchError as error:
        print(f"kaito-fetch: error: {error}", file=sys.stderr)
        return 2
    dest = resolve(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    with httpx.Client(follow_redirects=False, timeout=TIMEOUT) as client:
        for url in targets:
            try:
                download(client, url, dest, attempts=args.attempts, retry_delay_s=args.retry_delay_s)
            except FetchError as error:
                print(f"kaito-fetch: error: {error}", file=sys.stderr)
                return 1
    return 0


def _checked_targets(urls: list[str]) -> list[str]:
    """Validate every URL before fetching any, and refuse two URLs that would write the same file."""
    names: dict[str, str] = {}
    for url in urls:
        check_url(url, allow_loopback=loopback_allowed())
        name = file_name(url)
        if name in names:
            raise FetchError(f"{redact(url)} and {redact(names[name])} would both be saved as {name}")
        names[name] = url
    return urls


if __name__ == "__main__":
    sys.exit(main())
