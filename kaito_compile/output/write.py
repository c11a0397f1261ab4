"""Replace ``out/`` with a rendered tree so that no crash can leave it half-written.

The new tree is built complete in a staging directory beside ``out/``: new and changed files are written,
every other surviving entry (unchanged generated files, the user's own files) is hard-linked from the
current ``out/``. Then the two directories are swapped in one step with ``renameat2(RENAME_EXCHANGE)``;
where the kernel or file system lacks it, ``out/`` is renamed aside and the staging directory renamed into
place, and the next run rolls back a swap that died between those two renames. Everything lives in
``.<out>.kaito-compile/`` beside ``out/``, together with the ``flock`` file that serialises writers.

Deletion is licensed only by the previous ownership lock (see :mod:`.ownership`); a file it lists that was
edited by hand since is kept. Directories that end up empty because of a deletion are removed; directories
the user left empty are not.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .disk import DiskState, leftovers, scan
from .errors import OutputError, OwnershipConflict, WriterBusy
from .ownership import LOCK_FILE, Lock, carries_header, read_lock, verify_tree

PAUSE_ENV = "KAITO_COMPILE_TEST_PAUSE"
SPARE = "spare"
DEFAULT_LOCK_TIMEOUT_S = 60.0
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_LINK_FALLBACK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP}


@dataclass(frozen=True)
class WriteResult:
    """What a write did, as relative posix paths under ``out/``."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # generated leftovers not deleted: edited by hand or unlisted
    removed_dirs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted or self.removed_dirs)


@dataclass(frozen=True)
class _Plan:
    result: WriteResult
    carried: list[str]  # existing entries hard-linked into the new tree
    dirs: list[str]  # every directory of the new tree, parents first


SIDECAR_GITIGNORE = b"# Created by kaito-compile: its build cache and writer state are never committed.\n*\n"


def sidecar_dir(out_dir: Path) -> Path:
    """The directory beside ``out_dir`` that holds the writer lock, the staging area and the build cache."""
    return out_dir.parent / f".{out_dir.name}.kaito-compile"


def make_sidecar(sidecar: Path) -> None:
    """Create the sidecar directory with its own ``.gitignore`` (``*``, as pytest's and hypothesis' caches carry),
    so it is never committed by accident. An existing ``.gitignore`` (or anything else there) is left alone."""
    sidecar.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(sidecar / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o644)
    except FileExistsError:
        return
    with open(fd, "wb") as handle:
        handle.write(SIDECAR_GITIGNORE)


def write_tree(
    tree: Mapping[str, bytes], out_dir: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
    keep_spare: bool = False,
) -> WriteResult:
    """Make ``out_dir`` hold ``tree`` (from ``render_tree``), atomically; the user's files stay untouched.

    ``keep_spare``: keep the replaced tree in the sidecar (``spare/``) and turn it into the next tree, so a
    write costs file operations for what changed since the last two writes instead of a hard link, an unlink
    and a directory per file and workspace (seconds for thousands of files). The CLI's ``build`` does.
    """
    verify_tree(tree)
    out = _real_out_dir(Path(out_dir))
    sidecar = sidecar_dir(out)
    make_sidecar(sidecar)
    spare = sidecar / SPARE
    with _writer_lock(sidecar / "writer.lock", out, lock_timeout):
        _pause("locked")
        _recover(out, sidecar)
        if not keep_spare:
            _remove(spare)
        plan = _plan(tree, out)
        if plan.result.changed:
            staging = spare if keep_spare and spare.is_dir() and out.is_dir() else sidecar / "staging"
            if staging == spare:
                _reconcile(tree, out, plan, spare)
            else:
                _build(tree, out, plan, staging)
            _pause("staged")
            _swap(staging, out, sidecar / "previous")
            _pause("swapped")
            if keep_spare:
                _keep_as_spare(staging, sidecar / "previous", spare)
            _remove(sidecar / "staging")
            _remove(sidecar / "previous")
    return plan.result


def _real_out_dir(out_dir: Path) -> Path:
    out = Path(os.path.realpath(out_dir))
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise OutputError(f"the output directory {out_dir} contains the working directory; write elsewhere")
    if out.exists() and not out.is_dir():
        raise OwnershipConflict(f"the output directory {out_dir} exists and is not a directory")
    return out


