"""Every path the project config names is confined, a regular file, size-limited and never quoted (issue #13,
items 3 and 10).

``catalogs:`` and ConfigMap ``files`` are read from inside the config's own directory only, never through a
symlink out of it, never from a FIFO, device or /proc, never past a size limit, and a diagnostic about one of them
names it without a byte of its content. ConfigMaps follow Kubernetes' rules (keys, string values, 1 MiB). Each
case runs ``kaito-compile validate`` in a subprocess with a wall-clock bound, so a hang fails instead of stalling.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .cli import cli_env, run_cli

REPO = Path(__file__).resolve().parents[2]
CANARY = "TOP-SECRET-CANARY-91c2"
WORKSPACE = """apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: phi-3, namespace: default}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {apps: phi-3}}
inference:
  preset: {name: phi-3-mini-4k-instruct}
  config: phi-config
"""


def project(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "workspace.yaml").write_text(WORKSPACE)
    (root / "kaito-compile.yaml").write_text(config)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"token: {CANARY}\n")
    return root


def validate(tmp_path: Path, root: Path):
    return run_cli(["validate", "workspace.yaml"], cwd=root, logs=tmp_path / "logs", env=cli_env())


def config_map_file(name: str) -> str:
    return ("configMaps:\n  - name: phi-config\n    data: {inference_config.yaml: 'vllm: {}'}\n"
            f"    files: {{extra: {name}}}\n")


PLANTS = {
    "fifo": lambda root, tmp: os.mkfifo(root / "target"),
    "symlink-out-of-the-tree": lambda root, tmp: (root / "target").symlink_to(tmp / "outside" / "secret.yaml"),
    "symlink-to-proc": lambda root, tmp: (root / "target").symlink_to("/proc/self/environ"),
    "symlink-to-dev-zero": lambda root, tmp: (root / "target").symlink_to("/dev/zero"),
    "directory": lambda root, tmp: (root / "target").mkdir(),
    "too-large": lambda root, tmp: (root / "target").write_bytes(b"a" * (8 * 1024 * 1024 + 1)),
    "not-utf8": lambda root, tmp: (root / "target").write_bytes(f"{CANARY}\xff\xfe".encode("latin-1")),
}
WHY = {"fifo": "not a regular file (a FIFO)", "symlink-out-of-the-tree": "leads outside the config's directory",
       "symlink-to-proc": "leads outside the config's directory",
       "symlink-to-dev-zero": "leads outside the config's directory", "directory": "not a regular file",
       "too-large": "the limit is", "not-utf8": "is not UTF-8 text"}


@pytest.mark.parametrize("plant", sorted(PLANTS))
@pytest.mark.parametrize("kind", ["configmap-file", "catalog"])
def test_a_file_the_config_names_is_used_only_when_it_is_a_regular_file_inside_the_project(
        tmp_path: Path, kind: str, plant: str):
    target = "target.yaml" if kind == "catalog" else "target"
    config = f"catalogs: [{target}]\n" if kind == "catalog" else config_map_file(target)
    root = project(tmp_path, config)
    PLANTS[plant](root, tmp_path)
    if target != "target":
        (root / "target").rename(root / target)
    result = validate(tmp_path, root)
    assert result.exit_code == 1, result.output
    assert "[KC-S005]" in result.stdout and WHY[plant] in result.stdout, result.output
    assert CANARY not in result.output and "Traceback" not in result.output and "KC-E999" not in result.output
    assert result.wall_s < 60


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside/secret.yaml", "/proc/self/environ",
                                  "../../../../../../../../etc/passwd"])
def test_catalogs_outside_the_project_are_refused_before_they_are_read(tmp_path: Path, path: str):
    root = project(tmp_path, f"catalogs: ['{path}']\n")
    result = validate(tmp_path, root)
    assert result.exit_code == 1 and "[KC-S005]" in result.stdout, result.output
    assert CANARY not in result.output and "root:x:0:0" not in result.output


def test_a_catalog_that_is_not_a_catalog_is_named_not_quoted(tmp_path: Path):
    root = project(tmp_path, "catalogs: [notes.yaml]\n")
    (root / "notes.yaml").write_text(f"just a line with {CANARY}\n")
    result = validate(tmp_path, root)
    assert result.exit_code == 1 and "notes.yaml" in result.stdout and "[KC-C002]" in result.stdout, result.output
    assert CANARY not in result.output


def test_a_config_map_over_one_mebibyte_is_refused(tmp_path: Path):
    root = project(tmp_path, "configMaps:\n  - name: phi-config\n    data: {inference_config.yaml: 'vllm: {}'}\n"
                             "    files: {a: a.txt, b: b.txt}\n")
    (root / "a.txt").write_text("a" * 600_000)
    (root / "b.txt").write_text("b" * 600_000)
    result = validate(tmp_path, root)
    assert result.exit_code == 1 and "[KC-S006]" in result.stdout and "at most 1048576" in result.stdout, \
        result.output


@pytest.mark.parametrize(("data", "code"), [
    ("{inference_config.yaml: 'vllm: {}', 'a/b': x}", "KC-S006"),
    ("{inference_config.yaml: 'vllm: {}', 2: x}", "KC-S006"),
    ("{inference_config.yaml: 'vllm: {}', 'k\\u00e9y': x}", "KC-S006"),
    ("{inference_config.yaml: 'vllm: {}', \"key\\n\": x}", "KC-S006"),
    ("{inference_config.yaml: !!binary dmxsbTogW10=}", "KC-S003"),
    ("{inference_config.yaml: !!python/object:os.system x}", "KC-S003"),
    ("{inference_config.yaml: 'vllm: {}', when: 2024-01-01}", "KC-S003"),
    ("{inference_config.yaml: 'vllm: {}', n: [1]}", "KC-S003"),
])
def test_config_map_data_kubernetes_would_refuse_is_a_diagnostic(tmp_path: Path, data: str, code: str):
    root = project(tmp_path, f"configMaps:\n  - name: phi-config\n    data: {data}\n")
    result = validate(tmp_path, root)
    assert result.exit_code == 1 and f"[{code}]" in result.stdout, result.output
    assert "KC-E999" not in result.output and "Traceback" not in result.output
