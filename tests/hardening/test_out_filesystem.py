"""out/ on a full disk, a read-only file system, a mount point, or beside a refused -o target (issue #13, item 7).

The real cases run the CLI on a small tmpfs mounted for the test (root only; the fault-injection tests in
tests/output/test_write_safety.py cover the same errors at the system-call level everywhere). Each asserts a
KC-E010 tool error with exit 2 naming the path and the OS reason, out/ byte for byte as it was, no staging left
in the sidecar, and nothing written beside a target that was refused.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kaito_compile.output import sidecar_dir

from .cli import cli_env, run_cli, tree_bytes

REPO = Path(__file__).resolve().parents[2]


def build(tmp_path: Path, out: Path, specs: str = "examples/seeds", logs: str = "build"):
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "keys"))
    return run_cli(["build", specs, "-o", str(out)], cwd=REPO, logs=tmp_path / "logs" / logs, env=env)


@pytest.fixture
def tmpfs(tmp_path: Path):
    """A 2 MiB tmpfs at tmp_path/mnt, unmounted afterwards."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); test_write_safety.py injects "
                    "the same errors at the system-call level")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def assert_tool_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("kaito-compile: error: ") and line.endswith("[KC-E010]"), result.output
    for needle in needles:
        assert needle in line, result.output
    assert "Traceback" not in result.output


def assert_no_staging(out: Path) -> None:
    sidecar = sidecar_dir(out)
    left = sorted(p.name for p in sidecar.iterdir()) if sidecar.is_dir() else []
    assert not {"staging", "previous", "spare"} & set(left), left


def fill(mount: Path, leave: int) -> None:
    """Fill the file system at ``mount`` until about ``leave`` bytes are free."""
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    with open(mount / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def test_a_full_disk_is_a_tool_error_that_leaves_out_as_it_was(tmp_path: Path, tmpfs: Path):
    out = tmpfs / "out"
    assert build(tmp_path, out, specs="examples/seeds/kaito_workspace_phi_3.yaml", logs="small").exit_code == 0
    before = tree_bytes(out)
    fill(tmpfs, leave=4096)
    result = build(tmp_path, out, logs="full")
    assert_tool_error(result, str(out), "No space left on device")
    assert tree_bytes(out) == before
    assert_no_staging(out)


def test_a_read_only_file_system_is_a_tool_error_that_leaves_out_as_it_was(tmp_path: Path, tmpfs: Path):
    out = tmpfs / "out"
    assert build(tmp_path, out, specs="examples/seeds/kaito_workspace_phi_3.yaml", logs="first").exit_code == 0
    before = tree_bytes(out)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = build(tmp_path, out, logs="read-only")
    assert_tool_error(result, str(out), "Read-only file system")
    assert tree_bytes(out) == before
    assert_no_staging(out)


def test_a_read_only_file_system_without_out_writes_nothing(tmp_path: Path, tmpfs: Path):
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    result = build(tmp_path, tmpfs / "out")
    assert_tool_error(result, str(tmpfs / "out"), "Read-only file system")
    assert list(tmpfs.iterdir()) == []


def test_out_as_a_mount_point_is_refused_and_nothing_is_written_beside_it(tmp_path: Path, tmpfs: Path):
    (tmp_path / "logs").mkdir()
    before = sorted(p.name for p in tmpfs.parent.iterdir())
    result = build(tmp_path, tmpfs)
    assert_tool_error(result, str(tmpfs), "is a mount point")
    assert sorted(p.name for p in tmpfs.parent.iterdir()) == before  # no sidecar beside the mount point
    assert list(tmpfs.iterdir()) == []


@pytest.mark.parametrize("target", ["a-file", "a-symlink-to-a-file", "dev-null"])
def test_a_refused_output_target_gets_nothing_written_beside_it(tmp_path: Path, target: str):
    place = tmp_path / "place"
    place.mkdir()
    (place / "a-file").write_text("mine\n")
    (place / "a-symlink-to-a-file").symlink_to("a-file")
    out = Path("/dev/null") if target == "dev-null" else place / target
    before = tree_bytes(place)
    result = build(tmp_path, out)
    assert_tool_error(result, "is not a directory")
    assert tree_bytes(place) == before
    assert not sidecar_dir(Path("/dev/null")).exists()


def test_files_saved_into_out_while_a_real_build_runs_are_never_lost(tmp_path: Path):
    """The build is parked after staging the new tree (KAITO_COMPILE_TEST_PAUSE=staged); meanwhile a user saves
    a new file, a file in a new directory, and an edit of a generated file. After the build: the first two are in
    out/ at their paths; the edit, saved over a file the build generates, is in the sidecar's rescued/ and a
    warning names both paths."""
    import time

    from .cli import start_cli, wait_cli

    out = tmp_path / "out"
    assert build(tmp_path, out, specs="examples/seeds/kaito_workspace_phi_3.yaml", logs="first").exit_code == 0
    deployment = next(out.glob("*/*/deployment-*.yaml"))
    logs, started = tmp_path / "logs" / "paused", time.monotonic()
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "keys"), KAITO_COMPILE_TEST_PAUSE="staged")
    process = start_cli(["build", "examples/seeds", "-o", str(out)], cwd=REPO, logs=logs, env=env,
                        stdin=subprocess.PIPE)
    while "paused at staged" not in (logs / "stderr").read_text(errors="replace"):
        assert process.poll() is None and time.monotonic() - started < 120, (logs / "stderr").read_text()
        time.sleep(0.05)
    (out / "NOTES.md").write_text("saved during the build\n")
    (out / "mine").mkdir()
    (out / "mine" / "patch.yaml").write_text("kind: mine\n")
    edited = deployment.with_name(".deployment.swp")
    edited.write_text("# my edit, saved during the build\n")
    edited.rename(deployment)  # saved the way editors save: a new file renamed over the generated one
    process.stdin.write(b"\n")
    process.stdin.close()
    result = wait_cli(process, [], logs, started=started)
    assert result.exit_code == 0, result.output
    assert (out / "NOTES.md").read_text() == "saved during the build\n"
    assert (out / "mine" / "patch.yaml").read_text() == "kind: mine\n"
    rescued = sidecar_dir(out) / "rescued" / deployment.relative_to(out)
    assert rescued.read_text() == "# my edit, saved during the build\n"
    assert f"warning: {deployment} was saved while kaito-compile replaced" in result.stderr
    assert str(rescued) in result.stderr
    assert deployment.read_text().startswith("# Code generated by kaito-compile")
