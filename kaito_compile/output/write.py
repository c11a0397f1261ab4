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

A file saved into ``out/`` while a build runs lands in the tree that the swap replaces. Every entry is therefore
signed (inode, size, mtime) when the build plans, and after the swap any entry of the replaced tree that is new or
changed since is moved back to its path in ``out/`` (or, where the new tree generates that very path, kept in
the sidecar's ``rescued/`` with a warning): nothing the user saved is lost.

Writes are durable: before the swap the new files and their directories reach the disk (``fsync`` per file and
directory for a small write, one ``syncfs`` of the file system for a large one, where the same guarantee costs one
call instead of thousands), and after it the directory holding ``out/`` and the sidecar are fsynced, so a power
loss leaves the old tree or the new one, never empty files. A failing system call (a full disk, a read-only file
system) is a :class:`~.errors.WriteFailed` naming the path and the reason, and no staging is left behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import sys
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .disk import DiskState, leftovers, scan
from .errors import OutputError, OwnershipConflict, WriteFailed, WriterBusy
from .ownership import LOCK_FILE, Lock, carries_header, read_lock, sha256_digest, verify_tree
from .statcache import StatCache, lstat_all, tree_digests

PAUSE_ENV = "KAITO_COMPILE_TEST_PAUSE"
SPARE = "spare"
RESCUED = "rescued"
FSYNC_EACH_MAX = 32  # above this many files and directories to sync, one syncfs is cheaper than an fsync each
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
    signatures: dict[str, tuple[int, ...]]  # every entry of out/ when planned: what a later save would change


SIDECAR_GITIGNORE = b"# Created by kaito-compile: its build cache and writer state are never committed.\n*\n"


def sidecar_dir(out_dir: Path) -> Path:
    """The directory beside ``out_dir`` that holds the writer lock, the staging area and the build cache."""
    return out_dir.parent / f".{out_dir.name}.kaito-compile"


def make_sidecar(sidecar: Path) -> None:
    """Create the sidecar directory with its own ``.gitignore`` (``*``, as pytest's and hypothesis' caches carry),
    so it is never committed by accident. An existing ``.gitignore`` (or anything else there) is left alone. A
    sidecar that is a symlink (it can be committed, or planted) is refused: writes would land wherever it points."""
    if os.path.islink(sidecar) or (os.path.lexists(sidecar) and not os.path.isdir(sidecar)):
        raise OwnershipConflict(f"{sidecar} is not a directory (a symlink or a file); kaito-compile keeps its lock, "
                                "staging and cache there: remove it")
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
    keep_spare: bool = False, stat_cache: StatCache | None = None,
) -> WriteResult:
    """Make ``out_dir`` hold ``tree`` (from ``render_tree``), atomically; the user's files stay untouched.

    ``keep_spare``: keep the replaced tree in the sidecar (``spare/``) and turn it into the next tree, so a
    write costs file operations for what changed since the last two writes instead of a hard link, an unlink
    and a directory per file and workspace (seconds for thousands of files). The CLI's ``build`` does.

    ``stat_cache``: files whose ``lstat`` it recorded with the tree's bytes are not read to find what changed, and
    what this write wrote or read is recorded in it (:mod:`.statcache`).
    """
    tree_lock = verify_tree(tree)
    out = usable_out_dir(Path(out_dir))
    sidecar = sidecar_dir(out)
    try:
        make_sidecar(sidecar)
        with _writer_lock(sidecar / "writer.lock", out, lock_timeout):
            return _write_locked(tree, out, sidecar, keep_spare, _Known(stat_cache, tree, tree_lock))
    except OSError as error:
        _discard_staging(sidecar)
        raise WriteFailed(_os_reason(out_dir, error)) from None


def _write_locked(tree: Mapping[str, bytes], out: Path, sidecar: Path, keep_spare: bool, known: _Known
                  ) -> WriteResult:
    spare = sidecar / SPARE
    _pause("locked")
    _recover(out, sidecar)
    if not keep_spare:
        _remove(spare)
    plan = _plan(tree, out, known)
    if not plan.result.changed:
        known.save()
        return plan.result
    staging = spare if keep_spare and spare.is_dir() and out.is_dir() else sidecar / "staging"
    if staging == spare:
        _reconcile(tree, out, plan, spare)
    else:
        _build(tree, out, plan, staging)
    written = [*plan.result.created, *plan.result.updated]
    _make_durable(staging, written, plan.dirs)
    _pause("staged")
    horizon = known.cache.now() if known.cache is not None else None  # the written files are ours until the swap
    _swap(staging, out, sidecar / "previous")
    _sync_dir(out.parent)
    _pause("swapped")
    replaced = staging if os.path.lexists(staging) else sidecar / "previous"
    plan.result.warnings.extend(_rescue(replaced, out, plan, tree.keys(), sidecar))
    if keep_spare:
        _keep_as_spare(staging, sidecar / "previous", spare)
    _remove(sidecar / "staging")
    _remove(sidecar / "previous")
    _sync_dir(sidecar)
    known.save_after_write(out, set(written), horizon)
    return plan.result


