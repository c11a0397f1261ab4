"""write_tree against real directories: ownership, pruning, conflicts, atomic swap, crashes and concurrency."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kaito_compile.output import (
    LOCK_FILE,
    InvalidTree,
    OutputError,
    OwnershipConflict,
    WriterBusy,
    sidecar_dir,
    write_tree,
)
from kaito_compile.output import write as write_module
from tests.output.helpers import falcon, files_of, phi3, render, snapshot

PHI3_DEPLOYMENT = "default/phi-3/deployment-phi-3.yaml"


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "out"


def test_a_first_write_creates_exactly_the_tree(out: Path):
    tree = render(phi3(), falcon())
    result = write_tree(tree, out)
    assert files_of(out) == tree
    assert result.created == sorted(tree) and not (result.updated or result.deleted or result.unchanged)
    assert sorted(p.name for p in sidecar_dir(out).iterdir()) == [".gitignore", "writer.lock"]


def test_an_identical_write_touches_nothing(out: Path):
    tree = render(phi3())
    write_tree(tree, out)
    before = {path: (out / path).stat().st_ino for path in tree}
    out_inode = out.stat().st_ino
    result = write_tree(tree, out)
    assert not result.changed and result.unchanged == sorted(tree)
    assert out.stat().st_ino == out_inode
    assert {path: (out / path).stat().st_ino for path in tree} == before


def test_an_update_rewrites_changed_files_and_hard_links_the_rest(out: Path):
    write_tree(render(phi3()), out)
    kept_inode = (out / "default/phi-3/service-phi-3.yaml").stat().st_ino
    tree = render(phi3(image_tag="0.0.9"))
    result = write_tree(tree, out)
    assert result.updated == sorted([LOCK_FILE, PHI3_DEPLOYMENT])
    assert files_of(out) == tree
    assert (out / "default/phi-3/service-phi-3.yaml").stat().st_ino == kept_inode


def test_a_removed_workspace_is_deleted_with_the_directories_it_emptied(out: Path):
    write_tree(render(phi3(), falcon()), out)
    result = write_tree(render(phi3()), out)
    assert result.deleted == [
        "team-a/falcon-7b/deployment-falcon-7b.yaml",
        "team-a/falcon-7b/kustomization.yaml",
        "team-a/falcon-7b/service-falcon-7b.yaml",
    ]
    assert result.removed_dirs == ["team-a", "team-a/falcon-7b"]
    assert not (out / "team-a").exists()
    assert files_of(out) == render(phi3())


def test_user_files_links_and_empty_directories_survive_every_write(out: Path):
    write_tree(render(phi3(), falcon()), out)
    (out / "README.md").write_text("hand-written\n")
    (out / "team-a" / "falcon-7b" / "NOTES.txt").write_text("mine\n")
    (out / "keep" / "empty").mkdir(parents=True)
    (out / "latest").symlink_to("default/phi-3")
    user = {key: value for key, value in snapshot(out).items() if key.startswith(("README", "keep", "latest"))}
    result = write_tree(render(phi3(image_tag="0.0.9")), out)
    assert "team-a/falcon-7b/NOTES.txt" not in result.deleted
    assert (out / "team-a" / "falcon-7b" / "NOTES.txt").read_text() == "mine\n"
    assert set(os.listdir(out / "team-a" / "falcon-7b")) == {"NOTES.txt"}
    assert {key: value for key, value in snapshot(out).items() if key in user} == user


def test_without_a_lock_nothing_is_deleted_and_generated_leftovers_are_reported(out: Path):
    write_tree(render(phi3(), falcon()), out)
    (out / LOCK_FILE).unlink()
    result = write_tree(render(phi3()), out)
    assert result.deleted == []
    assert result.kept == [
        "team-a/falcon-7b/deployment-falcon-7b.yaml",
        "team-a/falcon-7b/kustomization.yaml",
        "team-a/falcon-7b/service-falcon-7b.yaml",
    ]
    assert (out / "team-a/falcon-7b/service-falcon-7b.yaml").exists()


@pytest.mark.parametrize(
    "lock_text",
    ["{not json", json.dumps({"format": 1, "tool_version": "0", "files": {"../victim.txt": "sha256:" + "0" * 64}})],
    ids=["garbage", "path-escaping-out"],
)
def test_a_corrupt_lock_deletes_nothing_and_warns(out: Path, lock_text: str):
    write_tree(render(phi3(), falcon()), out)
    victim = out.parent / "victim.txt"
    victim.write_text("outside\n")
    (out / LOCK_FILE).write_text(lock_text)
    result = write_tree(render(phi3()), out)
    assert result.deleted == [] and victim.read_text() == "outside\n"
    assert len(result.warnings) == 1 and "no previously generated file will be deleted" in result.warnings[0]
    assert (out / "team-a/falcon-7b/kustomization.yaml").exists()


def test_a_listed_file_edited_by_hand_is_kept_even_when_it_still_carries_the_header(out: Path):
    """Only the bytes the lock lists license a deletion: a hand edit below the provenance header is kept too."""
    write_tree(render(phi3(), falcon()), out)
    (out / "team-a/falcon-7b/service-falcon-7b.yaml").write_text("my own service now\n")
    with (out / "team-a/falcon-7b/deployment-falcon-7b.yaml").open("a") as handle:
        handle.write("# tweaked\n")
    result = write_tree(render(phi3()), out)
    assert result.kept == ["team-a/falcon-7b/deployment-falcon-7b.yaml", "team-a/falcon-7b/service-falcon-7b.yaml"]
    assert result.deleted == ["team-a/falcon-7b/kustomization.yaml"]
    assert (out / "team-a/falcon-7b/service-falcon-7b.yaml").read_text() == "my own service now\n"
    assert (out / "team-a/falcon-7b/deployment-falcon-7b.yaml").read_text().endswith("# tweaked\n")


@pytest.mark.parametrize("case", ["user-file-at-generated-path", "file-where-a-directory-is-needed", "directory-at-generated-path"])
def test_conflicts_with_user_content_fail_before_anything_changes(out: Path, case: str):
    out.mkdir()
    if case == "user-file-at-generated-path":
        (out / "default" / "phi-3").mkdir(parents=True)
        (out / PHI3_DEPLOYMENT).write_text("kind: Deployment  # hand-written\n")
    elif case == "file-where-a-directory-is-needed":
        (out / "default").write_text("a file\n")
    else:
        (out / PHI3_DEPLOYMENT).mkdir(parents=True)
    before = snapshot(out)
    with pytest.raises(OwnershipConflict):
        write_tree(render(phi3()), out)
    assert snapshot(out) == before
    assert not (sidecar_dir(out) / "staging").exists()


@pytest.mark.parametrize("damage", ["no-lock", "lock-mismatch", "unsafe-path"])
def test_a_malformed_tree_is_refused_before_out_is_touched(out: Path, damage: str):
    write_tree(render(phi3()), out)
    before = snapshot(out)
    tree = render(falcon())
    if damage == "no-lock":
        del tree[LOCK_FILE]
    elif damage == "lock-mismatch":
        tree["team-a/extra.yaml"] = b"kind: Extra\n"
    else:
        tree = {"../escape.yaml": b"x", **tree}
    with pytest.raises(InvalidTree):
        write_tree(tree, out)
    assert snapshot(out) == before


def test_the_fallback_swap_gives_the_same_result(out: Path, monkeypatch: pytest.MonkeyPatch):
    write_tree(render(phi3(), falcon()), out)
    monkeypatch.setattr(write_module, "_exchange", lambda first, second: False)
    result = write_tree(render(phi3(image_tag="0.0.9")), out)
    assert files_of(out) == render(phi3(image_tag="0.0.9"))
    assert result.removed_dirs == ["team-a", "team-a/falcon-7b"]
    assert sorted(p.name for p in sidecar_dir(out).iterdir()) == [".gitignore", "writer.lock"]


def test_a_symlinked_out_dir_is_written_through(tmp_path: Path, out: Path):
    real = tmp_path / "rendered"
    out.symlink_to(real, target_is_directory=True)
    write_tree(render(phi3()), out)
    assert out.is_symlink() and files_of(real) == render(phi3())


def test_an_out_dir_holding_the_working_directory_is_refused(out: Path, monkeypatch: pytest.MonkeyPatch):
    (out / "sub").mkdir(parents=True)
    monkeypatch.chdir(out / "sub")
    with pytest.raises(OutputError, match="contains the working directory"):
        write_tree(render(phi3()), out)


# --- separate processes: SIGKILL at marked points, and concurrent writers --------------------------------

WRITER_SCRIPT = """
import json, sys
from pathlib import Path
from kaito_compile.output import write
tree = {path: text.encode() for path, text in json.loads(Path(sys.argv[1]).read_text()).items()}
if sys.argv[3] == "fallback":
    write._exchange = lambda first, second: False
