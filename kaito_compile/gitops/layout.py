"""Which workspace directories an output tree has, and where that tree sits in its Git repository."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path, PurePosixPath

from ..diagnostics import ToolError
from ..output import KUSTOMIZATION_FILE, LOCK_FILE
from ..output.ownership import read_lock

MAX_NAME = 63  # Flux and Argo CD put these names into label values


def workspace_dirs(out_dir: Path) -> list[str]:
    """``<namespace>/<workspace>`` of every workspace kustomization the ownership lock lists, sorted.

    The lock, not a directory listing, decides: a directory someone added by hand is not synced.
    """
    lock, warning = read_lock(out_dir)
    if lock is None:
        raise ToolError(warning or f"{out_dir}/{LOCK_FILE} is missing: run `kaito-compile build` first",
                        code="KC-E010")
    dirs = sorted(str(PurePosixPath(path).parent) for path in lock.files
                  if PurePosixPath(path).name == KUSTOMIZATION_FILE and path.count("/") == 2)
    if not dirs:
        raise ToolError(f"{out_dir} has no workspace directories", code="KC-E010")
    return dirs


def repo_path(out_dir: Path, given: str | None) -> str:
    """``out_dir`` relative to the root of its Git repository (``given`` wins); ``""`` when it is the root."""
    if given is None:
        try:
            given = subprocess.run(["git", "rev-parse", "--show-prefix"], cwd=out_dir, capture_output=True,
                                   text=True, check=True, env=git_env()).stdout.strip()
        except (subprocess.CalledProcessError, FileNotFoundError):
            raise ToolError(f"{out_dir} is not inside a git repository; give its path there with --repo-path",
                            code="KC-E010") from None
    path = PurePosixPath(given.strip("/") or ".")
    if ".." in path.parts:
        raise ToolError(f"--repo-path must stay inside the repository, got {given}", code="KC-E010")
    return "" if str(path) == "." else str(path)


def git_env() -> dict[str, str]:
    """The environment without the variables git sets inside hooks, which would point git elsewhere."""
    return {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}


def object_name(workspace_dir: str) -> str:
    """``<namespace>-<workspace>``; when longer than 63, 53 characters + ``-`` + 9 hex of its sha256."""
    name = workspace_dir.replace("/", "-")
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:53].rstrip('-.')}-{hashlib.sha256(workspace_dir.encode()).hexdigest()[:9]}"


def unique_names(dirs: list[str]) -> dict[str, str]:
    """Workspace directory → object name, refusing two directories that map to one name (``a-b/c``, ``a/b-c``)."""
    names: dict[str, str] = {}
    for directory in dirs:
        name = object_name(directory)
        if name in names:
            raise ToolError(f"workspaces {names[name]} and {directory} would both be named {name}; "
                            "rename one of them", code="KC-E010")
        names[name] = directory
    return {directory: name for name, directory in names.items()}