@contextmanager
def _writer_lock(path: Path, out: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; the kernel releases it when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise WriterBusy(
                        f"another kaito-compile (pid {holder}) is writing {out}; gave up after {timeout:g} s"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _recover(out: Path, sidecar: Path) -> None:
    """Finish or roll back what a killed writer left behind; ``out`` is whole afterwards."""
    previous = sidecar / "previous"
    if previous.exists() and not os.path.lexists(out):
        os.rename(previous, out)  # died between the two renames of the fallback swap: roll back
    _remove(previous)
    _remove(sidecar / "staging")  # an unfinished new tree, or the old tree after a completed exchange


def _plan(tree: Mapping[str, bytes], out: Path) -> _Plan:
    state = scan(out)
    lock, warning = read_lock(out)
    left = leftovers(tree, out, state, lock)
    _check_conflicts(tree, out, state, lock, set(left.deletable))
    created, updated, unchanged = [], [], []
    for path, data in tree.items():
        if path not in state.entries:
            created.append(path)
        elif _same_bytes(f"{out}/{path}", data):
            unchanged.append(path)
        else:
            updated.append(path)
    carried = sorted(state.entries - set(left.deletable) - set(created) - set(updated))
    dirs = _parents_of([*carried, *tree]) | _with_parents(state.empty_dirs)
    result = WriteResult(
        created=sorted(created),
        updated=sorted(updated),
        deleted=left.deletable,
        unchanged=sorted(unchanged),
        kept=left.kept,
        removed_dirs=sorted(state.dirs - dirs),
        warnings=[warning] if warning else [],
    )
    return _Plan(result=result, carried=carried, dirs=sorted(dirs, key=lambda d: (d.count("/"), d)))


def _check_conflicts(
    tree: Mapping[str, bytes], out: Path, state: DiskState, lock: Lock | None, deleting: set[str]
) -> None:
    listed = lock.files if lock else {}
    remaining = state.entries - deleting
    for path in tree:
        target = out / path
        if path in state.dirs:
            raise OwnershipConflict(f"{target} is a directory, but kaito-compile generates a file there")
        blocking = sorted(parent for parent in _parents(path) if parent in remaining)
        if blocking:
            raise OwnershipConflict(f"{out / blocking[0]} is a file, but kaito-compile needs a directory there")
        if path not in state.entries:
            continue
        if not stat.S_ISREG(os.lstat(f"{out}/{path}").st_mode):
            raise OwnershipConflict(f"{target} is not a regular file, but kaito-compile generates a file there")
        if path != LOCK_FILE and path not in listed and not carries_header(target) and not _same_bytes(
            target, tree[path]
        ):
            raise OwnershipConflict(
                f"{target} was not generated by kaito-compile (no provenance header, not in {LOCK_FILE}); "
                "move it away or delete it, then write again"
            )


def _same_bytes(path: Path | str, data: bytes) -> bool:
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
        return False
    with open(path, "rb") as handle:
        return handle.read() == data


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _parents_of(paths: list[str]) -> set[str]:
    parents = set()
    for path in paths:
        parents.update(_parents(path))
    return parents


def _with_parents(dirs: set[str]) -> set[str]:
    return set(dirs) | _parents_of(list(dirs))


def _build(tree: Mapping[str, bytes], out: Path, plan: _Plan, staging: Path) -> None:
    """Lay out the complete new tree in ``staging``: fresh files written, everything else hard-linked."""
    staging.mkdir()
    _copy_mode(out, staging)
    for directory in plan.dirs:
        (staging / directory).mkdir()
        _copy_mode(out / directory, staging / directory)
    for path in plan.carried:
        _link(out / path, staging / path)
    for path in [*plan.result.created, *plan.result.updated]:
        with open(staging / path, "xb") as handle:
            handle.write(tree[path])


def _reconcile(tree: Mapping[str, bytes], out: Path, plan: _Plan, spare: Path) -> None:
    """Turn ``spare``, an earlier tree, into the complete new tree, like :func:`_build` would lay it out, touching
    only what differs: an entry that is already a hard link of the ``out`` entry it should carry stays."""
    wanted_files = {*plan.carried, *plan.result.created, *plan.result.updated}
    wanted_dirs = set(plan.dirs)
    state = scan(spare)
    for path in state.entries - wanted_files:
        _unlink(spare / path)
    for directory in sorted(state.dirs - wanted_dirs):
        _remove(spare / directory)  # nothing below a directory the tree does not have is wanted
    _copy_mode(out, spare)
    for directory in plan.dirs:
        source, target = f"{out}/{directory}", f"{spare}/{directory}"
        if os.path.lexists(target) and not os.path.isdir(source):
            _remove(Path(target))  # new in out: made afresh, with the mode mkdir gives, as _build would
        if not os.path.lexists(target):
            os.mkdir(target)
        _copy_mode(source, target)
    for path in plan.carried:
        source, target = f"{out}/{path}", f"{spare}/{path}"
        if not _same_inode(source, target):
            _unlink(Path(target))
            _link(source, target)
    for path in [*plan.result.created, *plan.result.updated]:
        _unlink(spare / path)  # never write into an existing file: it may be a hard link of a file in out
        with open(spare / path, "xb") as handle:
            handle.write(tree[path])


def _keep_as_spare(staging: Path, previous: Path, spare: Path) -> None:
    """After the swap the replaced tree is in ``staging`` (exchange) or ``previous`` (fallback): make it the spare."""
    replaced = staging if os.path.lexists(staging) else previous
    if replaced != spare and os.path.lexists(replaced):
        _remove(spare)
        os.rename(replaced, spare)


def _same_inode(first: Path | str, second: Path | str) -> bool:
    try:
        a, b = os.lstat(first), os.lstat(second)
    except FileNotFoundError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def _unlink(path: Path) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _copy_mode(source: Path | str, target: Path | str) -> None:
    """Give directory ``target`` the permissions of directory ``source``, when it exists and they differ."""
    try:
        wanted = os.stat(source).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(wanted) and stat.S_IMODE(wanted) != stat.S_IMODE(os.stat(target).st_mode):
        os.chmod(target, stat.S_IMODE(wanted))


def _link(source: Path | str, target: Path | str) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as error:
        if error.errno not in _LINK_FALLBACK_ERRNOS:
            raise
        shutil.copy2(source, target, follow_symlinks=False)


def _swap(staging: Path, out: Path, previous: Path) -> None:
    """Put ``staging`` at ``out``; afterwards ``staging`` holds the old tree (exchange) or is gone (fallback)."""
    if not os.path.lexists(out):
        os.rename(staging, out)
    elif not _exchange(staging, out):
        os.rename(out, previous)
        _pause("moved-aside")
        os.rename(staging, out)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with ``renameat2(RENAME_EXCHANGE)``; False where that is unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _remove(path: Path) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path)


def _pause(point: str) -> None:
    """Test hook: with ``KAITO_COMPILE_TEST_PAUSE=<point>`` the writer parks here until a line arrives on stdin,
    so a test can SIGKILL it at that point or let it go on."""
    if os.environ.get(PAUSE_ENV) == point:
        print(f"kaito-compile: paused at {point}", file=sys.stderr, flush=True)
        sys.stdin.readline()
