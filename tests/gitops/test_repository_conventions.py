"""The pre-commit hook this repository offers, run as pre-commit runs it, and the .gitattributes for out/."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.review.gitrepo import BASE_FILES

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def hook() -> dict:
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    return hooks["kaito-compile-check"]


def _run_hook(hook: dict, project: Path) -> subprocess.CompletedProcess:
    """``entry`` + ``args`` with no file names (``pass_filenames: false``), in the project, on the venv's PATH."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run([*shlex.split(hook["entry"]), *hook.get("args", [])], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def test_hook_definition(hook):
    assert hook["entry"].split()[:2] == ["kaito-compile", "check"]
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    for path in ("specs/chat.yaml", "kaito-compile.yaml", "out/team-a/workspace-chat/kustomization.yaml",
                 "out/.kaito-compile-lock.json", "specs/chat.yml"):
        assert re.search(hook["files"], path), path
    assert not re.search(hook["files"], "README.md")


def test_hook_fails_on_a_stale_tree_and_passes_on_a_fresh_one(hook, tmp_path):
    project = tmp_path / "project"
    for path, text in BASE_FILES.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    (project / ".git").mkdir()  # the project root, where config discovery stops
    missing = _run_hook(hook, project)
    assert missing.returncode == 1, missing.stdout + missing.stderr

    subprocess.run([BIN / "kaito-compile", "build", "specs", "-o", "out"], cwd=project, check=True,
                   capture_output=True, env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    fresh = _run_hook(hook, project)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "out/ is up to date (2 workspaces)" in fresh.stdout

    chat = project / "specs" / "chat.yaml"
    chat.write_text(chat.read_text().replace("count: 1", "count: 2"))
    stale = _run_hook(hook, project)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    verdict = r"out/ is stale: \d+ changed, 1 missing, 0 orphaned file\(s\)\. Run: kaito-compile build \. -o out"
    assert re.search(verdict, stale.stdout), stale.stdout[-500:]


def test_out_is_marked_generated_for_github():
    paths = ["out/.kaito-compile-lock.json", "out/vllm/workspace-phi-4-mini/kustomization.yaml", "examples/vllm"]
    result = subprocess.run(["git", "check-attr", "linguist-generated", "--", *paths], cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == [
        "out/.kaito-compile-lock.json: linguist-generated: true",
        "out/vllm/workspace-phi-4-mini/kustomization.yaml: linguist-generated: true",
        "examples/vllm: linguist-generated: unspecified",
    ]
