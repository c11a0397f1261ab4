"""Container image references, parsed as Kaito does with distribution's ``reference.ParseDockerRef``.

Kaito rejects what that parser rejects, with its words; the compiler does the same so a spec that
the webhook would refuse never reaches Git. ``normalise`` mirrors ParseDockerRef's output
(``docker.io/library/`` and ``:latest`` added where absent, the tag dropped when a digest is given).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")
MAX_NAME_LENGTH = 255
DEFAULT_DOMAIN = "docker.io"


class InvalidReference(ValueError):
    """A reference the distribution parser would refuse; the message uses its wording."""


@dataclass(frozen=True)
class ImageReference:
    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        out = self.repository
        if self.tag and not self.digest:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain in ("index.docker.io",):
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def parse_docker_ref(text: str) -> ImageReference:
    """Parse like ``reference.ParseDockerRef``; raise InvalidReference with the parser's message."""
    if _IDENTIFIER.match(text):
        raise InvalidReference(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    remote = remainder.split("@", 1)[0]
    remote = remote.split(":", 1)[0] if ":" in remote else remote
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    if not text:
        raise InvalidReference("invalid reference format")
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if not match:
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.groups()
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidReference(f"repository name must not be more than {MAX_NAME_LENGTH} characters")
    path = name[len(domain) + 1:]
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(domain, path, tag, digest)


def pinned(ref: ImageReference) -> bool:
    """True when the reference names an immutable image: a digest, or a tag other than ``latest``."""
    return bool(ref.digest) or (ref.tag not in (None, "latest"))
