"""``build`` and ``check`` validate every object they would write against the strict schemas: a spec that
compiles into an object the API server would refuse is a KC-S020 diagnostic at the spec's line, exit 1, and
nothing is written, cached build or not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kaito_compile.cli import cli

TEMPLATE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-custom-llm
  namespace: custom
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector:
    matchLabels:
      apps: custom-llm
inference:
  template:
    spec:
      containers:
        - name: custom-llm
          image: ghcr.io/example/custom-llm-server:1.4.2
          args: ["--port", "5000"]
          ports:
            - containerPort: 5000
"""
NON_STRING_ARG = TEMPLATE.replace('"5000"]', "5000]")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".git").mkdir()  # config lookup stops here
    (tmp_path / "kaito-compile.yaml").write_text("cloud: azure\nprovisioner: gpu-provisioner\n")
    return tmp_path


def run(*args: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(cli, ["--format", "json", *args])
    return result.exit_code, json.loads(result.stdout)["diagnostics"] if result.stdout.strip() else []


@pytest.mark.parametrize("command", ["build", "check"])
def test_a_non_string_container_arg_is_refused_at_its_line(project: Path, command: str):
    (project / "ws.yaml").write_text(NON_STRING_ARG)
    for _ in range(2):  # the second run has a build cache
        code, diagnostics = run(command, "ws.yaml", "-o", "out")
        assert code == 1
        assert [(d["code"], d["line"], d["column"]) for d in diagnostics] == [("KC-S020", 17, 28)]
        assert "spec.template.spec.containers[0].args[1]" in diagnostics[0]["message"]
        assert not (project / "out").exists()


def test_a_rejected_workspace_leaves_a_built_tree_untouched(project: Path):
    (project / "ws.yaml").write_text(TEMPLATE)
    assert run("build", "ws.yaml", "-o", "out")[0] == 0
    before = {path: path.read_bytes() for path in sorted((project / "out").rglob("*")) if path.is_file()}
    (project / "ws.yaml").write_text(NON_STRING_ARG)
    code, diagnostics = run("build", "ws.yaml", "-o", "out")
    assert (code, [d["code"] for d in diagnostics]) == (1, ["KC-S020"])
    after = {path: path.read_bytes() for path in sorted((project / "out").rglob("*")) if path.is_file()}
    assert after == before
    assert run("check", "ws.yaml", "-o", "out")[0] == 1


def test_the_compiler_needs_neither_kubernetes_validate_nor_shared(project: Path, monkeypatch: pytest.MonkeyPatch):
    """The schemas are the committed generated file inside the project."""
    import sys

    from kaito_compile.output import validate

    root = Path(validate.__file__).resolve().parents[2]
    assert validate.SCHEMA_FILE.resolve().parent == root / "schemas"
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)  # importing it now fails
    validate._schemas.cache_clear()
    monkeypatch.setattr(validate, "_VALIDATORS", {})
    (project / "ws.yaml").write_text(NON_STRING_ARG)
    assert [d["code"] for d in run("build", "ws.yaml", "-o", "out")[1]] == ["KC-S020"]
