"""Offline checks of emitted manifests: strict schemas for core kinds and CRDs, and a real ``kubectl kustomize``.

The schema checks are :mod:`kaito_compile.output.validate` (one implementation, shared with the benchmark): core
kinds against kubernetes-validate's bundled strict schemas, CRDs against the strictified ``openAPIV3Schema`` of
the upstream CRD files in ``../shared/upstream`` (read in place, never copied into the project). Callers skip
with a reason when :func:`upstream_available` is false.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from kaito_compile.output import validate
from kaito_compile.output.validate import CRD_FILES, DEFAULT_K8S_VERSION, strictify

__all__ = ["CRD_FILES", "DEFAULT_K8S_VERSION", "UPSTREAM", "kubectl_path", "kustomize_build", "parse_manifests",
           "strictify", "upstream_available", "validate_core", "validate_crd", "validate_manifest"]

REPO_ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = REPO_ROOT.parent / "shared" / "upstream"  # CRD files in the layout of validate.CRD_FILES
PINNED_KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
KUSTOMIZE_TIMEOUT_S = 120


def upstream_available() -> bool:
    return UPSTREAM.is_dir()


def validate_manifest(obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Validate any emitted object: CRD kinds against their upstream CRD, everything else as a core kind."""
    return validate.validate_manifest(obj, UPSTREAM, k8s_version)


def validate_core(obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Errors (``path: message``) of a core Kubernetes object under the strict schema of ``k8s_version``."""
    return validate.validate_core(obj, k8s_version)


def validate_crd(obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Errors of a custom resource under its strictified upstream CRD schema (needs :data:`UPSTREAM`)."""
    return validate.validate_crd(obj, UPSTREAM, k8s_version)


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
