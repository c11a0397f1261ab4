"""The stat cache of out/ (kaito_compile/output/statcache.py): check and build do not read a file whose lstat is the
one recorded with the tree's bytes, and still see every change: an edit that restores the mtime, a symlink or FIFO
put in a file's place, a record file that was tampered with."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kaito_compile.output import OwnershipConflict, check_tree, sidecar_dir, write, write_tree
from kaito_compile.output import check as check_module
from kaito_compile.output.ownership import sha256_digest
from kaito_compile.output.statcache import STAT_FILE, StatCache
from tests.output.helpers import falcon, phi3, render

KEY = b"k" * 32
DEPLOYMENT = "default/phi-3/deployment-phi-3.yaml"


def stats(key: bytes = KEY) -> StatCache:
    return StatCache(sidecar_dir(Path("out").resolve()), key)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files of out/ that check and build read from now on."""
    read: list[str] = []
    check_read, write_read = check_module.read_regular_with_stat, write._same_bytes_with_stat

    def reading_check(path, **kwargs):
        read.append(Path(path).relative_to("out").as_posix())
        return check_read(path, **kwargs)

    def reading_write(path, data):
        read.append(Path(path).relative_to(Path("out").resolve()).as_posix())
        return write_read(path, data)

    monkeypatch.setattr(check_module, "read_regular_with_stat", reading_check)
    monkeypatch.setattr(write, "_same_bytes_with_stat", reading_write)
    return read


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """out/ written with a stat cache. The writer lingers before its swap as long as a clock tick could last, so
    the files it wrote are older than the time it records them against, whatever the file system's granularity."""
    monkeypatch.chdir(tmp_path)
    pause = write._pause
    monkeypatch.setattr(write, "_pause", lambda point: time.sleep(0.05) if point == "staged" else pause(point))
    write_tree(render(phi3(), falcon()), Path("out"), stat_cache=stats())
    return Path("out")


def test_check_after_build_reads_no_file_and_still_answers(out: Path, reads: list[str]):
    result = check_tree(render(phi3(), falcon()), out, stat_cache=stats())
    assert result.ok and reads == []
    changed = check_tree(render(phi3(image_tag="0.0.9"), falcon()), out, stat_cache=stats())
    assert changed.stale == [".kaito-compile-lock.json", DEPLOYMENT]  # recorded bytes are not the tree's: read


def test_an_unchanged_build_reads_no_file(out: Path, reads: list[str]):
    result = write_tree(render(phi3(), falcon()), out, stat_cache=stats())
    assert not result.changed and reads == []


def test_an_edit_that_restores_the_mtime_is_still_seen(out: Path):
    target = out / DEPLOYMENT
    before = os.lstat(target)
    data = target.read_bytes()
    edited = data.replace(b"replicas: 1", b"replicas: 7")
    assert len(edited) == len(data) and edited != data
    target.write_bytes(edited)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (os.lstat(target).st_size, os.lstat(target).st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    assert check_tree(render(phi3(), falcon()), out, stat_cache=stats()).stale == [DEPLOYMENT]
    result = write_tree(render(phi3(), falcon()), out, stat_cache=stats())
    assert result.updated == [DEPLOYMENT] and "edited by hand" in result.warnings[0]
    assert target.read_bytes() == data


@pytest.mark.parametrize("replacement", ["symlink", "fifo"])
def test_a_symlink_or_fifo_in_place_of_a_recorded_file_is_refused(out: Path, replacement: str):
    target = out / DEPLOYMENT
    copy = out.parent / "copy.yaml"
    copy.write_bytes(target.read_bytes())
    target.unlink()
    if replacement == "symlink":
        target.symlink_to(copy.resolve())
    else:
        os.mkfifo(target)
    with pytest.raises(OwnershipConflict, match="not a regular file"):
        check_tree(render(phi3(), falcon()), out, stat_cache=stats())
    with pytest.raises(OwnershipConflict, match="not a regular file"):
        write_tree(render(phi3(), falcon()), out, stat_cache=stats())


@pytest.mark.parametrize("damage", ["flipped byte", "another key", "not ours to trust"])
def test_a_damaged_or_foreign_record_file_is_ignored(out: Path, reads: list[str], damage: str):
    record_file = sidecar_dir(out.resolve()) / STAT_FILE
    data = bytearray(record_file.read_bytes())
    if damage == "flipped byte":
        data[-10] ^= 1
        record_file.write_bytes(bytes(data))
    elif damage == "another key":
        forged = StatCache(record_file.parent, b"x" * 32)
        forged.record(DEPLOYMENT, os.lstat(out / DEPLOYMENT), sha256_digest(b"forged"), time.time_ns() + 10**12)
        forged.save()
    else:
        record_file.chmod(0o666)  # writable by others: anyone could have written it
    (out / DEPLOYMENT).write_bytes((out / DEPLOYMENT).read_bytes().replace(b"replicas: 1", b"replicas: 2"))
    result = check_tree(render(phi3(), falcon()), out, stat_cache=stats())
    assert result.stale == [DEPLOYMENT]
    assert len(reads) == len(render(phi3(), falcon()))  # nothing taken from the records


def test_the_clock_is_the_file_systems(tmp_path: Path):
    """A file changed after ``now()`` has a ctime at or after it: what a record's horizon relies on."""
    cache = StatCache(tmp_path, KEY)
    horizon = cache.now()
    changed = tmp_path / "changed"
    changed.write_bytes(b"x")
    assert horizon is not None and os.lstat(changed).st_ctime_ns >= horizon


def test_a_file_changed_at_or_after_the_horizon_is_not_recorded(tmp_path: Path):
    cache = StatCache(tmp_path, KEY)
    older = tmp_path / "older"
    older.write_bytes(b"a")
    time.sleep(0.05)
    horizon = cache.now()
    newer = tmp_path / "newer"
    newer.write_bytes(b"b")
    cache.record("older", os.lstat(older), sha256_digest(b"a"), horizon)
    cache.record("newer", os.lstat(newer), sha256_digest(b"b"), horizon)
    assert cache.known("older", os.lstat(older)) == sha256_digest(b"a")
    assert cache.known("newer", os.lstat(newer)) is None
    assert cache.save() and StatCache(tmp_path, KEY).known("older", os.lstat(older)) == sha256_digest(b"a")