write.write_tree(tree, Path(sys.argv[2]))
"""


def spawn_writer(tmp_path: Path, tree: dict[str, bytes], out: Path, *, pause: str = "", fallback: bool = False):
    tree_file = tmp_path / f"tree-{time.monotonic_ns()}.json"
    tree_file.write_text(json.dumps({path: data.decode() for path, data in tree.items()}))
    env = {**os.environ, write_module.PAUSE_ENV: pause}
    command = [sys.executable, "-c", WRITER_SCRIPT, str(tree_file), str(out), "fallback" if fallback else "exchange"]
    return subprocess.Popen(
        command, cwd=tmp_path, env=env, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_until_paused(process: subprocess.Popen, point: str, timeout: float = 20.0) -> None:
    ready, _, _ = select.select([process.stderr], [], [], timeout)
    line = process.stderr.readline() if ready else ""
    assert line.strip() == f"kaito-compile: paused at {point}", f"writer did not pause at {point}: {line!r}"


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    finish(process)


def finish(process: subprocess.Popen) -> int:
    """Release a paused writer (a line on stdin) and wait for it; returns its exit code."""
    if process.poll() is None:
        process.communicate("\n", timeout=60)
    else:
        process.communicate()
    return process.returncode


@pytest.mark.parametrize(
    ("point", "fallback", "out_right_after_kill"),
    [
        ("locked", False, "old"),
        ("staged", False, "old"),
        ("swapped", False, "new"),
        ("staged", True, "old"),
        ("moved-aside", True, "absent"),
    ],
    ids=["locked", "staged", "swapped", "fallback-staged", "fallback-moved-aside"],
)
def test_a_writer_killed_at_any_point_leaves_out_whole_or_recoverable(
    tmp_path: Path, out: Path, point: str, fallback: bool, out_right_after_kill: str
):
    old, new = render(phi3(), falcon()), render(phi3(image_tag="0.0.9"))
    write_tree(old, out)
    (out / "README.md").write_text("hand-written\n")
    writer = spawn_writer(tmp_path, new, out, pause=point, fallback=fallback)
    wait_until_paused(writer, point)
    kill(writer)

    expected = {"old": old, "new": new}.get(out_right_after_kill)
    if expected is None:
        assert not out.exists()  # the crash window of the fallback swap: the next run restores the old tree
    else:
        assert files_of(out) == {**expected, "README.md": b"hand-written\n"}

    recovery = write_tree(old, out)  # the next run first repairs, then writes
    assert files_of(out) == {**old, "README.md": b"hand-written\n"}
    assert recovery.changed == (out_right_after_kill == "new")
    assert sorted(p.name for p in sidecar_dir(out).iterdir()) == [".gitignore", "writer.lock"]


def test_a_second_writer_waits_for_the_lock_and_gives_up_cleanly(tmp_path: Path, out: Path, capsys):
    write_tree(render(phi3()), out)
    holder = spawn_writer(tmp_path, render(falcon()), out, pause="locked")
    try:
        wait_until_paused(holder, "locked")
        with pytest.raises(WriterBusy, match=f"pid {holder.pid}"):
            write_tree(render(phi3(), falcon()), out, lock_timeout=0.3)
        said = capsys.readouterr().err
        assert said.count(f"waiting for another kaito-compile (pid {holder.pid}) to finish writing") == 1, said
        assert files_of(out) == render(phi3())
    finally:
        kill(holder)
    assert write_tree(render(phi3(), falcon()), out).created  # the kernel dropped the dead holder's lock


def test_concurrent_writers_wait_for_each_other(tmp_path: Path, out: Path):
    first, second, third = render(phi3()), render(falcon()), render(phi3(image_tag="0.0.9"), falcon())
    holder = spawn_writer(tmp_path, first, out, pause="staged")
    wait_until_paused(holder, "staged")
    waiters = [spawn_writer(tmp_path, tree, out) for tree in (second, third)]
    time.sleep(0.5)
    assert not out.exists() and all(waiter.poll() is None for waiter in waiters)
    assert [finish(process) for process in (holder, *waiters)] == [0, 0, 0]
    assert files_of(out) in (second, third)
    assert sorted(p.name for p in sidecar_dir(out).iterdir()) == [".gitignore", "writer.lock"]


def test_renameat2_exchange_swaps_two_directories(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "from-a").touch()
    (tmp_path / "b").mkdir()
    if not write_module._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not supported here; writes use the two-rename fallback")
    assert os.listdir(tmp_path / "b") == ["from-a"] and os.listdir(tmp_path / "a") == []