def usable_out_dir(out_dir: Path) -> Path:
    """``out_dir`` with symlinks resolved, once it is known to be a place ``write_tree`` can replace as a whole:
    not the working directory or one of its parents, not a file, not a mount point (a mount point cannot be
    renamed). Checked before anything is written beside it."""
    out = Path(os.path.realpath(out_dir))
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise OutputError(f"the output directory {out_dir} contains the working directory; write elsewhere")
    if os.path.lexists(out) and not out.is_dir():
        raise OwnershipConflict(f"the output directory {out_dir} exists and is not a directory")
    if out.is_dir() and os.path.ismount(out):
        raise OutputError(f"the output directory {out_dir} is a mount point, and kaito-compile replaces the "
                          f"directory as a whole: write to a directory inside it (-o {Path(out_dir) / 'out'})")
    return out


def _os_reason(out_dir: Path, error: OSError) -> str:
    where = error.filename if error.filename is not None else out_dir
    reason = error.strerror or str(error)
    return f"cannot write the output directory {out_dir}: {where}: {reason}"


def _discard_staging(sidecar: Path) -> None:
    """After a failed write: no half-built tree stays behind (on a full disk it would only take more room)."""
    for name in ("staging", SPARE):
        shutil.rmtree(sidecar / name, ignore_errors=True)


def _make_durable(staging: Path, written: list[str], dirs: list[str]) -> None:
    """Get the new tree's files and directories onto the disk before the swap makes them ``out/``."""
    if len(written) + len(dirs) > FSYNC_EACH_MAX and _syncfs(staging):
        return  # one call instead of an fsync per file and directory (a tree of 1,000 workspaces has 1,000 dirs)
    for path in written:
        fd = os.open(staging / path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for directory in dirs:
        _sync_dir(staging / directory)
    _sync_dir(staging)


def _syncfs(path: Path) -> bool:
    """``syncfs(2)`` on the file system holding ``path``; False where the C library lacks it."""
    import ctypes  # here: a run that writes nothing (check) does not load it

    function = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if function is None:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if function(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)
    return True


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _signature(path: str) -> tuple[int, ...]:
    return _signature_of(os.lstat(path))


def _signature_of(info: os.stat_result) -> tuple[int, ...]:
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_mode)


def _rescue(replaced: Path, out: Path, plan: _Plan, generated: Collection[str], sidecar: Path) -> list[str]:
    """Give back what was saved into ``out/`` while this write ran (it landed in the ``replaced`` tree): every
    entry there that is new or changed since planning goes back to its path in ``out/`` (replacing the carried
    copy of the user's own file it was saved over), or into the sidecar's ``rescued/`` when the new tree
    generates that path (with a warning naming both)."""
    if not os.path.isdir(replaced) or os.path.islink(replaced):
        return []
    warnings = []
    for path in sorted(scan(replaced).entries):
        source, target = f"{replaced}/{path}", f"{out}/{path}"
        if plan.signatures.get(path) == _signature(source) or _same_inode(source, target):
            continue  # as planned, or a hard link of the new tree's own entry
        free = not os.path.lexists(target) or (path in plan.carried and not os.path.isdir(target))
        if path not in generated and free and _make_parents(out, path):
            os.rename(source, target)
            continue
        rescued = sidecar / RESCUED
        if os.path.islink(rescued) or not os.path.isdir(rescued):
            _remove(rescued)  # a planted symlink or file there is removed, never followed
        keep = rescued / path
        if not _make_parents(rescued, path):
            keep = rescued / path.replace("/", "%2F")  # something not a directory in the way: flat
        _unlink(keep)
        os.rename(source, keep)
        warnings.append(f"{out / path} was saved while kaito-compile replaced {out}, and kaito-compile generates "
                        f"that file: the saved version is kept at {keep}")
    return warnings


