"""Unpack the ``data/`` entries of image layers without ever writing or linking outside the destination.

Layers are untrusted. The checks here are our own and do not depend on the Python patch level of tarfile's
``filter="data"`` (whose realpath-based checks could be defeated by PATH_MAX-long names, CVE-2025-4517); that
filter, where present, is only consulted as a second opinion.

- Names: a leading ``/`` or ``./`` is dropped; a ``..`` component, a NUL, a component over 255 bytes or a
  name over 4096 bytes refuses the layer. Only entries under ``data/`` are unpacked; ``data`` itself must be
  a directory.
- Every entry is created relative to an open directory descriptor, one component at a time, with
  ``O_NOFOLLOW``: nothing is ever written through a symlink (one from this layer or an earlier one), and no
  path is resolved with realpath, so path length cannot truncate a check.
- Symlinks: relative, ``..`` only as leading components, and never climbing above ``data/``; so every link
  resolves inside ``data/`` by itself, wherever ``data/``'s children are moved afterwards (``--dest``).
- Hardlinks: only to a regular file already unpacked under ``data/``, reached without symlinks.
- Devices, FIFOs and other special entries refuse the layer. Modes lose setuid, setgid, sticky and
  group/other write bits; owners and times are not applied.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DATA_DIR = "data"
WHITEOUT_PREFIX = ".wh."
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeLayer(Exception):
    """A layer entry that would write or link outside the destination, or that is not plain data."""


def extract_data(layer: Path, rootfs: Path) -> None:
    """Unpack the ``data/`` entries of the tar (optionally compressed) ``layer`` under ``rootfs``.

    Raises ``UnsafeLayer``, ``tarfile.TarError`` for a broken archive and ``OSError`` for a failed write.
    """
    rootfs.mkdir(parents=True, exist_ok=True)
    root_fd = os.open(rootfs, _DIR_FLAGS)
    try:
        with tarfile.open(layer, "r:*") as tar:
            for member in tar:
                parts = member_parts(member.name)
                if parts is None:
                    continue
                _check_member(member, parts)
                _second_opinion(member, rootfs)
                _extract_member(tar, member, parts, root_fd)
    finally:
        os.close(root_fd)


def member_parts(name: str) -> list[str] | None:
    """The path components of a ``data/`` entry, None for an entry we skip; raise for an unsafe name."""
    if "\0" in name or len(name.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise UnsafeLayer(f"entry name {name[:80]!r}... is not a usable path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayer(f"entry {name!r} climbs out of the layer with '..'")
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        raise UnsafeLayer(f"entry {name[:80]!r}... has a path component over {MAX_NAME_BYTES} bytes")
    if not parts or parts[0] != DATA_DIR or parts[-1].startswith(WHITEOUT_PREFIX):
        return None
    return parts


def _second_opinion(member: tarfile.TarInfo, rootfs: Path) -> None:
    """tarfile's own ``data`` filter, where this Python has it; never the only check."""
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        return
    try:
        data_filter(member, str(rootfs))
    except tarfile.FilterError as error:
        raise UnsafeLayer(str(error)) from error


def _check_member(member: tarfile.TarInfo, parts: list[str]) -> None:
    """Our own checks of an entry, before anything is written (a hardlink's source is checked again as it is
    made, on disk, without following symlinks)."""
    if len(parts) == 1 and not member.isdir():
        raise UnsafeLayer(f"/{DATA_DIR} must be a directory, the layer has a {_kind(member)}")
    if member.issym():
        _check_symlink_target(member.linkname, parts)
    elif member.islnk():
        source = member_parts(member.linkname)
        if source is None or source == parts:
            raise UnsafeLayer(f"hardlink /{'/'.join(parts)} -> {member.linkname!r} does not name a file under "
                              f"/{DATA_DIR}")
    elif not (member.isdir() or member.isreg()):
        raise UnsafeLayer(f"entry {member.name!r} is a {_kind(member)}; only files, folders and links are unpacked")


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str], root_fd: int) -> None:
    with _parent_directory(root_fd, parts[:-1], create=True) as parent_fd:
        name = parts[-1]
        if member.isdir():
            _make_directory(parent_fd, name)
        elif member.isreg():
            _remove_existing(parent_fd, name)
            _write_file(tar, member, parent_fd, name)
        elif member.issym():
            _remove_existing(parent_fd, name)
            os.symlink(member.linkname, name, dir_fd=parent_fd)
        else:
            _hardlink(member, parts, root_fd, parent_fd, name)


