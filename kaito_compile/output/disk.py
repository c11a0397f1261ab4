"""What is in ``out/`` now, and which of those files are generated leftovers."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .ownership import Lock, carries_header, sha256_digest


@dataclass
class DiskState:
    """Relative posix paths under an output directory; symlinks count as entries, never followed."""

    entries: set[str] = field(default_factory=set)  # everything that is not a directory
    dirs: set[str] = field(default_factory=set)
    empty_dirs: set[str] = field(default_factory=set)


def scan(out_dir: Path) -> DiskState:
    state = DiskState()
    if out_dir.is_dir():
        _scan_into(state, os.fspath(out_dir), "")
    return state


def _scan_into(state: DiskState, directory: str, prefix: str) -> None:
    """Add what ``directory`` holds; ``prefix`` is its relative path plus ``/`` ("" for the root). Like ``os.walk``:
    a directory that cannot be listed is left out, and a symlink to a directory is not descended into (it is an
    entry, and does not make its directory non-empty)."""
    try:
        with os.scandir(directory) as listing:
            children = [(entry.name, entry.path, entry.is_dir(follow_symlinks=False), entry.is_dir())
                        for entry in listing]
    except OSError:
        return
    if prefix:
        state.dirs.add(prefix[:-1])
        if not any(real_dir or not to_dir for _, _, real_dir, to_dir in children):
            state.empty_dirs.add(prefix[:-1])
    for name, path, real_dir, _ in children:
        if real_dir:
            _scan_into(state, path, prefix + name + "/")
        else:
            state.entries.add(prefix + name)


@dataclass(frozen=True)
class Leftovers:
    """Generated files that the new tree no longer has."""

    deletable: list[str]  # listed in the previous lock with the bytes it lists: exactly as kaito-compile wrote it
    kept: list[str]  # generated once, but edited by hand (header or not) or not licensed by the lock: never deleted


def leftovers(tree: Mapping[str, bytes], out_dir: Path, state: DiskState, lock: Lock | None) -> Leftovers:
    listed = lock.files if lock else {}
    deletable, kept = [], []
    for path in sorted(state.entries - tree.keys()):
        target = out_dir / path
        if not stat.S_ISREG(target.lstat().st_mode):
            continue  # kaito-compile only ever generates regular files
        if path in listed and sha256_digest(target.read_bytes()) == listed[path]:
            deletable.append(path)
        elif path in listed or carries_header(target):
            kept.append(path)
    return Leftovers(deletable=deletable, kept=kept)
