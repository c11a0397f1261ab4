"""Shared builders for the write-stage tests: sample workspaces and whole-directory snapshots."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from kaito_compile.output import WorkspaceOutput, render_tree

TOOL_VERSION = "0.1.0"

# Strings go-yaml v2 (kubectl, the apiserver) reads as something other than a string when written plain.
GO_NON_STRINGS = [
    "yes", "No", "ON", "off", "y", "Y", "n", "N", "true", "False", "~", "null", "NULL", "",
    "1e3", "1E3", "1e+3", ".5", "5.", "0777", "09", "0o17", "0x1F", "0X1F", "0b101", "1_000", "+12", "-7",
    "1.10", "12:30", "190:20:30", ".inf", "-.Inf", ".nan", "2001-12-14", "2001-12-14T21:59:43.10-05:00", "<<", "=",
]


def source_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def deployment(name: str, namespace: str = "default", *, image_tag: str = "0.0.8") -> dict:
    labels = {"app": name, "kaito.sh/workspace": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},  # the same dict twice: must not become a YAML alias
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "inference",
                            "image": f"mcr.microsoft.com/aks/kaito/kaito-base:{image_tag}",
                            "command": ["python3", "-m", "kaito_runtime.inference", "--port=5000"],
                            "ports": [{"containerPort": 5000}],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ]
                },
            },
        },
    }


def service(name: str, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 5000}]},
    }


def nodeclaim(name: str) -> dict:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {"name": name, "labels": {"kaito.sh/workspace": name}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"},
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC12s_v3"]}
            ],
        },
    }


def tricky_configmap(name: str, namespace: str = "default") -> dict:
    """A ConfigMap whose values and keys are the strings a careless emitter would change the type of."""
    data = {f"k{index:02d}": value for index, value in enumerate(GO_NON_STRINGS)}
    data |= {"on": "y", "multi-line": "a: 1\nb:\n  - c\n", "long": "word " * 200, "unicode": "é ✓ 日本"}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"note": "yes"}},
        "data": data,
    }


def workspace(name: str, objects: list[dict], namespace: str = "default") -> WorkspaceOutput:
    source = f"specs/{name}.yaml"
    return WorkspaceOutput(namespace, name, source, source_hash(source), copy.deepcopy(objects))


def phi3(**deployment_options) -> WorkspaceOutput:
    return workspace(
        "phi-3",
        [nodeclaim("ws6f1d0c2a"), deployment("phi-3", **deployment_options), service("phi-3"), tricky_configmap("phi-3-params")],
    )


def falcon() -> WorkspaceOutput:
    return workspace("falcon-7b", [deployment("falcon-7b", "team-a"), service("falcon-7b", "team-a")], "team-a")


def render(*outputs: WorkspaceOutput) -> dict[str, bytes]:
    return render_tree(list(outputs), tool_version=TOOL_VERSION)


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry under ``directory``: file bytes, ``'->target'`` for symlinks, ``'<dir>'`` for directories."""
    entries: dict[str, bytes | str] = {}
    for path in sorted(directory.rglob("*")):
        key = path.relative_to(directory).as_posix()
        if path.is_symlink():
            entries[key] = "->" + str(path.readlink())
        elif path.is_dir():
            entries[key] = "<dir>"
        else:
            entries[key] = path.read_bytes()
    return entries


def files_of(directory: Path) -> dict[str, bytes]:
    return {key: value for key, value in snapshot(directory).items() if isinstance(value, bytes)}


def materialise(tree: dict[str, bytes], directory: Path) -> None:
    """Plain file writes of a tree, for tests that only need the files on disk."""
    for path, data in tree.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
