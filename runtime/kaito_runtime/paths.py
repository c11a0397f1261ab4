"""Map the absolute paths of the compiler-runtime contract onto the filesystem.

Containers read and write fixed paths (``/workspace/weights``, ``/mnt/adapter``, ``/mnt/config``, ...). Tests run
the exact compiled command on a developer machine and relocate all of them under one directory with the
environment variable ``KAITO_RUNTIME_ROOT`` (see docs/runtime-contract.md, "Path remapping").
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

ROOT_ENV = "KAITO_RUNTIME_ROOT"


def resolve(path: str | os.PathLike[str]) -> Path:
    """Return where the contract path ``path`` lives on this machine.

    With ``KAITO_RUNTIME_ROOT`` set, an absolute path ``/x/y`` becomes ``$KAITO_RUNTIME_ROOT/x/y``; the path is
    normalised first, so ``..`` cannot climb out of the root. Relative paths, and every path when the variable is
    unset or empty, are returned unchanged.
    """
    text = os.fspath(path)
    root = os.environ.get(ROOT_ENV, "")
    if not root or not posixpath.isabs(text):
        return Path(text)
    inside = posixpath.normpath(text).lstrip("/")
    return Path(root) / inside
