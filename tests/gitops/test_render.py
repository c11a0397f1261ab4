"""`kaito-compile render`: the same bytes per object as `out/`, in sync-wave order, diagnostics on stderr only."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml
from click.testing import CliRunner

from kaito_compile.cli import cli
from kaito_compile.gitops.sync import SYNC_WAVE_ANNOTATION
from kaito_compile.output import KUSTOMIZATION_FILE, LOCK_FILE

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out"
SEPARATOR = re.compile(rb"^---\n", re.MULTILINE)
# What Argo CD's repo-server sets for a plugin's generate command (its build environment), see docs/gitops.md.
ARGOCD_ENV = {"ARGOCD_APP_NAME": "kaito", "ARGOCD_APP_NAMESPACE": "default", "ARGOCD_APP_PROJECT_NAME": "default",
              "ARGOCD_APP_REVISION": "0" * 40, "ARGOCD_APP_REVISION_SHORT": "0000000",
              "ARGOCD_APP_SOURCE_PATH": "examples", "ARGOCD_APP_SOURCE_REPO_URL": "https://github.com/acme/fleet.git",
              "ARGOCD_APP_SOURCE_TARGET_REVISION": "main", "KUBE_VERSION": "1.33.0", "KUBE_API_VERSIONS": "v1",
              # What an Application's author controls reaches the plugin's environment; render reads none of it.
              "ARGOCD_ENV_KAITO_COMPILE_CONFIG": "$(touch pwned)", "PARAM_PATHS": "/etc",
              "ARGOCD_APP_PARAMETERS": '[{"name": "paths", "string": "/etc"}]'}


def _render(*args: str) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, ["render", *args], catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


def _documents(stream: bytes) -> list[bytes]:
    """The stream's documents, each with the bytes it had before the ``---`` separators were put between them."""
    return SEPARATOR.split(stream)


def _object_files(out: Path) -> dict[str, bytes]:
    return {path.relative_to(out).as_posix(): path.read_bytes() for path in sorted(out.rglob("*.yaml"))
            if path.name != KUSTOMIZATION_FILE}


def _wave(document: bytes) -> int:
    return int(yaml.safe_load(document)["metadata"]["annotations"][SYNC_WAVE_ANNOTATION])


@pytest.fixture(scope="module")
def rendered() -> bytes:
    patch = pytest.MonkeyPatch()
    patch.chdir(REPO)
    try:
        code, stdout, stderr = _render("examples")
    finally:
        patch.undo()
    assert code == 0, stderr
    return stdout


def test_every_document_is_byte_for_byte_an_object_file_of_out(rendered):
    documents = _documents(rendered)
    files = _object_files(OUT)
    assert sorted(documents) == sorted(files.values())
    assert len(documents) == len(files) > 40


def test_documents_come_in_sync_wave_order_then_by_path(rendered):
    by_bytes = {data: path for path, data in _object_files(OUT).items()}
    order = [(_wave(document), by_bytes[document]) for document in _documents(rendered)]
    assert order == sorted(order)
    assert [wave for wave, _ in order][0] == 0 and [wave for wave, _ in order][-1] == 3
    assert {PurePosixPath(path).name.split("-")[0] for wave, path in order if wave == 0} <= {"nodeclaim", "nodepool",
                                                                                           "machine"}


def test_the_stream_parses_as_the_objects_of_out(rendered):
    objects = [doc for doc in yaml.safe_load_all(rendered)]
    expected = [yaml.safe_load(data) for data in _object_files(OUT).values()]
    assert sorted(map(repr, objects)) == sorted(map(repr, expected))
    assert not any(obj["kind"] == "Kustomization" for obj in objects)


def test_render_equals_build_in_a_plugin_like_run(tmp_path):
    """As Argo CD runs a plugin: in the Application's directory, with its build environment, `render .`; then
    `build . -o out` in the same directory writes exactly those objects."""
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples", app)
    env = {**os.environ, **ARGOCD_ENV, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    command = [sys.executable, "-m", "kaito_compile.cli"]
    rendered = subprocess.run([*command, "render", "."], cwd=app, env=env, capture_output=True, timeout=300)
    assert rendered.returncode == 0, rendered.stderr.decode()
    assert not (app / "out").exists() and not list(app.glob(".*kaito-compile*")), "render wrote something"
    built = subprocess.run([*command, "build", ".", "-o", "out"], cwd=app, env=env, capture_output=True, timeout=300)
    assert built.returncode == 0, built.stderr.decode()
    assert sorted(_documents(rendered.stdout)) == sorted(_object_files(app / "out").values())
    assert not list(tmp_path.rglob("pwned"))


def test_invalid_spec_exits_1_with_diagnostics_on_stderr_and_nothing_on_stdout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = (REPO / "examples/seeds/kaito_workspace_phi_3.yaml").read_text()
    Path("bad.yaml").write_text(spec.replace("instanceType:", "instanceTypo:", 1))
    code, stdout, stderr = _render("bad.yaml")
    assert code == 1
    assert stdout == b""
    assert re.search(r"^bad\.yaml:\d+:\d+: error: .*\[KC-S001\]", stderr, re.MULTILINE), stderr


def test_missing_path_is_a_tool_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = _render("nowhere")
    assert (code, stdout) == (2, b"")
    assert "nowhere: no such file or directory [KC-E002]" in stderr


def test_no_workspace_is_refused_rather_than_an_empty_stream(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, stdout, stderr = _render(".")
    assert (code, stdout) == (2, b"")
    assert "refusing to print an empty stream" in stderr and "[KC-E010]" in stderr


def test_render_ignores_and_keeps_an_existing_out_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "examples/seeds", "specs")
    Path("out").mkdir()
    Path("out/keep.txt").write_text("mine")
    code, stdout, stderr = _render("specs")
    assert code == 0, stderr
    assert sorted(p.name for p in Path(".").iterdir()) == ["out", "specs"]
    assert [p.name for p in Path("out").iterdir()] == ["keep.txt"]
    assert LOCK_FILE.encode() not in stdout
