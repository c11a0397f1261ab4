"""A small repository with two clusters and a project catalog, and a compile that records what it recomputed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from kaito_compile import compiler
from kaito_compile.cache import BuildCache
from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver
from kaito_compile.diagnostics import Report

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

MISTRAL = {  # a project catalog entry overriding the built-in one (aliases and tuning stay Kaito's)
    "hfId": "mistralai/Mistral-7B-Instruct-v0.3", "fileSize": "13.50Gi", "contextLimit": 32768,
    "architectures": ["MistralForCausalLM"],
    "attention": {"hiddenSize": 4096, "numHiddenLayers": 32, "numAttentionHeads": 32, "numKeyValueHeads": 8},
    "vllm": {"dtype": "bfloat16", "loadFormat": "mistral", "configFormat": "mistral", "tokenizerMode": "mistral",
             "toolCallParser": "mistral"},
    "transformers": "mistral",
}


def workspace(name: str, preset: str, *, namespace: str = "team", labels: dict | None = None,
              sku: str = "Standard_NC24ads_A100_v4") -> dict:
    return {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": name, "namespace": namespace},
            "resource": {"instanceType": sku, "labelSelector": {"matchLabels": labels or {"apps": name}}},
            "inference": {"preset": {"name": preset}}}


def write_yaml(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class Compiled:
    report: Report
    tree: dict[str, bytes]
    parsed: list[str] = field(default_factory=list)  # spec files parsed (not taken from the cache)
    emitted: list[str] = field(default_factory=list)  # workspaces emitted (not taken from the cache)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """vllm/ (a project catalog overriding Mistral, in a YAML file the compile notes and skips) and transformers/,
    three workspaces each."""
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write_yaml(root / "vllm" / "kaito-compile.yaml", {"cloud": "azure", "provisioner": "gpu-provisioner",
                                                       "runtime": "vllm", "catalogs": ["catalog.yaml"]})
    write_yaml(root / "vllm" / "catalog.yaml", {"models": [MISTRAL]})
    write_yaml(root / "vllm" / "mistral.yaml", workspace("mistral", "mistral-7b-instruct"))
    write_yaml(root / "vllm" / "phi.yaml", workspace("phi", "phi-3-mini-4k-instruct"))
    write_yaml(root / "vllm" / "llama.yaml", workspace("llama", "llama-3.1-8b-instruct"))
    write_yaml(root / "transformers" / "kaito-compile.yaml", {"cloud": "azure", "provisioner": "machine",
                                                               "runtime": "transformers"})
    write_yaml(root / "transformers" / "mistral.yaml", workspace("mistral", "mistral-7b-instruct", namespace="t"))
    write_yaml(root / "transformers" / "phi.yaml", workspace("phi", "phi-3-mini-4k-instruct", namespace="t"))
    write_yaml(root / "transformers" / "gemma.yaml", workspace("gemma", "gemma-3-4b-instruct", namespace="t"))
    return root


@pytest.fixture
def compile_repo(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``compile_repo(cache=True)`` compiles ``repo`` from its parent directory (paths as a user passes them)
    against the cache file ``tmp_path/cache.jsonl``, recording which spec files and workspaces it recomputed."""
    monkeypatch.chdir(repo.parent)
    cache_file = tmp_path / "cache.jsonl"
    key = b"k" * 32

    def run(*, cache: bool = True) -> Compiled:
        result = Compiled(Report(), {})
        parse, emit_add = compiler.parse_documents, _emitter().add

        def parse_documents(text: str, file: str):
            result.parsed.append(file)
            return parse(text, file)

        def add(self, plan, **settings):
            result.emitted.append(f"{plan.namespace}/{plan.workspace}")
            return emit_add(self, plan, **settings)

        with monkeypatch.context() as patch:
            patch.setattr(compiler, "parse_documents", parse_documents)
            patch.setattr(_emitter(), "add", add)
            result.report, result.tree = compile_paths([repo.name], ConfigResolver(), Catalogs(),
                                                       cache=BuildCache(cache_file, key) if cache else None)
        result.parsed.sort()
        result.emitted.sort()
        return result

    run.cache_file = cache_file
    run.key = key
    return run


def _emitter():
    from kaito_compile.emit.emitter import Emitter

    return Emitter
