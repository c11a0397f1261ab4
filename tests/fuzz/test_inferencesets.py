"""Property-based fuzzing of InferenceSets: generated sets (both apiVersions, both keda-kaito-scaler annotation
schemes, bad annotations) and clusters (provisioners, Prometheus, the gateway gate, Flux or Argo CD, a Gateway),
compiled from files. Nothing crashes; what is accepted emits objects that pass the strict schema check (the
upstream CRDs for ScaledObject, OCIRepository, HelmRelease, Application and HTTPRoute too). Profiles as in
test_workspaces.py."""

from __future__ import annotations

from hypothesis import given

from . import strategies
from .test_workspaces import FUZZ, assert_well_formed, compile_example, kube, tally, workspace_objects, yaml


@FUZZ
@given(iset=strategies.inference_sets(wild=True), config=strategies.project_configs(wild=True))
def test_compiling_sets_never_crashes(iset: dict, config: dict):
    report, tree, spec = compile_example(iset, config)
    tally(report)
    assert_well_formed(report, spec)
    assert (tree == {}) == bool(report.errors), "a refused build must yield no tree, an accepted one a tree"


@FUZZ
@given(example=strategies.fitted_sets())
def test_accepted_sets_emit_valid_objects(example: tuple[dict, dict]):
    iset, config = example
    report, tree, _ = compile_example(iset, config)
    tally(report)
    if report.errors:
        return
    name, scaled = iset["metadata"]["name"], "scaledobject.kaito.sh/auto-provision" in iset["metadata"]["annotations"]
    replicas = 1 if scaled else iset["spec"]["replicas"]
    directories = workspace_objects(tree)
    assert {d for d in directories if d != f"default/{name}"} == {f"default/{name}-{i}" for i in range(replicas)}
    for directory, files in directories.items():
        for file_name, obj in files:
            if file_name != "kustomization.yaml":
                errors = kube.validate_manifest(obj)
                assert not errors, f"{directory}/{file_name}:\n" + "\n".join(errors) + "\n" + yaml.safe_dump(obj)
