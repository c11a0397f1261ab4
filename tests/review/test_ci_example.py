"""The GitHub Actions example runs as written: its kaito-compile steps are executed in a fleet repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kaito_compile.source import discover
from tests.review.gitrepo import git, make_fleet_repo

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "examples" / "ci" / "kaito-compile.yml.example"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def steps(workflow) -> dict[str, dict]:
    return {step["name"]: step for step in workflow["jobs"]["review"]["steps"] if "name" in step}


def _run_step(step: dict, workflow: dict, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """A step's ``run`` script under bash, with the workflow's env, GitHub expressions replaced by ``env``."""
    variables = {**workflow["env"], **{k: v for k, v in step.get("env", {}).items() if "${{" not in v}, **env}
    environment = {**os.environ, **variables, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
                   "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300)


def test_the_example_is_not_read_as_a_spec():
    assert str(WORKFLOW) not in discover([str(REPO / "examples")])


def test_diff_comment_and_check_steps_run(workflow, steps, tmp_path):
    repo = make_fleet_repo(tmp_path / "repo")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD~1")  # what actions/checkout fetches
    diff = _run_step(steps["Semantic diff against the base branch"], workflow, repo, SPECS="specs", BASE_REF="main")
    assert diff.returncode == 0, diff.stderr
    comment_file = re.search(r"> (\S+)", steps["Semantic diff against the base branch"]["run"])[1]
    assert comment_file in steps["Post the diff on the pull request"]["run"]
    body = (repo / comment_file).read_text()
    assert body.startswith("### kaito-compile diff: `origin/main` → `working tree`")
    assert "+2 nodes, +16 NVIDIA A100 GPUs" in body

    check = steps["The committed out/ is what the specs compile to"]
    assert _run_step(check, workflow, repo, SPECS="specs").returncode == 1  # no out/ yet
    subprocess.run([BIN / "kaito-compile", "build", "specs", "-o", workflow["env"]["OUT"]], cwd=repo, check=True,
                   capture_output=True, env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
    fresh = _run_step(check, workflow, repo, SPECS="specs")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
