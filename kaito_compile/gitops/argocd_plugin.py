"""kaito-compile as an Argo CD config management plugin (CMP): the plugin file and the repo-server sidecar.

Argo CD's repo-server sends the Application's repository to the plugin's sidecar and runs ``generate`` in the
Application's source directory; whatever it prints on stdout is the Application's desired state. Here that is
``kaito-compile render .`` in exec form (no shell, so nothing from the repository or the Application's
environment is ever interpreted as a command), from our compiler image, as uid 999 (Argo CD requires it), with
the cmp-server binary that Argo CD's ``copyutil`` init container puts into the shared ``var-files`` volume.

The plugin has no ``discover`` rule: an Application uses it only by naming it (``spec.source.plugin.name``),
never because some file in its directory happens to match. ``preserveFileMode`` and ``provideGitCreds`` stay
off: the compiler reads specs as data and needs no Git credentials.

Files (``-o DIR``): ``plugin.yaml``; ``argocd-repo-server-patch.yaml``, a strategic-merge patch adding the
sidecar to the ``argocd-repo-server`` Deployment; ``kustomization.yaml``, a kustomize Component that generates
the ConfigMap holding ``plugin.yaml`` (with a content hash in its name, so a change restarts the repo-server,
which reads the file only at start) and applies the patch. Add the directory to the ``components:`` of the
kustomization that installs Argo CD.
"""

from __future__ import annotations

from dataclasses import dataclass

API_VERSION = "argoproj.io/v1alpha1"
PLUGIN_FILE = "plugin.yaml"
PATCH_FILE = "argocd-repo-server-patch.yaml"
REPO_SERVER = "argocd-repo-server"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
CMP_SERVER = "/var/run/argocd/argocd-cmp-server"  # copied there by the repo-server's copyutil init container
PLUGIN_CONFIG_PATH = "/home/argocd/cmp-server/config/plugin.yaml"
PLUGIN_SOCKETS = "/home/argocd/cmp-server/plugins"
ARGOCD_UID = 999
GENERATE = ["kaito-compile", "render", "."]
IMAGE_NAME = "kaito-compiler"


@dataclass(frozen=True)
class PluginOptions:
    name: str  # the plugin's name: Applications set spec.source.plugin.name to it
    image: str  # our compiler image (runtime/Dockerfile.compiler)
    namespace: str  # where Argo CD runs


def plugin_config(options: PluginOptions) -> dict:
    """The ``ConfigManagementPlugin`` file the sidecar reads at ``/home/argocd/cmp-server/config/plugin.yaml``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ConfigManagementPlugin",
        "metadata": {"name": options.name},
        "spec": {
            "generate": {"command": list(GENERATE)},
            "preserveFileMode": False,
            "provideGitCreds": False,
        },
    }


def config_map_name(options: PluginOptions) -> str:
    return f"{options.name}-plugin"


def repo_server_patch(options: PluginOptions) -> dict:
    """Strategic-merge patch: the plugin sidecar and its two volumes (the plugin file, a private /tmp)."""
    config_volume, tmp_volume = f"{options.name}-plugin", f"{options.name}-tmp"
    sidecar = {
        "name": options.name,
        "image": options.image,
        "command": [CMP_SERVER],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": ARGOCD_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "var-files", "mountPath": "/var/run/argocd"},
            {"name": "plugins", "mountPath": PLUGIN_SOCKETS},
            {"name": config_volume, "mountPath": PLUGIN_CONFIG_PATH, "subPath": PLUGIN_FILE},
            # Not the repo-server's /tmp volume: Argo CD keeps the plugin's files apart from its own.
            {"name": tmp_volume, "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": REPO_SERVER, "namespace": options.namespace},
        # kubectl logs/exec keep picking the repo-server, not the sidecar a strategic merge puts first.
        "spec": {"template": {"metadata": {"annotations": {DEFAULT_CONTAINER: REPO_SERVER}}, "spec": {
            "containers": [sidecar],
            "volumes": [{"name": config_volume, "configMap": {"name": config_map_name(options)}},
                        {"name": tmp_volume, "emptyDir": {}}],
        }}},
    }


def component(options: PluginOptions) -> dict:
    """The kustomize Component: the ConfigMap generated from ``plugin.yaml`` and the repo-server patch."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "configMapGenerator": [{"name": config_map_name(options), "namespace": options.namespace,
                                "files": [PLUGIN_FILE]}],
        "patches": [{"path": PATCH_FILE, "target": {"kind": "Deployment", "name": REPO_SERVER}}],
    }