def _kind(member: tarfile.TarInfo) -> str:
    kinds = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO",
             tarfile.SYMTYPE: "symlink", tarfile.LNKTYPE: "hardlink"}
    return kinds.get(member.type, "file" if member.isreg() else f"special entry (type {member.type!r})")


@contextmanager
def _parent_directory(root_fd: int, parts: list[str], *, create: bool) -> Iterator[int]:
    """An open descriptor of ``root/parts...``, reached one component at a time without following a symlink."""
    fd = os.dup(root_fd)
    try:
        for index, part in enumerate(parts):
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    where = "/".join(parts[: index + 1])
                    raise UnsafeLayer(f"an entry would be written through {where!r}, which is not a folder") from error
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _make_directory(parent_fd: int, name: str) -> None:
    try:
        existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        os.mkdir(name, 0o755, dir_fd=parent_fd)
        return
    if not stat.S_ISDIR(existing.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        os.mkdir(name, 0o755, dir_fd=parent_fd)


def _remove_existing(parent_fd: int, name: str) -> None:
    """Make room for a new entry: a later layer replaces what an earlier one put there (never through it)."""
    try:
        existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(existing.st_mode):
        shutil.rmtree(name, dir_fd=parent_fd)
    else:
        os.unlink(name, dir_fd=parent_fd)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, parent_fd: int, name: str) -> None:
    mode = (member.mode & 0o755) | 0o600
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=parent_fd)
    with os.fdopen(fd, "wb") as sink:
        source = tar.extractfile(member)
        if source is not None:
            shutil.copyfileobj(source, sink, _CHUNK)


def _check_symlink_target(target: str, parts: list[str]) -> None:
    """Relative, ``..`` only as a prefix, and never above ``data/`` from the link's folder."""
    if not target or "\0" in target or len(target.encode("utf-8", "surrogateescape")) >= MAX_PATH_BYTES:
        raise UnsafeLayer(f"symlink /{'/'.join(parts)} has an unusable target")
    if target.startswith("/"):
        raise UnsafeLayer(f"symlink /{'/'.join(parts)} -> {target!r} is absolute")
    steps = [step for step in target.split("/") if step not in ("", ".")]
    climbs = 0
    while climbs < len(steps) and steps[climbs] == "..":
        climbs += 1
    depth_below_data = len(parts) - 2
    if ".." in steps[climbs:] or climbs > depth_below_data:
        raise UnsafeLayer(f"symlink /{'/'.join(parts)} -> {target!r} points outside /{DATA_DIR}")


def _hardlink(member: tarfile.TarInfo, parts: list[str], root_fd: int, parent_fd: int, name: str) -> None:
    source = member_parts(member.linkname)
    assert source is not None  # _check_member
    not_unpacked = UnsafeLayer(f"hardlink /{'/'.join(parts)} -> {member.linkname!r} is not to an unpacked file")
    try:
        with _parent_directory(root_fd, source[:-1], create=False) as source_fd:
            existing = os.stat(source[-1], dir_fd=source_fd, follow_symlinks=False)
            if not stat.S_ISREG(existing.st_mode):
                raise not_unpacked
            _remove_existing(parent_fd, name)
            os.link(source[-1], name, src_dir_fd=source_fd, dst_dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError as error:
        raise not_unpacked from error
