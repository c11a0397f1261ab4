"""Reading a file that may be hostile: never through a symlink, never from a FIFO, device or socket, never more
than a limit. Every stage that reads a file it did not choose itself (an output tree, a project config's files,
a tree handed to ``diff``) reads it here."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class UnsafeFile(Exception):
    """``path`` is not a regular file of acceptable size; the message says what it is (never what it holds)."""

    def __init__(self, path: str | Path, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = str(path), why


def kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | Path, *, limit: int) -> bytes:
    """The bytes of ``path`` when it is a regular file (the last component not a symlink) of at most ``limit``
    bytes. Opening with ``O_NONBLOCK`` keeps a FIFO from hanging the open; ``fstat`` on the open descriptor decides,
    so the file cannot be swapped between the check and the read. ``UnsafeFile`` or ``OSError`` otherwise."""
    return read_regular_with_stat(path, limit=limit)[0]


def read_regular_with_stat(path: str | Path, *, limit: int) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular`, with the ``fstat`` of the file the bytes were read from (taken before the read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as error:
        if os.path.islink(path):
            raise UnsafeFile(path, "not a regular file (a symbolic link)") from None
        raise error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(path, f"not a regular file ({kind_of(info.st_mode)})")
        if info.st_size > limit:
            raise UnsafeFile(path, f"{info.st_size} bytes; the limit is {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if info.st_size == 0 and data:  # /proc and /sys files report no size and are made as they are read
        raise UnsafeFile(path, "not a regular file (a file of a pseudo file system such as /proc)")
    if len(data) > limit:  # grew since the fstat
        raise UnsafeFile(path, f"more than {limit} bytes; the limit is {limit} bytes")
    return data, info


def read_own_file(path: str | Path) -> tuple[bytes | None, str | None]:
    """The bytes of ``path`` when it is a regular file of this user that nobody else can write; else None and why
    (None when there is simply no file). Opened without following a symlink or blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"cannot open it ({error.strerror})"
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return None, "it is not a regular file"
    with open(fd, "rb") as handle:
        if info.st_uid != os.geteuid():
            return None, f"it belongs to another user (uid {info.st_uid})"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None, "other users can write it"
        try:
            return handle.read(), None
        except OSError as error:
            return None, f"cannot read it ({error.strerror})"
