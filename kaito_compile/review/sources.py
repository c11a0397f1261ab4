"""Where the two trees of a diff come from: output directories on disk, or specs compiled at a git revision.

For a revision the whole repository is checked out at that commit into a temporary ``git worktree`` and the
same paths are compiled there, from the same relative working directory, by the *current* compiler. The
project config files, project catalogs and ConfigMap files are therefore the ones of that revision, and the
checkout's ``.git`` file makes config discovery stop at its root as it does in the real checkout. The diff
shows what the spec and config changes do; the effect of upgrading kaito-compile itself is the difference
between the committed ``out/`` trees (``kaito-compile diff OLD_OUT NEW_OUT``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

from ..diagnostics import SpecError, ToolError
from ..files import UnsafeFile, read_regular
from ..gitops.layout import git_env

MANIFEST_SUFFIXES = (".yaml", ".yml")


MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every manifest file under ``directory`` (hidden directories skipped), by relative posix path.

    The rules of ``build``'s spec discovery: symlinked directories are not entered, and a manifest that is not a
    regular file (a symlink, a FIFO, a device, a ``/proc`` file) is a tool error naming it, never read (a FIFO would
    hang the diff, a link to ``/dev/zero`` fill memory, a link out of the tree print what it points to)."""
    if not directory.is_dir():
        raise ToolError(f"{directory}: not a directory", code="KC-E002")
    tree = {}
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.endswith(MANIFEST_SUFFIXES):
                path = Path(root) / name
                tree[path.relative_to(directory).as_posix()] = _read_manifest(path)
    return dict(sorted(tree.items()))


def _read_manifest(path: Path) -> bytes:
    try:
        return read_regular(path, limit=MAX_MANIFEST_BYTES)
    except UnsafeFile as error:
        raise ToolError(f"{error}; diff reads only regular files", code="KC-E002") from None
    except OSError as error:
        raise ToolError(f"{path}: cannot read: {error.strerror}", code="KC-E002") from None


def compile_at_revision(revision: str, paths: list[str], config_path: str | None) -> dict[str, bytes]:
    """The tree ``compile_paths`` gives for ``paths`` in a checkout of ``revision`` (empty where they are absent)."""
    top = _toplevel(Path.cwd())
    commit = _git(top, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}",
                  error=f"--base {revision}: not a commit of the repository at {top}")
    with tempfile.TemporaryDirectory(prefix="kaito-compile-base-") as scratch:
        snapshot = Path(scratch) / "checkout"
        _git(top, "-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach", "--quiet", str(snapshot), commit,
             error=f"--base {revision}: cannot check out {commit[:12]}")
        try:
            return _compile_in_checkout(snapshot, top, revision, paths, config_path)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(snapshot)], cwd=top, env=git_env(),
                           capture_output=True, check=False)


def _compile_in_checkout(snapshot: Path, top: Path, revision: str, paths: list[str],
                         config_path: str | None) -> dict[str, bytes]:
    from ..compiler import Catalogs, compile_paths
    from ..config import ConfigResolver

    workdir = snapshot / Path.cwd().resolve().relative_to(top)
    present = [path for path in (_inside(p, top, snapshot, revision) for p in paths) if (workdir / path).exists()]
    if not workdir.is_dir() or not present:
        return {}
    config = _inside(config_path, top, snapshot, revision) if config_path else None
    if config and not (workdir / config).is_file():
        raise ToolError(f"--config {config_path} does not exist at {revision}", code="KC-E002")
    with contextlib.chdir(workdir):
        report, tree = compile_paths(present, ConfigResolver(config), Catalogs())
    if report.errors:
        raise SpecError(report.errors)
    return tree


def _inside(path: str, top: Path, snapshot: Path, revision: str) -> str:
    """``path`` as the checkout sees it: relative paths stay (the checkout's working directory mirrors ours),
    absolute ones are moved into the checkout; a path leading out of the repository is refused."""
    if path == "-":
        raise ToolError(f"--base {revision}: stdin has no earlier revision; give files or directories",
                        code="KC-E002")
    try:
        relative = Path(os.path.normpath(Path.cwd() / path)).relative_to(top)
    except ValueError:
        raise ToolError(f"{path} is outside the repository {top}", code="KC-E002") from None
    return str(snapshot / relative) if os.path.isabs(path) else path


def _toplevel(directory: Path) -> Path:
    return Path(_git(directory, "rev-parse", "--show-toplevel",
                     error=f"--base needs a git repository, and {directory} is not inside one")).resolve()


def _git(cwd: Path, *args: str, error: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise ToolError("git is not installed", code="KC-E003") from None
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.strip().splitlines()[-1] if exc.stderr.strip() else f"exit code {exc.returncode}"
        raise ToolError(f"{error} ({detail})", code="KC-E003") from None
    return result.stdout.strip()
