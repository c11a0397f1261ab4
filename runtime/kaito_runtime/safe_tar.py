"""Extraction of untrusted tar layers with Python's ``data`` filter, on every Python 3.11.

Python before 3.11.4 (Debian bookworm's python3 is 3.11.2) has no extraction filters. There the members are
checked here, more strictly than the filter: regular files and folders only (no links, devices or fifos), names that
stay inside the destination (leading slashes stripped, as the filter does), and modes without setuid, setgid, sticky
or group/other write bits.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Sequence
from pathlib import Path


class UnsafeMemberError(getattr(tarfile, "FilterError", tarfile.TarError)):
    """A member the ``data`` filter would refuse (raised where Python has no filters)."""


FilterError = getattr(tarfile, "FilterError", UnsafeMemberError)


def extractall(tar: tarfile.TarFile, destination: Path, members: Sequence[tarfile.TarInfo]) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(destination, members=members, filter="data")
        return
    for member in members:
        _check(member)
        member.mode &= 0o755
    tar.extractall(destination, members=members)


def _check(member: tarfile.TarInfo) -> None:
    if not (member.isreg() or member.isdir()):
        raise UnsafeMemberError(f"{member.name!r} is not a regular file or folder")
    member.name = member.name.lstrip("/")
    name = posixpath.normpath(member.name)
    if name == ".." or name.startswith("../"):
        raise UnsafeMemberError(f"{member.name!r} would be extracted outside the destination")
