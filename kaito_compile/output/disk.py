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
    if not out_dir.is_dir():
        return state
    for root, dirnames, filenames in os.walk(out_dir):
        relative = Path(root).relative_to(out_dir).as_posix()
        prefix = "" if relative == "." else relative + "/"
        real_dirs = [name for name in dirnames if not os.path.islink(os.path.join(root, name))]
        linked_dirs = [name for name in dirnames if name not in real_dirs]
        dirnames[:] = real_dirs  # os.walk must not descend into symlinked directories
        if prefix:
            state.dirs.add(relative)
            if not dirnames and not filenames:
                state.empty_dirs.add(relative)
        state.entries.update(prefix + name for name in filenames + linked_dirs)
    return state


@dataclass(frozen=True)
class Leftovers:
    """Generated files that the new tree no longer has."""

    deletable: list[str]  # listed in the previous lock and still as generated (hash matches or header present)
    kept: list[str]  # generated once, but edited by hand or not licensed by the lock: never deleted


def leftovers(tree: Mapping[str, bytes], out_dir: Path, state: DiskState, lock: Lock | None) -> Leftovers:
    listed = lock.files if lock else {}
    deletable, kept = [], []
    for path in sorted(state.entries - tree.keys()):
        target = out_dir / path
        if not stat.S_ISREG(target.lstat().st_mode):
            continue  # kaito-compile only ever generates regular files
        generated = carries_header(target)
        if path in listed and (generated or sha256_digest(target.read_bytes()) == listed[path]):
            deletable.append(path)
        elif path in listed or generated:
            kept.append(path)
    return Leftovers(deletable=deletable, kept=kept)
