"""The GitHub Actions example's delivery steps run as written: the plugin-style render check on pull requests,
and the publish job pushing the compiled tree to a real registry (docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.gitops.test_push import LocalRegistry, needs_registry
from tests.review.gitrepo import make_fleet_repo
from tests.review.test_ci_example import WORKFLOW, _run_step


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps(workflow: dict, job: str) -> dict[str, dict]:
    return {step["name"]: step for step in workflow["jobs"][job]["steps"] if "name" in step}


def test_review_runs_on_pull_requests_and_publish_on_pushes_to_main(workflow):
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push"} and triggers["push"]["branches"] == ["main"]
    assert workflow["jobs"]["review"]["if"] == "github.event_name == 'pull_request'"
    assert workflow["jobs"]["publish"]["if"] == "github.event_name == 'push'"
    assert workflow["jobs"]["publish"]["permissions"]["packages"] == "write"
    check, render = (_steps(workflow, "review")[name]["if"] for name in (
        "The committed out/ is what the specs compile to", "The specs render, as Argo CD's plugin will render them"))
    assert (check, render) == ("always() && env.OUT != ''", "always() && env.OUT == ''")


def test_the_plugin_style_render_check_passes_and_fails_with_the_specs(workflow, tmp_path):
    repo = make_fleet_repo(tmp_path / "repo")
    step = _steps(workflow, "review")["The specs render, as Argo CD's plugin will render them"]
    ok = _run_step(step, workflow, repo, SPECS="specs", OUT="")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "" and not (repo / "out").exists()
    spec = next((repo / "specs").rglob("*.yaml"))
    spec.write_text(spec.read_text().replace("instanceType:", "instanceTypo:", 1))
    broken = _run_step(step, workflow, repo, SPECS="specs", OUT="")
    assert broken.returncode == 1
    assert f"::error file=specs/{spec.relative_to(repo / 'specs').as_posix()}" in broken.stderr


@needs_registry
def test_the_publish_job_pushes_one_artifact_under_the_commit_and_main_tags(workflow, tmp_path):
    repo = make_fleet_repo(tmp_path / "repo")
    steps = _steps(workflow, "publish")
    (tmp_path / "registry-data").mkdir()
    server = LocalRegistry(tmp_path / "registry-data")
    try:
        github = {"RUNNER_TEMP": str(tmp_path / "runner-temp"), "REGISTRY": server.host, "PUSH_FLAGS": "--plain-http",
                  "GITHUB_REPOSITORY": "Acme/Fleet", "GITHUB_SHA": "0123456789abcdef" * 2 + "01234567",
                  "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REF_NAME": "main", "SPECS": "specs",
                  "DOCKER_CONFIG": str(tmp_path / "docker")}
        (tmp_path / "runner-temp").mkdir()
        compiled = _run_step(steps["Compile the specs"], workflow, repo, **github)
        assert compiled.returncode == 0, compiled.stderr
        published = _run_step(steps["Publish the tree for Flux"], workflow, repo, **github)
        assert published.returncode == 0, published.stderr
        digests = re.findall(r"^Pushed \S+:(\w+)@(sha256:[0-9a-f]{64}): ", published.stdout, re.MULTILINE)
        assert [tag for tag, _ in digests] == ["0123456789ab", "main"]
        assert len({digest for _, digest in digests}) == 1  # two tags, one artifact
        manifests = [json.loads(subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false",
             f"docker://{server.host}/acme/fleet/kaito-manifests:{tag}"],
            capture_output=True, check=True, timeout=120).stdout) for tag in ("0123456789ab", "main")]
        assert manifests[0] == manifests[1]
        assert manifests[0]["annotations"] == {"org.opencontainers.image.source": "https://github.com/Acme/Fleet",
                                               "org.opencontainers.image.revision": f"main@sha1:{github['GITHUB_SHA']}"}
    finally:
        server.stop()
