"""The build cache recomputes exactly what a changed input affects, and a cached build equals an uncached one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile import cache as cache_module
from kaito_compile.diagnostics import render_text

from .conftest import MISTRAL, workspace, write_yaml

SPECS = ["repo/transformers/gemma.yaml", "repo/transformers/mistral.yaml", "repo/transformers/phi.yaml",
         "repo/vllm/catalog.yaml", "repo/vllm/llama.yaml", "repo/vllm/mistral.yaml", "repo/vllm/phi.yaml"]
WORKSPACES = ["t/gemma", "t/mistral", "t/phi", "team/llama", "team/mistral", "team/phi"]


def report_lines(compiled) -> list[str]:
    return [render_text(d) for d in compiled.report.sorted()] + [compiled.report.summary()]


def test_cached_and_uncached_builds_are_byte_identical_and_a_warm_one_recomputes_nothing(compile_repo):
    uncached = compile_repo(cache=False)
    cold = compile_repo()
    warm = compile_repo()
    assert uncached.tree and not uncached.report.errors
    assert warm.tree == cold.tree == uncached.tree
    assert uncached.report.diagnostics, "the repository should produce warnings for the replay to be checked"
    assert report_lines(warm) == report_lines(cold) == report_lines(uncached)
    assert (cold.parsed, cold.emitted) == (SPECS, WORKSPACES)
    assert (warm.parsed, warm.emitted) == ([], [])


def test_editing_a_spec_recomputes_that_workspace_only(compile_repo, repo: Path):
    before = compile_repo()
    spec = repo / "vllm" / "phi.yaml"
    write_yaml(spec, workspace("phi", "phi-3-mini-4k-instruct", labels={"apps": "phi", "tier": "gold"}))
    edited = compile_repo()
    assert (edited.parsed, edited.emitted) == (["repo/vllm/phi.yaml"], ["team/phi"])
    changed = sorted(path for path in edited.tree if edited.tree[path] != before.tree.get(path))
    assert changed and all(path.startswith(("team/phi/", ".kaito-compile-lock")) for path in changed)
    assert edited.tree == compile_repo(cache=False).tree


def test_a_comment_in_a_spec_rereads_the_file_but_emits_nothing(compile_repo, repo: Path):
    before = compile_repo()
    spec = repo / "transformers" / "gemma.yaml"
    spec.write_text(spec.read_text() + "# reviewed\n")
    after = compile_repo()
    assert (after.parsed, after.emitted) == (["repo/transformers/gemma.yaml"], [])
    assert after.tree == before.tree


def test_changing_a_catalog_entry_rerenders_only_the_workspaces_that_use_it(compile_repo, repo: Path):
    before = compile_repo()
    write_yaml(repo / "vllm" / "catalog.yaml",
               {"models": [{**MISTRAL, "vllm": {**MISTRAL["vllm"], "toolCallParser": "hermes"}}]})
    after = compile_repo()
    # every file governed by that catalog is validated again (rules may look anywhere in a catalog; the catalog is
    # a YAML file under the compiled path too, noted as not a Workspace) ...
    assert after.parsed == [spec for spec in SPECS if "/vllm/" in spec]
    # ... but only the workspace whose plan holds the entry is emitted again (not the built-in Mistral of t/)
    assert after.emitted == ["team/mistral"]
    assert after.tree["team/mistral/statefulset-mistral.yaml"] != before.tree["team/mistral/statefulset-mistral.yaml"]
    assert after.tree == compile_repo(cache=False).tree


def test_changing_a_project_config_rerenders_the_workspaces_it_governs(compile_repo, repo: Path):
    compile_repo()
    config = repo / "transformers" / "kaito-compile.yaml"
    write_yaml(config, {**yaml.safe_load(config.read_text()), "images": {"tag": "0.2.0"}})
    after = compile_repo()
    assert after.parsed == [spec for spec in SPECS if "/transformers/" in spec]
    assert after.emitted == ["t/gemma", "t/mistral", "t/phi"]
    assert after.tree == compile_repo(cache=False).tree


def test_a_new_tool_version_recomputes_everything(compile_repo, monkeypatch: pytest.MonkeyPatch):
    before = compile_repo()
    monkeypatch.setattr(cache_module, "__version__", "99.0.0")
    cache_module.tool_fingerprint.cache_clear()
    try:
        after = compile_repo()
    finally:
        cache_module.tool_fingerprint.cache_clear()
    assert (after.parsed, after.emitted) == (SPECS, WORKSPACES)
    assert after.tree == before.tree  # the file headers name kaito_compile.__version__, untouched here


def test_the_tool_fingerprint_covers_the_compilers_code_and_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    files = {path.as_posix() for path in cache_module._fingerprinted_files()}
    for suffix in ("kaito_compile/compiler.py", "kaito_compile/emit/inference.py", "kaito_compile/output/layout.py",
                   "kaito_runtime/tuning/config.py", "presets/models.yaml", "presets/skus.yaml"):
        assert any(path.endswith(suffix) for path in files), suffix
    code = tmp_path / "module.py"
    code.write_text("A = 1\n")
    monkeypatch.setattr(cache_module, "_fingerprinted_files", lambda: [code])
    fingerprints = []
    for text in ("A = 1\n", "A = 2\n"):
        code.write_text(text)
        cache_module.tool_fingerprint.cache_clear()
        fingerprints.append(cache_module.tool_fingerprint())
    cache_module.tool_fingerprint.cache_clear()
    assert fingerprints[0] != fingerprints[1]


def test_a_duplicate_of_a_cached_workspace_in_a_new_file_is_still_reported(compile_repo, repo: Path):
    compile_repo()
    write_yaml(repo / "vllm" / "zz-copy.yaml", workspace("phi", "phi-3-mini-4k-instruct"))
    cached = compile_repo()
    uncached = compile_repo(cache=False)
    assert cached.parsed == ["repo/vllm/zz-copy.yaml"]
    assert [d.code for d in cached.report.errors] == ["KC-R4"]
    assert "first in repo/vllm/phi.yaml:4" in cached.report.errors[0].message
    assert cached.tree == uncached.tree == {}
    assert report_lines(cached) == report_lines(uncached)


def test_a_failed_run_keeps_the_entries_it_did_not_use(compile_repo, repo: Path):
    compile_repo()
    broken = repo / "vllm" / "phi.yaml"
    good = broken.read_text()
    broken.write_text(good.replace("phi-3-mini-4k-instruct", "no-such-model"))
    assert compile_repo().report.errors
    broken.write_text(good)
    warm = compile_repo()
    assert (warm.parsed, warm.emitted) == ([], [])


def test_changing_a_file_a_project_config_names_rereads_the_specs_it_governs(compile_repo, repo: Path):
    """A cached run does not load the configs (it reads which files they name from the cache): a ConfigMap file
    a config names is still part of every key under that config."""
    config_file = repo / "vllm" / "kaito-compile.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["configMaps"] = [{"name": "long-context", "namespace": "team",
                             "files": {"inference_config.yaml": "long-context.txt"}}]
    write_yaml(config_file, config)
    named = repo / "vllm" / "long-context.txt"
    named.write_text("vllm:\n  max-model-len: 4096\n")
    compile_repo()
    assert (compile_repo().parsed, compile_repo().emitted) == ([], [])
    named.write_text("vllm:\n  max-model-len: 2048\n")
    assert compile_repo().parsed == [spec for spec in SPECS if spec.startswith("repo/vllm/")]
