"""Offline checks of emitted manifests: strict schemas for core kinds and CRDs, and a real ``kubectl kustomize``.

The schema checks are :mod:`kaito_compile.output.validate`, the same as ``build`` runs (one implementation, shared
with the benchmark): every kind against ``schemas/kubernetes-objects.json``, generated from kubernetes-validate's
strict schemas and the upstream CRD files in ``../shared/upstream`` (read in place by the generator, never copied).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from kaito_compile.output.schema_gen import CRD_FILES, strictify
from kaito_compile.output.validate import validate_manifest

__all__ = ["CRD_FILES", "UPSTREAM", "kubectl_path", "kustomize_build", "parse_manifests", "strictify",
           "upstream_available", "validate_manifest"]

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = REPO_ROOT.parent / "shared" / "upstream"  # CRD files in the layout of schema_gen.CRD_FILES
PINNED_KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
KUSTOMIZE_TIMEOUT_S = 120


def upstream_available() -> bool:
    return UPSTREAM.is_dir()


def kubectl_path() -> str:
    """``$KUBECTL``, else the pinned ``.tools/bin/kubectl`` (tools/ensure_kubectl.py), else ``kubectl`` on PATH."""
    configured = os.environ.get("KUBECTL")
    if configured:
        return configured
    if PINNED_KUBECTL.is_file():
        return str(PINNED_KUBECTL)
    found = shutil.which("kubectl")
    if found is None:
        raise FileNotFoundError("no kubectl: set KUBECTL, run `python tools/ensure_kubectl.py`, or put one on PATH")
    return found


def kustomize_build(directory: Path | str) -> str:
    """``kubectl kustomize DIR``'s output; raises ``RuntimeError`` carrying stderr when the build fails."""
    command = [kubectl_path(), "kustomize", str(directory)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=KUSTOMIZE_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


class _GoOutputLoader(yaml.CSafeLoader):
    """YAML 1.1 without the merge (``<<``) and value (``=``) tags: kustomize writes those strings unquoted."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith((":merge", ":value"))]
        for first, resolvers in yaml.CSafeLoader.yaml_implicit_resolvers.items()
    }


def parse_manifests(text: str) -> list[dict[str, Any]]:
    """The documents of a multi-document YAML stream such as :func:`kustomize_build` output."""
    return [doc for doc in yaml.load_all(text, Loader=_GoOutputLoader) if doc is not None]
