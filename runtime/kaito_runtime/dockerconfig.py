"""Registry credentials from Docker config files (``{"auths": {REGISTRY: {"auth": base64(user:password)} |
{"username", "password"}}}``), as ``docker login`` writes them without a credential helper.

One reading for the runtime's puller and pusher (kaito_runtime.artifact) and the compiler's ``push``
(kaito_compile.gitops.registry). Credential helpers (``credsStore``, ``credHelpers``) are not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")


class DockerConfigError(ValueError):
    """A Docker config file that cannot be read as one (the message names the file, never its content)."""


@dataclass(frozen=True)
class Credential:
    username: str
    password: str

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __repr__(self) -> str:
        return f"Credential(username={self.username!r}, password=<redacted>)"


def registry_key(name: str) -> str:
    """The registry an ``auths`` key or a reference's host names: scheme and path dropped, Docker Hub's aliases
    folded into ``docker.io``."""
    host = re.sub(r"^[a-z]+://", "", name.strip().lower()).split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


def credentials_for(registry: str, files: Iterable[Path]) -> list[Credential]:
    """Every username/password the Docker config ``files`` hold for ``registry``, in file order."""
    wanted = registry_key(registry)
    found = []
    for path in files:
        try:
            auths = json.loads(path.read_text()).get("auths") or {}
        except (OSError, ValueError, AttributeError) as error:
            raise DockerConfigError(f"cannot read the Docker config {path}: {type(error).__name__}") from None
        for key, entry in auths.items() if isinstance(auths, dict) else ():
            credential = _credential(entry) if registry_key(key) == wanted else None
            if credential:
                found.append(credential)
    return found


def _credential(entry: Any) -> Credential | None:
    """An entry's credential; None for one without (an identity token, an empty or malformed ``auth``)."""
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            username, colon, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, TypeError):
            return None
        return Credential(username, password) if username and colon else None
    if entry.get("username") and entry.get("password"):
        return Credential(str(entry["username"]), str(entry["password"]))
    return None
