"""Container image references, parsed as Kaito does with distribution's ``reference.ParseDockerRef``.

The one parser of the project: the compiler's admission rules (a spec Kaito's webhook would refuse never
reaches Git) and the runtime's image puller and pusher both use it, so what compiles is what pulls.

The grammar and the messages are distribution/reference's and go-digest's. Its regexes are Go regexes: Go's
``$`` and ``\\w`` are ``\\Z`` and ASCII ``[0-9A-Za-z_]`` here, so a trailing newline or a non-ASCII letter is
refused as the webhook refuses it. Standard library only: the runtime images import it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?\Z", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}\Z", re.ASCII)
_DIGEST_ANCHORED = re.compile(rf"{_DIGEST}\Z", re.ASCII)
_DIGEST_HEX_LENGTH = {"sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST_ENCODED = re.compile(r"[a-f0-9]+\Z", re.ASCII)
MAX_NAME_LENGTH = 255
DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"


class InvalidReference(ValueError):
    """A reference the distribution parser would refuse; the message uses its wording."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed reference in distribution's terms: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """``domain/path``, distribution's ``Name()``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.name}{tag}{digest}"


def split_docker_domain(name: str) -> tuple[str, str]:
    """distribution's ``splitDockerDomain``: a first component without ``.`` or ``:`` (and not ``localhost``,
    and lowercase) is part of the path on docker.io; official images get ``library/``."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized(text: str) -> ImageReference:
    """distribution's ``ParseNormalizedNamed``: the reference as written (tag None when absent), normalised."""
    if _IDENTIFIER.match(text):
        raise InvalidReference(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    return _parse(f"{domain}/{remainder}", domain)


def _parse(text: str, domain: str) -> ImageReference:
    """distribution's ``Parse`` of an already normalised ``domain/remainder``."""
    match = _REFERENCE.match(text)
    if not match:
        if _REFERENCE.match(text.lower()):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.groups()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidReference(f"repository name must not be more than {MAX_NAME_LENGTH} characters")
    if digest is not None:
        _validate_digest(digest)
    return ImageReference(domain, name[len(domain) + 1:], tag, digest)


def _validate_digest(digest: str) -> None:
    """go-digest's ``Digest.Validate`` for the algorithms it registers (sha256, sha384, sha512)."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in _DIGEST_HEX_LENGTH:
        if not _DIGEST_ANCHORED.match(digest):
            raise InvalidReference("invalid checksum digest format")
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != _DIGEST_HEX_LENGTH[algorithm]:
        raise InvalidReference("invalid checksum digest length")
    if not _DIGEST_ENCODED.match(encoded):
        raise InvalidReference("invalid checksum digest format")


def parse_docker_ref(text: str) -> ImageReference:
    """distribution's ``ParseDockerRef``: ``:latest`` added when neither tag nor digest is given, the tag
    dropped when both are."""
    reference = parse_normalized(text)
    if reference.digest:
        return replace(reference, tag=None)
    if reference.tag is None:
        return replace(reference, tag="latest")
    return reference
