"""The output tree: ``<namespace>/<workspace>/<kind>-<name>.yaml`` plus a ``kustomization.yaml`` per workspace.

Each workspace directory is its own small kustomization (kustomize is quadratic in resources per
kustomization) that lists its files and nothing else: no namespace transformer, so cluster-scoped objects
(NodeClaim, NodePool) keep having no namespace. File names come from kind and name only, so a file keeps its
path for as long as its object keeps its identity, and reviewers see content diffs rather than renames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..goregex import go_regex
from .errors import LayoutError
from .ownership import (
    LOCK_FILE,
    has_control_chars,
    is_digest,
    lock_bytes,
    provenance_header,
)

KUSTOMIZATION_FILE = "kustomization.yaml"
_DNS_LABEL = go_regex(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = go_regex(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_KIND = go_regex(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class WorkspaceOutput:
    """Everything emitted for one Workspace, with where it came from."""

    namespace: str
    workspace: str
    source_file: str  # posix path relative to the working directory, as the user gave it
    source_hash: str  # "sha256:<hex>" of the source document's canonical content
    objects: list[dict]  # full manifests, in the fixed emission order
    files: Mapping[str, bytes] | None = None  # already rendered (render_workspace, the build cache); objects unused


def render_tree(outputs: Iterable[WorkspaceOutput], *, tool_version: str) -> dict[str, bytes]:
    """Relative posix path → file bytes for every generated file, the ownership lock included."""
    _check_tool_version(tool_version)
    files: dict[str, bytes] = {}
    directories: dict[str, WorkspaceOutput] = {}
    for output in outputs:
        directory = _workspace_directory(output)
        if directory in directories:
            raise LayoutError(
                f"workspace {directory} is produced twice: by {directories[directory].source_file} "
                f"and by {output.source_file}"
            )
        directories[directory] = output
        files.update(_workspace_files(output, directory, tool_version) if output.files is None
                     else _rendered_files(output, directory))
    files[LOCK_FILE] = lock_bytes(files, tool_version)
    return dict(sorted(files.items()))


def render_workspace(output: WorkspaceOutput, *, tool_version: str) -> WorkspaceOutput:
    """``output`` with its files rendered (and its objects dropped), for :func:`render_tree` to take as they are."""
    _check_tool_version(tool_version)
    files = _workspace_files(output, _workspace_directory(output), tool_version)
    return dataclasses.replace(output, objects=[], files=files)


def _rendered_files(output: WorkspaceOutput, directory: str) -> Mapping[str, bytes]:
    stray = [path for path in output.files if not path.startswith(f"{directory}/")]
    if stray:
        raise LayoutError(f"rendered files of workspace {directory} lie outside its directory: {stray[:3]}")
    return output.files


def object_file_name(obj: dict[str, Any]) -> str:
    """``<kind lower-case>-<metadata.name>.yaml``, after checking both are safe as a file name."""
    kind = obj.get("kind")
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise LayoutError(f"object kind {kind!r} is not a Kubernetes kind (letters and digits)")
    if not isinstance(name, str) or not _DNS_SUBDOMAIN.match(name):
        raise LayoutError(f"{kind} name {name!r} is not a DNS-1123 subdomain")
    return f"{kind.lower()}-{name}.yaml"


def kustomization(file_names: Iterable[str]) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(file_names),
    }


def _workspace_files(output: WorkspaceOutput, directory: str, tool_version: str) -> dict[str, bytes]:
    from .manifest_yaml import dump_manifest  # here: files from the build cache need no YAML renderer

    header = provenance_header(tool_version, output.source_file, output.source_hash)
    owners: dict[str, dict[str, Any]] = {}
    files: dict[str, bytes] = {}
    for obj in output.objects:
        name = object_file_name(obj)
        if name in owners:
            raise LayoutError(
                f"{directory}/{name}: {_describe(owners[name])} and {_describe(obj)} "
                f"(from {output.source_file}) would share this file"
            )
        owners[name] = obj
        files[f"{directory}/{name}"] = header + dump_manifest(obj).encode()
    files[f"{directory}/{KUSTOMIZATION_FILE}"] = header + dump_manifest(kustomization(owners)).encode()
    return files


def _workspace_directory(output: WorkspaceOutput) -> str:
    if not _DNS_LABEL.match(output.namespace or ""):
        raise LayoutError(f"namespace {output.namespace!r} is not a DNS-1123 label")
    if not _DNS_SUBDOMAIN.match(output.workspace or ""):
        raise LayoutError(f"workspace name {output.workspace!r} is not a DNS-1123 subdomain")
    source = output.source_file
    if not source or has_control_chars(source) or source.startswith("/") or "\\" in source:
        raise LayoutError(
            f"source file {source!r} must be a relative posix path without control characters "
            "(it is written into every file header, which must be the same on every machine)"
        )
    if not is_digest(output.source_hash):
        raise LayoutError(f"source hash {output.source_hash!r} of {source} is not 'sha256:<64 hex digits>'")
    return f"{output.namespace}/{output.workspace}"


def _check_tool_version(tool_version: str) -> None:
    if not tool_version or has_control_chars(tool_version) or " " in tool_version:
        raise LayoutError(f"tool version {tool_version!r} must be one word")


def _describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('apiVersion')} {obj.get('kind')} {obj['metadata']['name']}"
