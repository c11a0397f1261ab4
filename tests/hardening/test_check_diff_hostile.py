"""check and diff over hostile trees (issue #13, items 2 and 15).

``check`` follows ``build``'s rules with ``build``'s diagnostics: a symlink, FIFO or device where a file is
generated, or a symlink where a directory is needed, is the same KC-E010 tool error (exit 2) from both, and neither
reads it. The diff ``check`` prints shows only bytes kaito-compile wrote. ``diff OLD NEW`` refuses a manifest that
is not a regular file with exit 2 and a diagnostic, never hangs on a FIFO, never reads a device or /proc, never
follows a link out of the tree, and never prints a line of a file it cannot parse. Every run has a wall-clock bound
(tests/hardening/cli.py), so a hang fails the test instead of stalling it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .cli import cli_env, copy_tree, run_cli, tree_bytes

REPO = Path(__file__).resolve().parents[2]
SPECS = "examples/seeds"
CANARY = "TOP-SECRET-CANARY-7f3a"
DEPLOYMENT = "default/workspace-phi-3-mini/deployment-workspace-phi-3-mini.yaml"


def kaito(tmp_path: Path, *args: str, logs: str):
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "keys"), KAITO_COMPILE_NO_CACHE="1")
    return run_cli(list(args), cwd=REPO, logs=tmp_path / "logs" / logs, env=env)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("built")
    result = kaito(tmp, "build", SPECS, "-o", str(tmp / "out"), logs="build")
    assert result.exit_code == 0, result.output
    assert (tmp / "out" / DEPLOYMENT).is_file()
    return tmp / "out"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.yaml"
    path.write_text(f"kind: Secret\nmetadata: {{name: {CANARY}}}\ndata: {{token: {CANARY}}}\n")
    return path


def plant(out: Path, how: str, secret: Path) -> None:
    target = out / DEPLOYMENT
    if how == "symlink-to-a-secret":
        target.unlink()
        target.symlink_to(secret)
    elif how == "fifo":
        target.unlink()
        os.mkfifo(target)
    elif how == "symlink-to-dev-zero":
        target.unlink()
        target.symlink_to("/dev/zero")
    elif how == "symlink-to-proc":
        target.unlink()
        target.symlink_to("/proc/self/environ")
    elif how == "directory-symlinked-out-of-the-tree":
        elsewhere = secret.parent / "elsewhere"
        shutil.copytree(target.parent, elsewhere)
        (elsewhere / target.name).write_text(secret.read_text())
        shutil.rmtree(target.parent)
        target.parent.symlink_to(elsewhere)
    elif how == "lock-is-a-fifo":
        (out / ".kaito-compile-lock.json").unlink()
        os.mkfifo(out / ".kaito-compile-lock.json")
    elif how == "lock-links-to-a-secret":
        (out / ".kaito-compile-lock.json").unlink()
        (out / ".kaito-compile-lock.json").symlink_to(secret)
    else:
        raise AssertionError(how)


REFUSED = ["symlink-to-a-secret", "fifo", "symlink-to-dev-zero", "symlink-to-proc",
           "directory-symlinked-out-of-the-tree"]


@pytest.mark.parametrize("how", REFUSED)
def test_check_refuses_what_build_refuses_with_the_same_diagnostic(tmp_path: Path, built: Path, secret: Path,
                                                                   how: str):
    out = copy_tree(built, tmp_path / "out")
    plant(out, how, secret)
    before = tree_bytes(out) if how != "fifo" else None
    checked = kaito(tmp_path, "check", SPECS, "-o", str(out), logs="check")
    built_again = kaito(tmp_path, "build", SPECS, "-o", str(out), logs="build")
    for result in (checked, built_again):
        assert result.exit_code == 2, result.output
        assert result.stderr.strip().endswith("[KC-E010]") and "Traceback" not in result.output
        assert CANARY not in result.output
    assert checked.stderr == built_again.stderr
    if before is not None:
        assert tree_bytes(out) == before
    assert secret.read_text().count(CANARY) == 2


@pytest.mark.parametrize("how", ["lock-is-a-fifo", "lock-links-to-a-secret"])
def test_check_never_reads_a_planted_lock(tmp_path: Path, built: Path, secret: Path, how: str):
    out = copy_tree(built, tmp_path / "out")
    plant(out, how, secret)
    result = kaito(tmp_path, "check", SPECS, "-o", str(out), logs="check")
    assert result.exit_code == 2 and result.stderr.strip().endswith("[KC-E010]"), result.output  # as build would
    assert "not a regular file" in result.stderr and CANARY not in result.output and "Traceback" not in result.output


def test_check_prints_no_byte_of_a_file_it_did_not_write(tmp_path: Path, built: Path, secret: Path):
    """A generated file replaced by a hard link to another file, and a listed orphan rewritten: both named, their
    content withheld. A hand edit below the provenance header is still shown as a diff."""
    out = copy_tree(built, tmp_path / "out")
    (out / DEPLOYMENT).unlink()
    os.link(secret, out / DEPLOYMENT)
    kustomization = out / "default/workspace-phi-3-mini/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "# a hand edit\n")
    result = kaito(tmp_path, "check", "examples/seeds/kaito_workspace_phi_3.yaml", "examples/seeds/"
                   "kaito_workspace_tuning_phi_3.yaml", "-o", str(out), logs="check")
    assert result.exit_code == 1, result.output
    assert CANARY not in result.output
    assert f"Only the name of {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out.name}" \
           f"/{DEPLOYMENT}" in result.stdout or f"{DEPLOYMENT}: its content was not written" in result.stdout
    assert "-# a hand edit" in result.stdout  # kaito-compile's own file, edited: diffed
    assert "orphaned" in result.stdout  # the adapters workspace the check left out


@pytest.fixture
def trees(tmp_path: Path, built: Path) -> tuple[Path, Path]:
    return copy_tree(built, tmp_path / "old"), copy_tree(built, tmp_path / "new")


@pytest.mark.parametrize("how", ["symlink-to-a-secret", "fifo", "symlink-to-dev-zero", "symlink-to-proc"])
def test_diff_refuses_a_manifest_that_is_not_a_regular_file(tmp_path: Path, trees, secret: Path, how: str):
    old, new = trees
    plant(new, how, secret)
    result = kaito(tmp_path, "diff", str(old), str(new), logs="diff")
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("kaito-compile: error: ") and "not a regular file" in line and line.endswith("[KC-E002]")
    assert DEPLOYMENT in line and CANARY not in result.output
    assert result.wall_s < 60


def test_diff_never_enters_a_directory_symlinked_out_of_the_tree(tmp_path: Path, trees, secret: Path):
    old, new = trees
    plant(new, "directory-symlinked-out-of-the-tree", secret)
    result = kaito(tmp_path, "diff", str(old), str(new), "--output-format", "json", logs="diff")
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output  # the workspace shows as removed; what the link points at is never read


def test_diff_names_an_unparsable_manifest_without_printing_it(tmp_path: Path, trees):
    old, new = trees
    (new / DEPLOYMENT).write_text(f"password: [{CANARY}\n")
    result = kaito(tmp_path, "diff", str(old), str(new), logs="diff")
    assert result.exit_code == 2 and "not YAML" in result.stderr and CANARY not in result.output
