"""Download tuning data from URLs into a folder (the tuning Job's ``data-downloader`` init container).

``python3 -m kaito_runtime.fetch --dest=/mnt/data --url=<url> [--url=<url> ...]``

Each URL is saved as ``<dest>/<last path segment>`` (query and fragment dropped), as Kaito's curl script does.
Only http(s) URLs to public addresses are fetched, and the connection goes to the address that was vetted
(``kaito_runtime.egress``): hosts named localhost or a cloud metadata endpoint, and hosts whose addresses are
loopback, private, link-local, multicast or otherwise not global, are refused, both for the URL given and for
every redirect it leads to (at most 5). Tests set ``KAITO_FETCH_ALLOW_LOOPBACK=1`` to reach a server on
127.0.0.1; no compiled manifest sets it. Failed attempts are retried; a download must answer 200 with a
non-empty body.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from kaito_runtime import egress
from kaito_runtime.egress import EgressPolicy, UnsafeDestination, guarded_client, redact
from kaito_runtime.paths import resolve

log = logging.getLogger("kaito_runtime.fetch")

ALLOW_LOOPBACK_ENV = "KAITO_FETCH_ALLOW_LOOPBACK"
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 20
TIMEOUT = httpx.Timeout(60.0, connect=30.0)


class FetchError(RuntimeError):
    """A download that must not or cannot succeed; retrying does not help."""


class RetryableFetchError(FetchError):
    """A failure worth another attempt (network error, 5xx, 429, truncated body)."""


def loopback_allowed() -> bool:
    return os.environ.get(ALLOW_LOOPBACK_ENV) == "1"


def policy() -> EgressPolicy:
    """Public http(s) hosts; loopback too when the test-only variable is set."""
    return EgressPolicy(plain_http=True, allow_loopback=loopback_allowed())


def check_url(url: str) -> None:
    """The static checks (scheme, host name, IP literal) as a FetchError, before anything is fetched."""
    try:
        egress.check_url(url, policy())
    except UnsafeDestination as error:
        raise FetchError(str(error)) from error


def file_name(url: str) -> str:
    """The last path segment, decoded; it must name a file, not climb or be empty (call after check_url)."""
    name = unquote(posixpath.basename(urlsplit(url).path))
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise FetchError(f"{redact(url)}: the URL path does not end in a file name")
    return name


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
    """One attempt; redirects are followed here, one hop at a time, each hop through the guarded client."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    current = _next_hop(current, response.headers["location"])
                    continue
                _save_body(response, current, target)
                return
        except UnsafeDestination as error:
            raise FetchError(str(error)) from error
        except httpx.TransportError as error:
            raise RetryableFetchError(f"{redact(current)}: {type(error).__name__}: {error}") from error
    raise FetchError(f"{redact(url)}: more than {MAX_REDIRECTS} redirects")


def _next_hop(current: str, location: str) -> str:
    """The redirect target; it is vetted like the first URL when it is requested."""
    try:
        target = urljoin(current, location)
        httpx.URL(target)
    except (ValueError, httpx.InvalidURL) as error:
        raise FetchError(f"{redact(current)}: redirects to an invalid URL ({error})") from error
    return target


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
    with guarded_client(policy(), follow_redirects=False, timeout=TIMEOUT) as client:
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
        check_url(url)
        name = file_name(url)
        if name in names:
            raise FetchError(f"{redact(url)} and {redact(names[name])} would both be saved as {name}")
        names[name] = url
    return urls


if __name__ == "__main__":
    sys.exit(main())
