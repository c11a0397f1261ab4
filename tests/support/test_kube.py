"""The manifest checkers themselves: they must pass good objects and catch the mistakes they exist for."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.support import kube

requires_upstream = pytest.mark.skipif(
    not kube.upstream_available(), reason=f"upstream CRDs not present at {kube.UPSTREAM}"
)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "phi-3", "namespace": "default", "labels": {"app": "phi-3"}},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "phi-3"}},
        "template": {
            "metadata": {"labels": {"app": "phi-3"}},
            "spec": {
                "containers": [
                    {
                        "name": "inference",
                        "image": "mcr.microsoft.com/aks/kaito/kaito-base:0.0.8",
                        "ports": [{"containerPort": 5000}],
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ]
            },
        },
    },
}

NODE_CLASS_REF = {"group": "karpenter.azure.com", "kind": "AKSNodeClass", "name": "default"}
REQUIREMENTS = [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["Standard_NC12s_v3"]}]

# One valid object per CRD the checker knows; test_every_crd_has_a_valid_sample keeps this in step with CRD_FILES.
CRD_SAMPLES = {
    ("karpenter.sh/v1", "NodeClaim"): {
        "metadata": {"name": "ws0a1b2c3d", "labels": {"kaito.sh/workspace": "phi-3"}},
        "spec": {
            "nodeClassRef": NODE_CLASS_REF,
            "requirements": REQUIREMENTS,
            "resources": {"requests": {"storage": "120Gi"}},
        },
    },
    ("karpenter.sh/v1", "NodePool"): {
        "metadata": {"name": "phi-3"},
        "spec": {"template": {"spec": {"nodeClassRef": NODE_CLASS_REF, "requirements": REQUIREMENTS}}},
    },
    ("karpenter.sh/v1alpha5", "Machine"): {
        "metadata": {"name": "ws0a1b2c3d"},
        "spec": {
            "machineTemplateRef": {"name": "ws0a1b2c3d"},
            "requirements": REQUIREMENTS,
            "resources": {"requests": {"storage": "120Gi"}},
        },
    },
    ("argoproj.io/v1alpha1", "Application"): {
        "metadata": {"name": "kaito", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/repo.git", "path": "out", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc"},
        },
    },
    ("argoproj.io/v1alpha1", "ApplicationSet"): {
        "metadata": {"name": "kaito", "namespace": "argocd"},
        "spec": {
            "generators": [{"list": {"elements": [{"dir": "default/phi-3"}]}}],
            "template": {
                "metadata": {"name": "kaito-{{dir}}"},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": "https://example.com/repo.git", "path": "out/{{dir}}"},
                    "destination": {"server": "https://kubernetes.default.svc"},
                },
            },
        },
    },
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): {
        "metadata": {"name": "kaito", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./out", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "repo"}},
    },
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): {
        "metadata": {"name": "kaito", "namespace": "flux-system"},
        "spec": {"interval": "10m", "url": "oci://ghcr.io/acme/fleet/kaito-manifests", "ref": {"tag": "main"}},
    },
}


def crd_sample(key: tuple[str, str]) -> dict:
    api_version, kind = key
    return {"apiVersion": api_version, "kind": kind, **copy.deepcopy(CRD_SAMPLES[key])}


def test_a_good_deployment_passes():
    assert kube.validate_core(DEPLOYMENT) == []
    assert kube.validate_manifest(DEPLOYMENT, "1.35") == []


def test_a_misspelt_field_fails_with_its_path():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "IfNotPresent"
    assert kube.validate_core(bad) == [
        "spec.template.spec.containers[0]: Additional properties are not allowed ('imagePullPolicyy' was unexpected)"
    ]


def test_a_wrong_type_and_a_missing_required_field_both_fail():
    bad = copy.deepcopy(DEPLOYMENT)
    bad["spec"]["replicas"] = "one"
    del bad["spec"]["selector"]
    errors = kube.validate_core(bad)
    assert "spec.replicas: 'one' is not of type 'integer', 'null'" in errors
    assert "spec: 'selector' is a required property" in errors


def test_a_kind_without_a_schema_is_an_error_not_a_pass():
    assert kube.validate_core({"apiVersion": "example.com/v1", "kind": "Deployment"}) == [
        "(root): no Kubernetes 1.33 schema for example.com/v1 Deployment"
    ]


def test_an_unsupported_kubernetes_version_is_refused():
    with pytest.raises(ValueError, match="no strict schemas for 1.99"):
        kube.validate_core(DEPLOYMENT, "1.99")


@requires_upstream
@pytest.mark.parametrize("key", sorted(kube.CRD_FILES), ids=lambda key: key[1])
def test_every_crd_has_a_valid_sample(key):
    assert kube.validate_crd(crd_sample(key)) == []


@requires_upstream
@pytest.mark.parametrize("key", sorted(kube.CRD_FILES), ids=lambda key: key[1])
def test_an_unknown_spec_field_fails_for_every_crd(key):
    obj = crd_sample(key)
    obj["spec"]["replicaz"] = 2
    assert kube.validate_manifest(obj) == ["spec: Additional properties are not allowed ('replicaz' was unexpected)"]


@requires_upstream
def test_a_nodeclaim_with_an_unknown_nested_field_fails():
    obj = crd_sample(("karpenter.sh/v1", "NodeClaim"))
    obj["spec"]["nodeClassRef"]["namespace"] = "default"
    assert kube.validate_crd(obj) == [
        "spec.nodeClassRef: Additional properties are not allowed ('namespace' was unexpected)"
    ]


@requires_upstream
def test_a_nodeclaim_is_checked_for_metadata_typos_scope_and_enums():
    obj = crd_sample(("karpenter.sh/v1", "NodeClaim"))
    obj["metadata"] |= {"namespace": "default", "lables": {}}
    obj["spec"]["requirements"][0]["operator"] = "in"
    errors = kube.validate_crd(obj)
    assert "metadata: Additional properties are not allowed ('lables' was unexpected)" in errors
    assert "metadata.namespace: NodeClaim is cluster-scoped and must not carry a namespace" in errors
    assert any(error.startswith("spec.requirements[0].operator: 'in' is not one of") for error in errors)


def test_strictify_closes_structural_objects_only():
    schema = {
        "type": "object",
        "properties": {
            "closed": {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
            "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {}}},
            "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"b": {}}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"c": {}}}},
            "choice": {"anyOf": [{"properties": {"d": {}}}]},
        },
    }
    strict = kube.strictify(schema)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["closed"]["additionalProperties"] is False
    assert strict["properties"]["closed"]["properties"]["a"]["type"] == ["string", "null"]
    assert "additionalProperties" not in strict["properties"]["open"]
    assert strict["properties"]["map"]["additionalProperties"]["additionalProperties"] is False
    assert strict["properties"]["list"]["items"]["additionalProperties"] is False
    assert "additionalProperties" not in strict["properties"]["choice"]["anyOf"][0]


def test_kustomize_builds_a_directory(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    (tmp_path / "kustomization.yaml").write_text("resources:\n- deployment.yaml\n")
    assert yaml.safe_load(kube.kustomize_build(tmp_path)) == DEPLOYMENT


def test_kustomize_failure_carries_stderr(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n- absent.yaml\n")
    with pytest.raises(RuntimeError, match="absent.yaml"):
        kube.kustomize_build(tmp_path)


def test_kubectl_from_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("KUBECTL", str(tmp_path / "my-kubectl"))
    assert kube.kubectl_path() == str(tmp_path / "my-kubectl")


def test_parse_manifests_reads_kustomize_output_the_way_go_does():
    assert kube.parse_manifests("a: <<\nb: =\nc: 1\n---\n---\nd: 'x'\n") == [{"a": "<<", "b": "=", "c": 1}, {"d": "x"}]
