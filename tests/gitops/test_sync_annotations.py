"""Every emitted object carries the Argo CD sync wave of its kind; custom resources skip the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kaito_compile.gitops.sync import (
    CUSTOM_RESOURCE_KINDS,
    SKIP_DRY_RUN,
    SYNC_OPTIONS_ANNOTATION,
    SYNC_WAVE_ANNOTATION,
    UnknownKind,
    annotate_for_sync,
)

REPO = Path(__file__).resolve().parents[2]
ORDER = [{"NodeClaim", "NodePool", "Machine"}, {"ConfigMap"}, {"Deployment", "StatefulSet", "Job"}, {"Service"},
         {"ScaledObject", "OCIRepository", "HelmRelease", "Application"}, {"HTTPRoute"}]


def _committed_objects() -> list[dict]:
    return [yaml.safe_load(path.read_text()) for path in sorted((REPO / "out").glob("*/*/*.yaml"))
            if path.name != "kustomization.yaml"]


def test_committed_output_is_ordered_nodes_config_workloads_services():
    """… then an InferenceSet's ScaledObject and router chart after the workloads, its HTTPRoute after the pool."""
    waves: dict[str, set[int]] = {}
    for obj in _committed_objects():
        waves.setdefault(obj["kind"], set()).add(int(obj["metadata"]["annotations"][SYNC_WAVE_ANNOTATION]))
    assert set(waves) == set().union(*ORDER), "the examples emit every kind the waves cover"
    per_group = [set().union(*(waves[kind] for kind in group)) for group in ORDER]
    assert all(len(group) == 1 for group in per_group), per_group
    values = [min(group) for group in per_group]
    assert values == sorted(set(values)), "strictly increasing: nodes < config < workloads < services < scaling < routes"


def test_only_custom_resources_skip_the_dry_run():
    for obj in _committed_objects():
        options = obj["metadata"]["annotations"].get(SYNC_OPTIONS_ANNOTATION)
        assert options == (SKIP_DRY_RUN if obj["kind"] in CUSTOM_RESOURCE_KINDS else None), obj["kind"]


def test_existing_annotations_are_kept():
    (obj,) = annotate_for_sync([{"kind": "NodePool", "metadata": {"annotations": {"a": "b"}}}])
    expected = {"a": "b", SYNC_WAVE_ANNOTATION: "0", SYNC_OPTIONS_ANNOTATION: SKIP_DRY_RUN}
    assert obj["metadata"]["annotations"] == expected


def test_a_kind_without_a_wave_is_refused():
    with pytest.raises(UnknownKind, match="PersistentVolumeClaim"):
        annotate_for_sync([{"kind": "PersistentVolumeClaim", "metadata": {"name": "x"}}])
