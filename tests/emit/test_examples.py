"""Every example compiles to objects that pass the real validators, snapshot by snapshot.

The rendered tree of ``examples/`` is compared with pytest-snapshot files (update on purpose with
``pytest --snapshot-update``), each object is validated strictly against the Kubernetes schemas or
the upstream CRDs, and each workspace directory goes through the real ``kubectl kustomize``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver
from kaito_compile.output import dump_manifest
from tests.support import kube

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CRD_KINDS = {("karpenter.sh/v1", "NodeClaim"), ("karpenter.sh/v1", "NodePool"), ("karpenter.sh/v1alpha5", "Machine"),
             ("keda.sh/v1alpha1", "ScaledObject"), ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
             ("helm.toolkit.fluxcd.io/v2", "HelmRelease"), ("argoproj.io/v1alpha1", "Application"),
             ("gateway.networking.k8s.io/v1", "HTTPRoute")}


@pytest.fixture(scope="module")
def tree(monkeypatch_module) -> dict[str, bytes]:
    monkeypatch_module.chdir(REPO)
    report, files = compile_paths(["examples"], ConfigResolver(), Catalogs())
    assert not report.errors, [d.message for d in report.errors]
    return files


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def _workspace_dirs(files: dict[str, bytes]) -> list[str]:
    return sorted({path.rsplit("/", 1)[0] for path in files if path.count("/") == 2})


def _objects(files: dict[str, bytes]) -> list[tuple[str, dict]]:
    return [(path, yaml.safe_load(data)) for path, data in sorted(files.items())
            if path.count("/") == 2 and not path.endswith("kustomization.yaml")]


def test_every_example_workspace_is_compiled(tree):
    documents = [doc for path in EXAMPLES.rglob("*.yaml") if path.name != "kaito-compile.yaml"
                 for doc in yaml.safe_load_all(path.read_text()) if doc]
    workspaces = [doc for doc in documents if doc.get("kind") == "Workspace"]
    sets = [doc for doc in documents if doc.get("kind") == "InferenceSet"]
    assert len(workspaces) >= 12 and len(sets) >= 2
    autoscaled = {doc["metadata"]["name"] for doc in sets
                  if doc["metadata"].get("annotations", {}).get("scaledobject.kaito.sh/auto-provision") == "true"}
    replicas = sum(1 if doc["metadata"]["name"] in autoscaled else doc["spec"].get("replicas", 1) for doc in sets)
    # every replica is a workspace directory <set>-<index>; every set here has objects of its own in <set>/
    assert len(_workspace_dirs(tree)) == len(workspaces) + replicas + len(sets)


def test_snapshots(tree, snapshot):
    """One snapshot directory per workspace; ``pytest --snapshot-update`` rewrites them on purpose."""
    snapshot.snapshot_dir = REPO / "tests" / "emit" / "snapshots"
    nested: dict = {}
    for path, data in tree.items():
        *dirs, name = path.split("/")
        node = nested
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = data.decode()
    snapshot.assert_match_dir(nested, "examples")


def test_objects_validate_strictly(tree):
    problems = []
    for path, obj in _objects(tree):
        problems += [f"{path}: {e}" for e in kube.validate_manifest(obj)]
    assert problems == []


def test_node_objects_are_checked_against_their_crds(tree):
    kinds = {(obj["apiVersion"], obj["kind"]) for _, obj in _objects(tree)}
    assert CRD_KINDS <= kinds


def test_every_workspace_directory_builds_with_kustomize(tree, tmp_path):
    for path, data in tree.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for directory in _workspace_dirs(tree):
        built = list(yaml.safe_load_all(kube.kustomize_build(tmp_path / directory)))
        listed = [p for p in tree if p.startswith(directory + "/") and not p.endswith("kustomization.yaml")]
        assert len(built) == len(listed), directory


def test_rendering_is_deterministic(tree):
    again = compile_paths(["examples"], ConfigResolver(), Catalogs())[1]
    assert again == tree


def test_reparsed_output_renders_to_the_same_bytes(tree):
    for path, obj in _objects(tree):
        body = tree[path].decode()
        header_end = body.index("apiVersion:")
        assert dump_manifest(obj) == body[header_end:], path
