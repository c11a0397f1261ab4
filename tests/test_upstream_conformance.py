"""Kaito's own examples, validated as Kaito v0.12 would admit them.

Every YAML under ``/work/shared/upstream/kaito/examples`` (unmodified upstream data, see its README)
is validated with a project config matching Kaito's chart defaults: cloud azure, provisioner
gpu-provisioner (node auto-provisioning), runtime vllm. The expected outcome of each file is written
down below with the reason, worked out from kaito-api.md §1 (admission rules), §2–3 (presets, SKUs):

* ``accepted``: no error; ``ignored``: no Workspace in the file (InferenceSet, MultiRoleInference,
  ConfigMap … are noted and skipped);
* ``rejected``: exactly these error codes, with Kaito's reason among the messages.

A file's own ConfigMap documents are declared in the project config, as a user would declare them
(the compiler only knows ConfigMaps from kaito-compile.yaml). Examples written for another cluster
shape (BYO nodes with partition gates, Azure Arc) are also run with a config describing that cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kaito_compile.cli import cli
from tests.support.shared import SHARED, requires_shared

UPSTREAM = SHARED / "upstream" / "kaito" / "examples"

pytestmark = requires_shared(UPSTREAM, "the upstream Kaito examples")

KAITO_DEFAULTS = {"cloud": "azure", "provisioner": "gpu-provisioner", "runtime": "vllm"}
ARC = {**KAITO_DEFAULTS, "cloud": "arc"}
BYO_ACCELERATOR = {
    **KAITO_DEFAULTS,
    "provisioner": "byo",
    "featureGates": {"enableAccelerator": True},
    "nodes": [{"name": f"a100x4-{i}", "labels": {
        "apps": "accelerator-llama-3-1-8b-instruct",
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.count": "4",
        "nvidia.com/gpu.memory": "81920",
    }} for i in range(2)],
}

UPPERCASE_IMAGE = "repository name (IMAGE_NAME_HERE) must be lowercase"
UPPERCASE_ADAPTER = "repository name (ADAPTER_HERE) must be lowercase"
STRENGTH_ON_VLLM = "Runtime validation: vLLM does not support adapter strength"
PLACEHOLDER_SKU = "Unsupported instance type <your-vm-sku>"


@dataclass(frozen=True)
class Expected:
    reason: str
    errors: frozenset[str] = frozenset()
    messages: tuple[str, ...] = ()
    workspaces: int = 1
    notes: frozenset[str] = frozenset()
    config: dict = field(default_factory=lambda: KAITO_DEFAULTS, hash=False)

    @property
    def outcome(self) -> str:
        return "rejected" if self.errors else ("accepted" if self.workspaces else "ignored")


def accepted(reason: str, *, notes: tuple[str, ...] = (), config: dict = KAITO_DEFAULTS) -> Expected:
    return Expected(reason, notes=frozenset(notes), config=config)


def rejected(reason: str, codes: tuple[str, ...], messages: tuple[str, ...], *, notes: tuple[str, ...] = (),
             config: dict = KAITO_DEFAULTS) -> Expected:
    return Expected(reason, frozenset(codes), messages, notes=frozenset(notes), config=config)


def ignored(reason: str, notes: tuple[str, ...]) -> Expected:
    return Expected(reason, workspaces=0, notes=frozenset(notes))


def rejected_set(reason: str, codes: tuple[str, ...], messages: tuple[str, ...], *, workspaces: int,
                 notes: tuple[str, ...] = ()) -> Expected:
    """An InferenceSet refused: ``workspaces`` children were checked (0 when the set's own rules failed)."""
    return Expected(reason, frozenset(codes), messages, workspaces=workspaces, notes=frozenset(notes))


FIXED_NODES = "fixed NodeClaim per node"
NO_PROMETHEUS = "autoscaling.prometheus.serverAddress"
MISSING_INSTANCE_TYPE = "missing field(s): spec.template.resource.instanceType"
NO_MAXIMUM = "no maximum: give scaledobject.kaito.sh/max-replicas or spec.nodeCountLimit"
KEDA_CLUSTER = {**KAITO_DEFAULTS, "provisioner": "karpenter",
                "autoscaling": {"prometheus": {"serverAddress": "http://prometheus.monitoring.svc:9090"}}}
GWIE = "a Gateway API object of Kaito's GWIE guide (the user's, not compiled; see tests/conformance)"


ARC_PLACEHOLDER = "instanceType is the placeholder <your-vm-sku>: not a SKU Kaito knows (I8), on Arc as on Azure"

EXPECTED: dict[str, Expected] = {
    # --- custom model -----------------------------------------------------------------------------
    "custom-model-integration/custom-model-deployment.yaml":
        accepted("template Workspace on a listed A100 SKU; templates are not sized"),
    # --- fine-tuning ------------------------------------------------------------------------------
    "fine-tuning/kaito_configmap_tuning_phi_3.yaml":
        ignored("a tuning ConfigMap only", ("KC-N001",)),
    "fine-tuning/kaito_workspace_tuning_falcon_7b_mental.yaml":
        rejected("falcon-7b is no longer a preset (T7); 'qlora-params-template' is the chart's template in the "
                 "release namespace, not in the Workspace's (T4); the output image placeholder is upper case (T6); the "
                 "push secret placeholder is no Secret name (T10, kaito-compile only)",
                 ("KC-T7", "KC-T4", "KC-T6", "KC-T10"),
                 ("Unsupported tuning preset name falcon-7b", "ConfigMap 'qlora-params-template' not found",
                  UPPERCASE_IMAGE)),
    "fine-tuning/kaito_workspace_tuning_falcon_7b_oai.yaml":
        rejected("falcon-7b is no longer a preset (T7; accessMode/presetOptions.image are ignored in v1beta1); "
                 "ConfigMap my-qlora-params is not in the cluster (T4); upper-case output image (T6); the push secret "
                 "placeholder is no Secret name (T10, kaito-compile only)",
                 ("KC-T7", "KC-T4", "KC-T6", "KC-T10"),
                 ("Unsupported tuning preset name falcon-7b", "ConfigMap 'my-qlora-params' not found",
                  UPPERCASE_IMAGE)),
    "fine-tuning/kaito_workspace_tuning_phi_3.yaml":
        rejected("the output image placeholder has an upper-case repository (T6); the push secret placeholder is no "
                 "Secret name (T10, kaito-compile only)", ("KC-T6", "KC-T10"), (UPPERCASE_IMAGE,)),
    "fine-tuning/kaito_workspace_tuning_phi_3_with_pvc_volume.yaml":
        accepted("PVC input and output; the webhook checks no SKU for tuning (Standard_NC6s_v3 is a legacy V100 "
                 "kaito-compile's tuning runtime still sizes)", notes=("KC-N001",)),
    # --- inference: InferenceSets (their children are the Workspaces counted) ----------------------
    # On Kaito's defaults (gpu-provisioner) an autoscaled set is refused: fixed NodeClaims cannot follow KEDA (IS8)
    # and no Prometheus server is declared (IS10); Kaito admits them. SCENARIOS runs them on a cluster that scales.
    "inference/kaito_inferenceset_llama-3.1_8b_instruct.yaml":
        rejected_set("autoscaled (legacy annotations) on fixed NodeClaims, no metrics source", ("KC-IS8", "KC-IS10"),
                     (FIXED_NODES, NO_PROMETHEUS), workspaces=1, notes=("KC-N001",)),
    "inference/kaito_inferenceset_mig_mixed_strategy.yaml":
        rejected_set("no instanceType with node auto-provisioning (IS3, Kaito's webhook too); autoscaled with neither "
                     "max-replicas nor nodeCountLimit, which keda-kaito-scaler skips silently (IS7)",
                     ("KC-IS3", "KC-IS7"), (MISSING_INSTANCE_TYPE, NO_MAXIMUM), workspaces=0),
    "inference/kaito_inferenceset_mig_single_strategy.yaml":
        rejected_set("as the mixed-strategy example", ("KC-IS3", "KC-IS7"), (MISSING_INSTANCE_TYPE, NO_MAXIMUM),
                     workspaces=0),
    "inference/kaito_inferenceset_mistral_7b-instruct.yaml":
        rejected_set("autoscaled on fixed NodeClaims, no metrics source", ("KC-IS8", "KC-IS10"),
                     (FIXED_NODES, NO_PROMETHEUS), workspaces=1),
    "inference/kaito_inferenceset_phi_4_mini.yaml":
        rejected_set("autoscaled on fixed NodeClaims, no metrics source", ("KC-IS8", "KC-IS10"),
                     (FIXED_NODES, NO_PROMETHEUS), workspaces=1),
    # --- the GWIE guide's routing objects are not kaito.sh objects ----------------------------------
    "gateway-api-inference-extension/destinationrule-mistral-7b-instruct.yaml": ignored(GWIE, ("KC-N001",)),
    "gateway-api-inference-extension/destinationrule-phi-4-mini-instruct.yaml": ignored(GWIE, ("KC-N001",)),
    "gateway-api-inference-extension/gateway.yaml": ignored(GWIE, ("KC-N001",)),
    "gateway-api-inference-extension/httproute-bbr.yaml": ignored(GWIE, ("KC-N001",)),
    "gateway-api-inference-extension/httproute.yaml": ignored(GWIE, ("KC-N001",)),
    # --- MultiRoleInference is not compiled ---------------------------------------------------------
    "inference/kaito_multiroleinference_deepseek-v3.yaml":
        ignored("a MultiRoleInference (and its Secret)", ("KC-N001", "KC-N002")),
    "inference/kaito_multiroleinference_phi4_4.yaml": ignored("a MultiRoleInference", ("KC-N002",)),
    # --- inference Workspaces ---------------------------------------------------------------------
    "inference/kaito_workspace_accelerator.yaml":
        rejected("written for BYO nodes with enableAccelerator: with node auto-provisioning instanceType is "
                 "required (C3) and partitions are refused (I6)", ("KC-C3", "KC-I6"),
                 ("instanceType is required when node auto-provisioning is enabled",
                  "GPU partitioning is only supported with BYO nodes")),
    "inference/kaito_workspace_custom_config.yaml":
        accepted("its ConfigMap's max-model-len 131072 is the model's limit, and fits one A100",
                 notes=("KC-N001",)),
    "inference/kaito_workspace_deepseek_r1.yaml": accepted("vLLM estimator: 5 × NC80adis_H100 (count is ignored)"),
    "inference/kaito_workspace_deepseek_r1_distill_llama_8b.yaml": accepted("one A100"),
    "inference/kaito_workspace_deepseek_r1_distill_qwen_14b.yaml": accepted("one A100"),
    "inference/kaito_workspace_deepseek_v3.yaml": accepted("vLLM estimator: 5 × NC80adis_H100"),
    "inference/kaito_workspace_gemma_3_27b_instruct.yaml": accepted("gated model with a modelAccessSecret"),
    "inference/kaito_workspace_gemma_3_4b_instruct.yaml": accepted("gated model with a modelAccessSecret, one A10"),
    "inference/kaito_workspace_gpt_oss_120b.yaml":
        accepted("NAP + vLLM has no admission memory check; the estimator spreads it over 3 A100 nodes",
                 notes=("KC-N001",)),
    "inference/kaito_workspace_gpt_oss_20b.yaml":
        accepted("two A10 nodes by the estimator; its ConfigMap only sets gpu-memory-utilization",
                 notes=("KC-N001",)),
    "inference/kaito_workspace_llama-3.1_8b_instruct.yaml": accepted("one 4-GPU A100 node"),
    "inference/kaito_workspace_llama-3.3_70b_instruct.yaml":
        accepted("max-model-len 16384 within the limit; NC48ads nodes by the estimator", notes=("KC-N001",)),
    "inference/kaito_workspace_ministral_3_14b_instruct.yaml": accepted("vLLM-only model on the vLLM runtime"),
    "inference/kaito_workspace_ministral_3_3b_instruct.yaml": accepted("vLLM-only model on one A10"),
    "inference/kaito_workspace_ministral_3_8b_instruct.yaml": accepted("vLLM-only model on one A100"),
    "inference/kaito_workspace_mistral_7b-instruct.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_mistral_7b.yaml": accepted("legacy alias mistral-7b → Mistral-7B-v0.3"),
    "inference/kaito_workspace_mistral_large_3_675b_instruct.yaml": accepted("vLLM estimator: 5 × NC80adis_H100"),
    "inference/kaito_workspace_phi_3.5-instruct.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_3_medium_128k.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_3_medium_4k.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_3_mini_128k.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_3_mini_4k.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_3_with_adapters.yaml":
        rejected("adapter strength on the vLLM runtime (I13); kaito-compile also applies the adapter rules on "
                 "create (kaito-api.md §1.7.4), so the upper-case placeholder image is refused (A6)",
                 ("KC-I13", "KC-A6"), (STRENGTH_ON_VLLM, UPPERCASE_ADAPTER)),
    "inference/kaito_workspace_phi_4.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_4_mini.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_phi_4_mini_throughput.yaml": accepted("performance-mode throughput is valid"),
    "inference/kaito_workspace_qwen_2.5_coder_32b-instruct.yaml": accepted("vLLM estimator: one A100"),
    "inference/kaito_workspace_qwen_2.5_coder_7b-instruct.yaml": accepted("legacy alias"),
    "inference/kaito_workspace_tool_calling.yaml":
        accepted("max-model-len 4096 and tool-call flags are scalars", notes=("KC-N001",)),
    # --- Azure Arc examples: run on an Arc cluster (CLOUD_PROVIDER=arc) ----------------------------
    **{f"inference/arc-examples/{name}": rejected(ARC_PLACEHOLDER, ("KC-I8",), (PLACEHOLDER_SKU,), config=ARC)
       for name in (
           "kaito_workspace_deepseek_r1_distill_llama_8b.yaml",
           "kaito_workspace_deepseek_r1_distill_qwen_14b.yaml",
           "kaito_workspace_phi_3.5-instruct.yaml",
           "kaito_workspace_phi_3_medium_128k.yaml",
           "kaito_workspace_phi_3_medium_4k.yaml",
           "kaito_workspace_phi_3_mini_128k.yaml",
           "kaito_workspace_phi_3_mini_4k.yaml",
           "kaito_workspace_phi_4_mini.yaml",
           "kaito_workspace_qwen_2.5_coder_7b-instruct.yaml",
       )},
    "inference/arc-examples/kaito_workspace_deepseek_r1_distill_llama_8b_with_customized_config.yaml":
        rejected(ARC_PLACEHOLDER + "; its own ConfigMap is valid", ("KC-I8",), (PLACEHOLDER_SKU,),
                 notes=("KC-N001",), config=ARC),
    "inference/arc-examples/kaito_workspace_phi_3_with_adapters.yaml":
        rejected(ARC_PLACEHOLDER + "; adapter strength on vLLM (I13); upper-case adapter image (A6, §1.7.4)",
                 ("KC-I8", "KC-I13", "KC-A6"), (PLACEHOLDER_SKU, STRENGTH_ON_VLLM, UPPERCASE_ADAPTER), config=ARC),
}

SCENARIOS: dict[str, Expected] = {
    "inference/kaito_workspace_accelerator.yaml":
        accepted("on the cluster it is written for (BYO, enableAccelerator, 4-GPU nodes): 2 GPUs hold the weights",
                 config=BYO_ACCELERATOR),
    "inference/kaito_inferenceset_llama-3.1_8b_instruct.yaml":
        accepted("Karpenter grows the nodes and KEDA reads Prometheus: one scaled workload", notes=("KC-N001",),
                 config=KEDA_CLUSTER),
    "inference/kaito_inferenceset_mistral_7b-instruct.yaml":
        accepted("Karpenter and Prometheus: one scaled workload", config=KEDA_CLUSTER),
    "inference/kaito_inferenceset_phi_4_mini.yaml":
        accepted("Karpenter and Prometheus: one scaled workload", config=KEDA_CLUSTER),
}
"""Second runs of examples on the cluster shape they were written for."""


def upstream_files() -> list[str]:
    return sorted(p.relative_to(UPSTREAM).as_posix() for p in UPSTREAM.rglob("*") if p.suffix in (".yaml", ".yml"))


def config_maps(path: Path) -> list[dict]:
    """The file's own ConfigMap documents, as kaito-compile.yaml entries (what a user would declare)."""
    found = []
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "ConfigMap" and doc.get("apiVersion") == "v1":
            meta = doc.get("metadata") or {}
            found.append({"name": meta["name"], "namespace": meta.get("namespace", "default"),
                          "data": {k: str(v) for k, v in (doc.get("data") or {}).items()}})
    return found


def validate(path: Path, config: dict, tmp_path: Path) -> tuple[int, dict]:
    project = {**config, "configMaps": config_maps(path)}
    config_file = tmp_path / "kaito-compile.yaml"
    config_file.write_text(yaml.safe_dump(project, sort_keys=False))
    result = CliRunner().invoke(cli, ["--format", "json", "--config", str(config_file), "validate", str(path)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def check(name: str, expected: Expected, tmp_path: Path) -> None:
    exit_code, report = validate(UPSTREAM / name, expected.config, tmp_path)
    diagnostics = report["diagnostics"]
    errors = [d for d in diagnostics if d["severity"] == "error"]
    context = f"{name} should be {expected.outcome} ({expected.reason}); got " + "; ".join(
        f"{d['code']} {d['message']}" for d in errors)
    assert {d["code"] for d in errors} == expected.errors, context
    for message in expected.messages:
        assert any(message in d["message"] for d in errors), f"{context}\n  missing the reason {message!r}"
    assert exit_code == (1 if expected.errors else 0), context
    assert report["summary"]["workspaces"] == expected.workspaces, context
    assert {d["code"] for d in diagnostics if d["severity"] == "note"} == expected.notes, context


def test_every_upstream_example_has_an_expectation():
    files = upstream_files()
    assert files, "no upstream examples found"
    assert sorted(set(files) - set(EXPECTED)) == [], "upstream examples without an expected outcome"
    assert sorted(set(EXPECTED) - set(files)) == [], "expectations for files that are not upstream"
    assert set(SCENARIOS) <= set(files)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_upstream_example(name: str, tmp_path: Path):
    check(name, EXPECTED[name], tmp_path)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_upstream_example_on_its_intended_cluster(name: str, tmp_path: Path):
    check(name, SCENARIOS[name], tmp_path)


def test_config_maps_come_from_the_file_itself(tmp_path: Path):
    """Without its own ConfigMap declared, an example that names one is refused (IC1): the compiler
    knows only the ConfigMaps of kaito-compile.yaml, so the declaration above is what makes it pass."""
    name = "inference/kaito_workspace_tool_calling.yaml"
    assert config_maps(UPSTREAM / name)
    config_file = tmp_path / "kaito-compile.yaml"
    config_file.write_text(yaml.safe_dump(KAITO_DEFAULTS))
    result = CliRunner().invoke(cli, ["--format", "json", "--config", str(config_file), "validate",
                                      str(UPSTREAM / name)])
    codes = {d["code"] for d in json.loads(result.stdout)["diagnostics"] if d["severity"] == "error"}
    assert codes == {"KC-IC1"} and result.exit_code == 1


def test_tuning_example_is_planned_with_its_gpus(tmp_path: Path):
    """The PVC tuning example runs kaito-compile's tuning runtime, whatever the inference runtime:
    under Kaito's default (vllm) its legacy V100 SKU still gives the Job one GPU (it used to give 0)."""
    config_file = tmp_path / "kaito-compile.yaml"
    config_file.write_text(yaml.safe_dump(KAITO_DEFAULTS))
    result = CliRunner().invoke(cli, ["--format", "json", "--config", str(config_file), "plan",
                                      str(UPSTREAM / "fine-tuning/kaito_workspace_tuning_phi_3_with_pvc_volume.yaml")])
    assert result.exit_code == 0, result.output
    (plan,) = json.loads(result.stdout)
    assert (plan["kind"], plan["sku"], plan["gpusPerNode"], plan["nodes"]) == ("tuning", "Standard_NC6s_v3", 1, 1)
