"""An Argo CD ApplicationSet with one Application per workspace directory of the output tree.

A git directory generator over ``<out>/*/*`` finds the ``<namespace>/<workspace>`` directories, so a new
workspace needs no change here: committing its directory creates its Application, deleting it deletes the
Application, and the resources finalizer makes Argo CD delete the workspace's objects (GPU nodes included)
instead of orphaning them. Each Application syncs one small kustomization, never the whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

API_VERSION = "argoproj.io/v1alpha1"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
IN_CLUSTER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class ArgoOptions:
    name: str
    namespace: str
    repo_url: str
    revision: str
    project: str
    repo_path: str  # the output directory inside the repository, "" for its root
    dest_server: str | None = IN_CLUSTER
    dest_name: str | None = None  # a cluster registered in Argo CD, instead of dest_server


def application_set(options: ArgoOptions) -> dict:
    prefix = f"{options.repo_path}/" if options.repo_path else ""
    depth = len(PurePosixPath(options.repo_path).parts) if options.repo_path else 0
    namespace = f"{{{{index .path.segments {depth}}}}}"  # the directory below the output directory
    return {
        "apiVersion": API_VERSION,
        "kind": "ApplicationSet",
        "metadata": {"name": options.name, "namespace": options.namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {
                "repoURL": options.repo_url,
                "revision": options.revision,
                "directories": [{"path": f"{prefix}*/*"}],
            }}],
            "template": {
                "metadata": {
                    "name": f"{namespace}-{{{{.path.basename}}}}",
                    "finalizers": [RESOURCES_FINALIZER],
                },
                "spec": {
                    "project": options.project,
                    "source": {"repoURL": options.repo_url, "targetRevision": options.revision,
                               "path": "{{.path.path}}"},
                    "destination": _destination(options, namespace),
                    "syncPolicy": {
                        "automated": {"prune": True, "selfHeal": True},
                        "syncOptions": ["CreateNamespace=true"],
                    },
                },
            },
        },
    }


def _destination(options: ArgoOptions, namespace: str) -> dict:
    target = {"name": options.dest_name} if options.dest_name else {"server": options.dest_server}
    return {**target, "namespace": namespace}
