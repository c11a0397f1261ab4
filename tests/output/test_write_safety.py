"""No data lost, durable writes, clear OS errors (issue #13, items 5, 6, 7 at the system-call level).

* A file saved into out/ while a write runs (between planning and the swap) is never lost: it is in out/ at its
  path afterwards, or, where the new tree generates that very path, in the sidecar's rescued/ with a warning.
* Before the swap every written file and every directory of the new tree is fsynced (one syncfs for a large
  write); after it the directory holding out/ is fsynced.
* A failing system call (ENOSPC, EROFS, EIO) anywhere in the write is a WriteFailed naming the path and the reason,
  out/ stays as it was and no staging is left in the sidecar.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from kaito_compile.output import OwnershipConflict, WriteFailed, sidecar_dir, write_tree
from kaito_compile.output import write as write_module
from tests.output.helpers import falcon, files_of, phi3, render, snapshot

DEPLOYMENT = "default/phi-3/deployment-phi-3.yaml"


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "out"


@pytest.fixture(params=["exchange", "fallback"])
def swap(request, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "fallback":
        monkeypatch.setattr(write_module, "_exchange", lambda first, second: False)
    return request.param


def during_write(monkeypatch: pytest.MonkeyPatch, action) -> None:
    """Run ``action`` at the moment the new tree is staged and not yet swapped in (what a user saving into out/
    while a build runs does)."""
    monkeypatch.setattr(write_module, "_pause", lambda point: action() if point == "staged" else None)


@pytest.mark.parametrize("keep_spare", [False, True], ids=["plain", "spare"])
def test_files_saved_into_out_during_a_write_are_all_still_there(
        out: Path, monkeypatch: pytest.MonkeyPatch, swap: str, keep_spare: bool):
    write_tree(render(phi3(), falcon()), out, keep_spare=keep_spare)
    (out / "notes.md").write_text("old notes\n")
    write_tree(render(phi3(), falcon()), out, keep_spare=keep_spare)  # notes.md is now a carried user file

    def save() -> None:
        (out / "new-dir").mkdir()
        (out / "new-dir" / "todo.txt").write_text("saved during the build\n")
        (out / "default" / "phi-3" / "my-patch.yaml").write_text("mine\n")
        replacement = out / "notes.tmp"
        replacement.write_text("new notes\n")
        replacement.rename(out / "notes.md")  # how editors save: a new file renamed over the old one

    during_write(monkeypatch, save)
    result = write_tree(render(phi3(image_tag="0.0.9")), out, keep_spare=keep_spare)
    assert (out / "new-dir" / "todo.txt").read_text() == "saved during the build\n"
    assert (out / "default" / "phi-3" / "my-patch.yaml").read_text() == "mine\n"
    assert (out / "notes.md").read_text() == "new notes\n"
    assert result.warnings == []
    assert b"0.0.9" in (out / DEPLOYMENT).read_bytes()


def test_a_generated_file_overwritten_during_a_write_is_kept_in_the_sidecar_with_a_warning(
        out: Path, monkeypatch: pytest.MonkeyPatch, swap: str):
    write_tree(render(phi3()), out)
    during_write(monkeypatch, lambda: (out / DEPLOYMENT).write_text("my edit, saved during the build\n"))
    result = write_tree(render(phi3(image_tag="0.0.9")), out)
    rescued = sidecar_dir(out) / "rescued" / DEPLOYMENT
    assert rescued.read_text() == "my edit, saved during the build\n"
    assert b"0.0.9" in (out / DEPLOYMENT).read_bytes()
    assert len(result.warnings) == 1 and str(out / DEPLOYMENT) in result.warnings[0] \
        and str(rescued) in result.warnings[0]


def test_a_generated_file_edited_by_hand_and_regenerated_is_replaced_with_a_warning(out: Path):
    write_tree(render(phi3()), out)
    (out / DEPLOYMENT).write_text((out / DEPLOYMENT).read_text() + "# tweak\n")
    result = write_tree(render(phi3(image_tag="0.0.9")), out)
    assert len(result.warnings) == 1 and f"{out / DEPLOYMENT} was edited by hand" in result.warnings[0]


def test_every_written_file_and_directory_is_fsynced_before_the_swap(out: Path, monkeypatch: pytest.MonkeyPatch):
    events: list[tuple[str, str]] = []
    real_fsync, real_swap = os.fsync, write_module._swap

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def swap(staging: Path, target: Path, previous: Path) -> None:
        events.append(("swap", str(staging)))
        real_swap(staging, target, previous)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(write_module, "_swap", swap)
    monkeypatch.setattr(write_module, "FSYNC_EACH_MAX", 1000)
    monkeypatch.setattr(write_module, "_syncfs", lambda path: pytest.fail("a small write fsyncs each file"))
    tree = render(phi3(), falcon())
    write_tree(tree, out)
    swapped = events.index(("swap", str(sidecar_dir(out) / "staging")))
    before = {path for kind, path in events[:swapped]}
    staging = sidecar_dir(out) / "staging"
    assert {str(staging / path) for path in tree} <= before
    directories = {str(staging / path).rsplit("/", 1)[0] for path in tree}
    assert directories | {str(staging)} <= before
    assert ("fsync", str(out.parent)) in events[swapped:]  # the rename itself is made durable


def test_a_large_write_makes_the_staging_file_system_durable_with_one_syncfs(
        out: Path, monkeypatch: pytest.MonkeyPatch):
    events: list[str] = []
    real_syncfs, real_swap = write_module._syncfs, write_module._swap
    monkeypatch.setattr(write_module, "FSYNC_EACH_MAX", 2)
    monkeypatch.setattr(write_module, "_syncfs", lambda path: events.append(f"syncfs {path}") or real_syncfs(path))
    monkeypatch.setattr(write_module, "_swap", lambda *args: events.append("swap") or real_swap(*args))
    write_tree(render(phi3(), falcon()), out)
    assert events == [f"syncfs {sidecar_dir(out) / 'staging'}", "swap"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO])
@pytest.mark.parametrize("failing", ["write", "mkdir", "link", "fsync", "rename"])
@pytest.mark.parametrize("keep_spare", [False, True], ids=["plain", "spare"])
def test_a_failing_system_call_is_a_clear_error_and_changes_nothing(
        out: Path, monkeypatch: pytest.MonkeyPatch, code: int, failing: str, keep_spare: bool):
    write_tree(render(phi3(), falcon()), out, keep_spare=keep_spare)
    write_tree(render(phi3(image_tag="0.0.7"), falcon()), out, keep_spare=keep_spare)  # a spare exists now
    (out / "mine").mkdir()
    (out / "mine" / "notes.txt").write_text("a user's file: the next write needs a directory and a link for it\n")
    before = snapshot(out)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(args[0]) if args else None)

    if failing == "write":
        real_open = open

        def failing_open(file, mode="r", *args, **kwargs):
            if "x" in mode:
                fail(file)
            return real_open(file, mode, *args, **kwargs)

        monkeypatch.setattr("builtins.open", failing_open)
    else:
        monkeypatch.setattr(os, failing, fail)
        if failing == "mkdir":
            monkeypatch.setattr(Path, "mkdir", lambda self, *a, **k: fail(self))
        if failing == "rename":  # the swap: renameat2(RENAME_EXCHANGE), or the two renames of the fallback
            monkeypatch.setattr(write_module, "_exchange", fail)
    with pytest.raises(WriteFailed) as raised:
        write_tree(render(phi3(image_tag="0.0.9")), out, keep_spare=keep_spare)
    monkeypatch.undo()
    message = str(raised.value)
    assert str(out) in message and os.strerror(code) in message
    assert snapshot(out) == before
    assert not {"staging", "previous", "spare"} & {p.name for p in sidecar_dir(out).iterdir()}
    write_tree(render(phi3(image_tag="0.0.9")), out, keep_spare=keep_spare)  # and the next write works
    assert files_of(out) == {**render(phi3(image_tag="0.0.9")), "mine/notes.txt": (out / "mine/notes.txt").read_bytes()}


def test_a_symlink_planted_as_the_writer_lock_is_never_followed(out: Path, tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    sidecar_dir(out).mkdir(parents=True)
    (sidecar_dir(out) / "writer.lock").symlink_to(victim)
    with pytest.raises(WriteFailed, match="writer.lock"):
        write_tree(render(phi3()), out)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("planted", ["sidecar", "staging", "rescued"])
def test_symlinks_planted_in_the_sidecar_are_never_followed(out: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, planted: str):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("precious\n")
    write_tree(render(phi3()), out)
    sidecar = sidecar_dir(out)
    if planted == "sidecar":
        for entry in sidecar.iterdir():
            entry.unlink()
        sidecar.rmdir()
        sidecar.symlink_to(elsewhere)
        with pytest.raises(OwnershipConflict, match="is not a directory"):
            write_tree(render(phi3(image_tag="0.0.9")), out)
    else:
        (sidecar / planted).symlink_to(elsewhere)
        during_write(monkeypatch, lambda: (out / DEPLOYMENT).write_text("saved during the build\n"))
        write_tree(render(phi3(image_tag="0.0.9")), out)
        assert b"0.0.9" in (out / DEPLOYMENT).read_bytes()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["precious.txt"]
    assert (elsewhere / "precious.txt").read_text() == "precious\n"


def test_with_a_lock_a_file_carrying_the_header_but_not_listed_is_not_overwritten(out: Path):
    """Only the lock licenses overwriting: a copied or forged provenance header at a path the next tree generates
    is the user's file."""
    write_tree(render(phi3()), out)
    stranger = out / "team-a/falcon-7b/deployment-falcon-7b.yaml"
    stranger.parent.mkdir(parents=True)
    stranger.write_text("# Code generated by kaito-compile 0.1.0. DO NOT EDIT.\nmy own notes\n")
    with pytest.raises(OwnershipConflict, match="not in .kaito-compile-lock.json"):
        write_tree(render(phi3(), falcon()), out)
    assert stranger.read_text().endswith("my own notes\n")