def _make_parents(root: Path, path: str) -> bool:
    """Create the directories above ``root/path`` (and ``root``); False when a non-directory is in the way."""
    parent = root
    for part in ["", *path.split("/")[:-1]]:
        parent = parent / part if part else parent
        if os.path.islink(parent) or (os.path.lexists(parent) and not os.path.isdir(parent)):
            return False
        if not os.path.lexists(parent):
            os.mkdir(parent)
    return True


@contextmanager
def _writer_lock(path: Path, out: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``; the kernel releases it when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        deadline, said = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WriterBusy(
                        f"another kaito-compile (pid {_holder(fd)}) is writing {out}; gave up after {timeout:g} s"
                    ) from None
                if not said:  # as apt and cargo do: a build that seems to hang says what it waits for
                    print(f"kaito-compile: waiting for another kaito-compile (pid {_holder(fd)}) to finish writing "
                          f"{out} (at most {timeout:g} s)", file=sys.stderr, flush=True)
                    said = True
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """The pid the writer holding the lock wrote into the lock file."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"


def _recover(out: Path, sidecar: Path) -> None:
    """Finish or roll back what a killed writer left behind; ``out`` is whole afterwards."""
    previous = sidecar / "previous"
    if previous.exists() and not os.path.lexists(out):
        os.rename(previous, out)  # died between the two renames of the fallback swap: roll back
    _remove(previous)
    _remove(sidecar / "staging")  # an unfinished new tree, or the old tree after a completed exchange


def _plan(tree: Mapping[str, bytes], out: Path, known: _Known) -> _Plan:
    """What to create, update, delete and carry; the unchanged files read on the way are recorded in ``known``."""
    state = scan(out)
    lock, warning = read_lock(out, tree=(tree, known.tree_lock))
    left = leftovers(tree, out, state, lock)
    stats = lstat_all(out, state.entries)
    check_conflicts(tree, out, state, lock, set(left.deletable), stats)
    created, updated, unchanged, warnings = [], [], [], [warning] if warning else []
    listed = lock.files if lock else {}
    for path, data in tree.items():
        if path not in state.entries:
            created.append(path)
        elif known.holds(path, stats[path]):
            unchanged.append(path)
        elif (read := _same_bytes_with_stat(f"{out}/{path}", data)) is not None:
            unchanged.append(path)
            known.record(path, read)
        else:
            updated.append(path)
            if path in listed and sha256_digest(Path(out, path).read_bytes()) != listed[path]:
                warnings.append(f"{out / path} was edited by hand since kaito-compile wrote it; it is generated, "
                                "so it was replaced by the generated version (keep changes in the specs)")
    carried = sorted(state.entries - set(left.deletable) - set(created) - set(updated))
    dirs = _parents_of([*carried, *tree]) | _with_parents(state.empty_dirs)
    result = WriteResult(
        created=sorted(created),
        updated=sorted(updated),
        deleted=left.deletable,
        unchanged=sorted(unchanged),
        kept=left.kept,
        removed_dirs=sorted(state.dirs - dirs),
        warnings=warnings,
    )
    signatures = {path: _signature_of(info) for path, info in stats.items()}
    return _Plan(result=result, carried=carried, dirs=sorted(dirs, key=lambda d: (d.count("/"), d)),
                 signatures=signatures)


class _Known:
    """What a :class:`~.statcache.StatCache` knows of ``out/`` (nothing without one), and the file system time
    (:meth:`~.statcache.StatCache.now`) taken before this write read anything in it; ``tree_lock``: the verified
    lock of the tree being written."""

    def __init__(self, cache: StatCache | None, tree: Mapping[str, bytes], tree_lock: Lock):
        self.cache, self.tree_lock = cache, tree_lock
        self.digests = tree_digests(tree, tree_lock.files) if cache is not None else {}
        self.horizon = cache.now() if cache is not None else None

    def holds(self, path: str, info: os.stat_result) -> bool:
        """Whether ``path`` with ``info`` is known to hold the tree's bytes."""
        return self.cache is not None and self.cache.known(path, info) == self.digests[path]

    def record(self, path: str, info: os.stat_result) -> None:
        """``path`` with ``info`` was read and holds the tree's bytes."""
        if self.cache is not None:
            self.cache.record(path, info, self.digests[path], self.horizon)

    def save_after_write(self, out: Path, written: Collection[str], horizon: int | None) -> None:
        """After the swap: record the files this write wrote (known since ``horizon``, taken before the swap made
        them visible in ``out``). The records of the other files stay: each holds only for the exact stat it
        names, and a file changed since, or given a hard link for the new tree, has another ctime (it is read
        again next time)."""
        if self.cache is None:
            return
        for path in written:
            try:
                info = os.lstat(f"{out}/{path}")
            except FileNotFoundError:
                continue
            self.cache.record(path, info, self.digests[path], horizon)
        self.save()

    def save(self) -> None:
        if self.cache is not None:
            self.cache.keep_only(self.digests)
            self.cache.save()


def check_conflicts(
    tree: Mapping[str, bytes], out: Path, state: DiskState, lock: Lock | None, deleting: set[str],
    stats: Mapping[str, os.stat_result],
) -> None:
    """Refuse a tree that would overwrite or shadow what kaito-compile did not generate (``check`` applies the
    same rules, so it fails where ``build`` would). ``stats``: the ``lstat`` of every tree path in ``out``."""
    listed = lock.files if lock else {}
    remaining = state.entries - deleting
    clear_dirs: set[str] = set()  # directories whose path holds no file that stays: checked once, not per file
    for path in tree:
        if path in state.dirs:
            raise OwnershipConflict(f"{out / path} is a directory, but kaito-compile generates a file there")
        directory = path.rpartition("/")[0]
        if directory not in clear_dirs:
            blocking = sorted(parent for parent in _parents(path) if parent in remaining)
            if blocking:
                raise OwnershipConflict(f"{out / blocking[0]} is not a directory, but kaito-compile needs a "
                                        "directory there")
            clear_dirs.add(directory)
        if path not in state.entries:
            continue
        if not stat.S_ISREG(stats[path].st_mode):
            raise OwnershipConflict(f"{out / path} is not a regular file, but kaito-compile generates a file there")
        # With a lock, only the files it lists are ours to overwrite; without one (deleted, damaged) the header is
        # the only sign of a generated file.
        ours = path in listed or (lock is None and carries_header(out / path))
        if path != LOCK_FILE and not ours and not _same_bytes(out / path, tree[path]):
            raise OwnershipConflict(
                f"{out / path} was not generated by kaito-compile (not in {LOCK_FILE}"
                f"{'' if lock else ', no provenance header'}); move it away or delete it, then write again"
            )


def _same_bytes(path: Path | str, data: bytes) -> bool:
    return _same_bytes_with_stat(path, data) is not None


def _same_bytes_with_stat(path: Path | str, data: bytes) -> os.stat_result | None:
    """The ``fstat`` of the regular file ``path`` (taken before reading it) when it holds ``data``; else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if os.path.islink(path):
            return None
        raise error
    with open(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return None
        return info if handle.read(len(data) + 1) == data else None


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:depth]) for depth in range(1, len(parts))]


def _parents_of(paths: list[str]) -> set[str]:
    parents = set()
    for directory in {path.rpartition("/")[0] for path in paths} - {""}:  # a directory holds many files
        parents.add(directory)
        parents.update(_parents(directory))
    return parents


def _with_parents(dirs: set[str]) -> set[str]:
    return set(dirs) | _parents_of(list(dirs))


def _build(tree: Mapping[str, bytes], out: Path, plan: _Plan, staging: Path) -> None:
    """Lay out the complete new tree in ``staging``: fresh files written, everything else hard-linked."""
    staging.mkdir()
    _copy_mode(out, staging)
    for directory in plan.dirs:  # string paths: thousands of them
        os.mkdir(f"{staging}/{directory}")
        _copy_mode(f"{out}/{directory}", f"{staging}/{directory}")
    for path in plan.carried:
        _link(f"{out}/{path}", f"{staging}/{path}")
    for path in [*plan.result.created, *plan.result.updated]:
        with open(f"{staging}/{path}", "xb") as handle:
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
    import ctypes

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
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        os.unlink(path)  # a planted symlink or file where kaito-compile keeps a directory: never followed
    elif os.path.lexists(path):
        shutil.rmtree(path)


def _pause(point: str) -> None:
    """Test hook: with ``KAITO_COMPILE_TEST_PAUSE=<point>`` the writer parks here until a line arrives on stdin,
    so a test can SIGKILL it at that point or let it go on."""
    if os.environ.get(PAUSE_ENV) == point:
        print(f"kaito-compile: paused at {point}", file=sys.stderr, flush=True)
        sys.stdin.readline()
