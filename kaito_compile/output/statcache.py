"""What kaito-compile knows of the files in ``out/`` by their ``lstat``, so that ``check`` and ``build`` read only
the files that changed since it last wrote or read them.

A record says: the file at this path, with this inode, device, size, mtime, ctime and mode, holds the bytes with
this sha256. ``build`` records what it writes and what it found unchanged, ``check`` what it read and found
up to date; a later run that finds the same ``lstat`` takes the bytes as known instead of reading them. Any
change of a file gives it another ctime: the kernel sets ctime on every write, rename into place, chmod or
``utime`` and no user can set it, so an edit that restores the old mtime is seen too. A symlink, FIFO or
device put in a file's place has another inode and mode, and is then refused as before.

Timestamps have the granularity of the file system's clock, so a change made within the same tick as the one a
record saw would keep the recorded ctime. A record is therefore made only for a file whose ctime is older than a
time of the same file system taken before its bytes became known (the ctime of a clock file in the sidecar,
written for that purpose), as git does for its index: a later change gets a later ctime.

The record file (``out-stat.json`` in the sidecar) is untrusted data like the build cache: JSON only, read only
as a regular file of this user that nobody else can write, and authenticated with this user's cache key
(HMAC-SHA256). A record file that fails any of that is ignored: every file is read, as without one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..files import read_own_file
from .ownership import sha256_digest

STAT_FILE = "out-stat.json"
CLOCK_FILE = "clock"
FORMAT = 1
_MAC_CONTEXT = b"kaito-compile out stat records\n"

Signature = tuple[int, int, int, int, int, int]  # inode, device, size, mtime_ns, ctime_ns, mode


def signature(info: os.stat_result) -> Signature:
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)


class StatCache:
    """The records of one ``out/`` (in its sidecar ``sidecar``), authenticated with ``key``."""

    def __init__(self, sidecar: Path, key: bytes):
        self.path = Path(sidecar) / STAT_FILE
        self._key = key
        self._loaded = self._load()
        self._records: dict[str, list] = dict(self._loaded)  # path → [*signature, digest]; checked when used

    def known(self, path: str, info: os.stat_result) -> str | None:
        """The sha256 digest (``sha256:<hex>``) of the bytes of ``path``, when a record has exactly ``info``."""
        record = self._records.get(path)
        if isinstance(record, list) and len(record) == 7 and tuple(record[:6]) == signature(info) \
                and isinstance(record[6], str):
            return record[6]
        return None

    def record(self, path: str, info: os.stat_result, digest: str, horizon: int | None) -> None:
        """Record that ``path`` with ``info`` holds the bytes of ``digest``, known since the file system time
        ``horizon`` (from :meth:`now`); a file changed at or after it is not recorded (see the module docstring)."""
        if horizon is not None and info.st_ctime_ns < horizon:
            self._records[path] = [*signature(info), digest]
        else:
            self._records.pop(path, None)

    def keep_only(self, paths: Iterable[str]) -> None:
        """Drop every record but those of ``paths`` (after a write: the records of the new tree)."""
        wanted = set(paths)
        self._records = {path: record for path, record in self._records.items() if path in wanted}

    def now(self) -> int | None:
        """The file system's current time: the ctime of the sidecar's clock file, written now. None when it cannot
        be written (nothing is recorded then)."""
        try:
            fd = os.open(self.path.parent / CLOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        try:
            os.pwrite(fd, b"\n", 0)
            return os.fstat(fd).st_ctime_ns
        except OSError:
            return None
        finally:
            os.close(fd)

    def save(self) -> bool:
        """Write the records back when they changed (a fresh file renamed into place). Best effort: whether it
        was written."""
        if self._records == self._loaded:
            return False
        import tempfile  # here: an unchanged check saves nothing

        body = json.dumps({"format": FORMAT, "entries": self._records}, separators=(",", ":"),
                          ensure_ascii=False).encode()
        temporary = None
        try:
            handle, temporary = tempfile.mkstemp(prefix=f".{STAT_FILE}.", suffix=".tmp", dir=self.path.parent)
            with open(handle, "wb") as out:
                out.write(self._mac(body).encode() + b"\n" + body)
            os.replace(temporary, self.path)
        except OSError:
            if temporary is not None:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
            return False
        self._loaded = dict(self._records)
        return True

    def _mac(self, body: bytes) -> str:
        return hmac.new(self._key, _MAC_CONTEXT + body, hashlib.sha256).hexdigest()

    def _load(self) -> dict[str, list]:
        """The records of an intact file of ours (each is checked when looked up); none otherwise."""
        data, _ = read_own_file(self.path)
        if data is None:
            return {}
        mac, _, body = data.partition(b"\n")
        if not hmac.compare_digest(self._mac(body).encode(), mac):
            return {}
        try:
            document = json.loads(body)
        except ValueError:
            return {}
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            return {}
        entries = document.get("entries")
        return entries if isinstance(entries, dict) else {}


def tree_digests(tree: Mapping[str, bytes], listed: Mapping[str, str]) -> dict[str, str]:
    """The sha256 digest of every file of a verified tree: its lock lists all but the lock itself."""
    return {path: listed.get(path) or sha256_digest(data) for path, data in tree.items()}


def lstat_all(out: Path, paths: Iterable[str]) -> dict[str, os.stat_result]:
    return {path: os.lstat(f"{out}/{path}") for path in paths}
