"""One Flux ``Kustomization`` per workspace directory of the output tree.

No ``dependsOn`` by default: a workspace directory holds everything the workspace needs (its nodes,
ConfigMaps, workload and Services) and nothing another workspace needs, so workspaces do not wait for each
other, and one failing workspace does not hold the others back. Inside a directory no ordering is needed
either: Flux applies it in one server-side apply, and pods stay Pending until their nodes join. What a
workspace does depend on lies outside ``out/``: the NodeClaim/NodePool CRDs (Kaito, gpu-provisioner or
Karpenter) and the namespaces. ``--depends-on`` names the Kustomizations that install them, so Flux does not
try to apply a NodeClaim before its CRD exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from .flux_artifact import FLUX_CONTENT

API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API_VERSION = "source.toolkit.fluxcd.io/v1"


@dataclass(frozen=True)
class FluxOptions:
    namespace: str
    source: str  # the GitRepository holding the output tree
    source_namespace: str | None
    interval: str
    repo_path: str  # the output directory inside the repository, "" for its root
    depends_on: tuple[str, ...] = ()  # "name" or "namespace/name" of Kustomizations every workspace waits for
    source_kind: str = "GitRepository"  # or OCIRepository: the tree pushed by `kaito-compile push`


def kustomizations(names: dict[str, str], options: FluxOptions) -> list[dict]:
    """One Kustomization per ``workspace directory → object name`` in ``names``, sorted by directory."""
    return [kustomization(directory, names[directory], options) for directory in sorted(names)]


def kustomization(directory: str, name: str, options: FluxOptions) -> dict:
    source = {"kind": options.source_kind, "name": options.source}
    if options.source_namespace:
        source["namespace"] = options.source_namespace
    spec = {
        "interval": options.interval,
        "path": "./" + "/".join(part for part in (options.repo_path, directory) if part),
        "prune": True,
        "sourceRef": source,
    }
    if options.depends_on:
        spec["dependsOn"] = [_reference(dependency) for dependency in options.depends_on]
    return {
        "apiVersion": API_VERSION,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": options.namespace},
        "spec": spec,
    }


def _reference(dependency: str) -> dict[str, str]:
    namespace, _, name = dependency.rpartition("/")
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


def oci_repository(url: str, tag: str, options: FluxOptions, *, secret: str | None = None,
                   insecure: bool = False) -> dict:
    """The ``OCIRepository`` pulling the artifact ``kaito-compile push`` published at ``url:tag``.

    The layer selector names the media type ``push`` gives the tree's tarball, so Flux extracts that layer
    whatever else the artifact gains (a signature, an SBOM). Workspace paths are relative to the artifact's root.
    """
    spec: dict = {
        "interval": options.interval,
        "layerSelector": {"mediaType": FLUX_CONTENT, "operation": "extract"},
        "ref": {"tag": tag},
        "url": url,
    }
    if secret:
        spec["secretRef"] = {"name": secret}
    if insecure:
        spec["insecure"] = True
    return {
        "apiVersion": SOURCE_API_VERSION,
        "kind": "OCIRepository",
        "metadata": {"name": options.source, "namespace": options.namespace},
        "spec": spec,
    }
