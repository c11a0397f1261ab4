"""Compare a rendered tree with ``out/`` without writing anything (the CI drift check).

``check`` follows ``build``'s rules and gives its diagnostics: what would make ``build`` refuse to write (a
symlink, FIFO or device where a file is generated, a symlink where a directory is needed, a user's file at a
generated path) is the same :class:`~.errors.OwnershipConflict`. Files are read without following a symlink or
blocking on a FIFO, and the diff shows only bytes kaito-compile wrote: a file whose bytes are neither the ones the
lock lists nor start with the provenance header is named, its content withheld.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..files import UnsafeFile, read_regular_with_stat
from .disk import leftovers, scan
from .errors import OwnershipConflict
from .ownership import HEADER_PREFIX, Lock, read_lock, sha256_digest, verify_tree
from .statcache import StatCache, lstat_all, tree_digests

MAX_OUTPUT_FILE_BYTES = 64 * 1024 * 1024  # far above any generated file; a bigger one is not ours

_NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class CheckResult:
    stale: list[str]  # exist with different content
    missing: list[str]  # should exist and do not
    orphans: list[str]  # generated files the tree no longer has (listed in the lock or carrying the header)
    diff: str  # unified diff from what is on disk (a/...) to what the tree holds (b/...)

    @property
    def ok(self) -> bool:
        return not (self.stale or self.missing or self.orphans)


def check_tree(tree: Mapping[str, bytes], out_dir: Path, *, stat_cache: StatCache | None = None) -> CheckResult:
    """Which files a ``write_tree(tree, out_dir)`` would create, change or leave as generated leftovers.

    With ``stat_cache``, a file whose ``lstat`` is exactly the one recorded with the bytes the tree holds is not
    read, and a file read and found up to date is recorded (:mod:`.statcache`)."""
    from .write import check_conflicts

    tree_lock = verify_tree(tree)
    digests = tree_digests(tree, tree_lock.files)
    out_dir = Path(out_dir)
    root = display_root(out_dir)
    horizon = stat_cache.now() if stat_cache is not None else None  # before anything in out/ is read
    state = scan(out_dir)
    lock, _ = read_lock(out_dir, tree=(tree, tree_lock))
    left = leftovers(tree, out_dir, state, lock)
    stats = lstat_all(out_dir, state.entries & tree.keys())
    check_conflicts(tree, out_dir, state, lock, set(left.deletable), stats)
    stale, missing, chunks = [], [], []
    for path, data in sorted(tree.items()):
        if path not in state.entries:
            missing.append(path)
            chunks.append(_diff(None, data, f"{root}/{path}"))
        elif stat_cache is not None and stat_cache.known(path, stats[path]) == digests[path]:
            continue
        elif (current := _read_with_stat(out_dir, path))[0] != data:
            stale.append(path)
            chunks.append(_diff_shown(current[0], data, f"{root}/{path}", lock, path))
        elif stat_cache is not None:
            stat_cache.record(path, current[1], digests[path], horizon)
    orphans = sorted(left.deletable + left.kept)
    chunks.extend(_diff_shown(_read(out_dir, path), None, f"{root}/{path}", lock, path) for path in orphans)
    if stat_cache is not None:
        stat_cache.save()
    return CheckResult(stale=stale, missing=missing, orphans=orphans, diff="".join(chunks))


def _read(out_dir: Path, path: str) -> bytes | None:
    """The bytes of a regular file in ``out_dir`` (None when it is too large to be one kaito-compile wrote)."""
    return _read_with_stat(out_dir, path)[0]


def _read_with_stat(out_dir: Path, path: str) -> tuple[bytes | None, os.stat_result | None]:
    """:func:`_read`, with the ``fstat`` of the file read."""
    try:
        return read_regular_with_stat(out_dir / path, limit=MAX_OUTPUT_FILE_BYTES)
    except UnsafeFile as error:
        if "limit" in error.why:
            return None, None
        raise OwnershipConflict(f"{error}, but kaito-compile generates a file there") from None


def _diff_shown(old: bytes | None, new: bytes | None, shown: str, lock: Lock | None, path: str) -> str:
    """The diff of a file on disk, when kaito-compile wrote its bytes; else a line naming it, content withheld."""
    if old is not None and (old.startswith(HEADER_PREFIX.encode())
                            or (lock is not None and lock.files.get(path) == sha256_digest(old))):
        return _diff(old, new, shown)
    return f"Only the name of {shown} is shown: its content was not written by kaito-compile\n"


def display_root(out_dir: Path) -> str:
    """``out_dir`` as the diff names it: as given when relative, else relative to the working directory."""
    if not out_dir.is_absolute():
        return out_dir.as_posix()
    relative = os.path.relpath(out_dir)
    return out_dir.name if relative.startswith("..") else Path(relative).as_posix()


def _diff(old: bytes | None, new: bytes | None, path: str) -> str:
    """A git-style unified diff of one file; None stands for an absent file."""
    old_lines = _lines(old)
    new_lines = _lines(new)
    lines = difflib.unified_diff(
        old_lines,
        new_lines,
        fromfile="/dev/null" if old is None else f"a/{path}",
        tofile="/dev/null" if new is None else f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" + _NO_NEWLINE for line in lines)


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode(errors="replace").splitlines(keepends=True)
