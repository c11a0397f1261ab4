"""Compare a rendered tree with ``out/`` without writing anything (the CI drift check)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .disk import leftovers, scan
from .ownership import read_lock, verify_tree

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


def check_tree(tree: Mapping[str, bytes], out_dir: Path) -> CheckResult:
    """Which files a ``write_tree(tree, out_dir)`` would create, change or leave as generated leftovers."""
    verify_tree(tree)
    out_dir = Path(out_dir)
    root = display_root(out_dir)
    stale, missing, chunks = [], [], []
    for path, data in sorted(tree.items()):
        target = out_dir / path
        if not target.is_file():
            missing.append(path)
            chunks.append(_diff(None, data, f"{root}/{path}"))
        elif (current := target.read_bytes()) != data:
            stale.append(path)
            chunks.append(_diff(current, data, f"{root}/{path}"))
    lock, _ = read_lock(out_dir)
    left = leftovers(tree, out_dir, scan(out_dir), lock)
    orphans = sorted(left.deletable + left.kept)
    chunks.extend(_diff((out_dir / path).read_bytes(), None, f"{root}/{path}") for path in orphans)
    return CheckResult(stale=stale, missing=missing, orphans=orphans, diff="".join(chunks))


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
