"""vLLM conformance: Kaito's own examples, compiled, compared field by field with kaito-api.md §4.

Every preset Workspace example under ``../shared/upstream/kaito/examples`` is compiled with a
project config of Kaito's defaults — ``cloud: azure``, ``provisioner: gpu-provisioner``,
``runtime: vllm`` and ``nvmeStorageClass: true`` (the chart installs ``kaito-local-nvme-disk``;
A100/H100 SKUs therefore get the PVC template, the A10 SKUs the emptyDir: both branches of
§4.3.1/§4.3.7 are covered). ConfigMaps that live in the example file are declared in that config.

Variants (the example's spec plus one stated change) reach the branches no example does: the
adapter example without ``strength`` (which vLLM rejects, §1.5 I13 — the example itself is asserted
rejected) as an image adapter with a pull secret and as a volume adapter compiled with
``nvmeStorageClass: false``; three examples with ``provisioner: karpenter`` (NodePool §4.8); and
examples with the §1.4 annotations disable-benchmark, enablelb, node-image-family and
use-local-weights. Examples not covered are in SKIPPED, each with its reason.

The expected objects are built HERE, independently, from the contract's tables: §2.2 (model
sizes, BytesPerToken, disk, startup failureThreshold), §2.4 (static vLLM flags), §3.1 (SKUs),
§2.5 (the node estimator formula, cross-checked against the §2.5(e) table, and the parallelism
rules), §4.2 (Services), §4.3 (StatefulSet, command line, probes, env, volumes, affinity,
tolerations), §4.7 (NodeClaims) and §4.8 (NodePool). Nothing is derived from our planner or emitter. The
``/bin/sh -c`` command strings are parsed into (entry, flags); flags are compared as a dict and
must appear sorted (§6.6.1). API defaults (probe timeouts, TCP, targetPort = port, empty lists)
are filled in on both sides before comparing.

Deliberate differences (the only things the comparison ignores; each is checked for its shape;
the same list is DELIBERATE_DIFFERENCES below):

- app.kubernetes.io/managed-by: label ``kaito-compile`` on every object: GitOps ownership of
  compiled objects (README "Deliberate differences").
- kaito.sh/workspace: label ``<ws>`` on Services, the StatefulSet and the NodePool too (Kaito
  sets no such label there): groups every object of a workspace (README).
- kaito-compile.dev/spec-hash: annotation ``sha256:<hex>`` on every object: traceability to the
  source document (§6.1 recommends stamping a hash).
- ownerReferences: omitted, the Workspace UID is unknown ahead of time (§6.3).
- workspace.kaito.io/revision: always ``"1"``, the controller's number is history-dependent
  (§6.1); expected as "1".
- NodeClaim names: ``ws`` + 9 hex, deterministic per (namespace, workspace, index) instead of
  time-seeded (§4.7, §6.6.3); only the shape and uniqueness are checked.
- NodeClaim metadata.namespace: omitted, NodeClaim is cluster-scoped and the API server ignores
  Kaito's value (§4.7).
- ControllerRevision: not emitted, it is controller rollout bookkeeping (§6.1), replaced by the
  spec-hash annotation.
- argocd.argoproj.io/sync-wave: annotation (an integer) on every object, and
  argocd.argoproj.io/sync-options ``SkipDryRunOnMissingResource=true`` on NodeClaims/NodePools,
  when present: Argo CD ordering nodes → config → workloads → services (kaito_compile/gitops/).
- ConfigMap: those declared in kaito-compile.yaml are emitted beside the workload so GitOps
  applies them (Kaito expects the user to create them); their data must equal the example's.
- ignore-check.kube-linter.io/<check> (a reason) and polaris.fairwinds.com/<check>-exempt ("true"):
  annotations on the StatefulSet exempting Kaito's root-running vLLM image from the linters' root checks
  (kaito_compile/emit/common.py linter_exemptions).

Not ignored but asserted: flags of the vLLM command and of the health checks appear sorted
(§6.6.1), and are otherwise compared as a dict.

Field-level departures that are deliberate but need a path pattern are in KNOWN_DISAGREEMENTS (the
adapter puller: ours, exec form, instead of Kaito's skopeo shell script): each must still occur and
nothing else may differ.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shlex
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from tests.support.shared import SHARED, requires_shared

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

UPSTREAM_EXAMPLES = SHARED / "upstream" / "kaito" / "examples"

pytestmark = requires_shared(UPSTREAM_EXAMPLES, "the upstream Kaito examples")

DELIBERATE_DIFFERENCES = (
    ("app.kubernetes.io/managed-by", "label on every object: GitOps ownership of compiled objects"),
    ("kaito.sh/workspace", "label on Services, StatefulSet, NodePool: groups a workspace's objects"),
    ("kaito-compile.dev/spec-hash", "annotation on every object: traceability to the source document (§6.1)"),
    ("ownerReferences", "omitted: the Workspace UID is unknown ahead of time (§6.3)"),
    ("workspace.kaito.io/revision", 'always "1": the controller\'s revision is history-dependent (§6.1)'),
    ("NodeClaim names", "deterministic ws+9 hex per index instead of time-seeded (§4.7, §6.6.3)"),
    ("NodeClaim metadata.namespace", "omitted: NodeClaim is cluster-scoped, the value is ignored (§4.7)"),
    ("ControllerRevision", "not emitted: controller rollout bookkeeping (§6.1)"),
    ("argocd.argoproj.io/sync-wave", "annotation, when present: Argo CD sync order (gitops/sync.py)"),
    ("argocd.argoproj.io/sync-options", "SkipDryRunOnMissingResource=true on NodeClaims/NodePools, if present"),
    ("ConfigMap", "configs declared in kaito-compile.yaml are emitted so GitOps applies them"),
    ("ignore-check.kube-linter.io/", "linter exemptions with a reason on the StatefulSet (Kaito's image runs as root)"),
    ("polaris.fairwinds.com/", "the same exemptions for Polaris"),
)

# ---------------------------------------------------------------------------------------------------------------
# The contract's tables, transcribed (kaito-api.md). Only the rows the examples use.
# ---------------------------------------------------------------------------------------------------------------

# §3.1 Azure SKUs: GPUs per node, GPU model, total GPU memory per node (GiB), NVMe.
AZURE_SKUS = {
    "Standard_NV36ads_A10_v5": (1, "NVIDIA A10", 24, False),
    "Standard_NV72ads_A10_v5": (2, "NVIDIA A10", 48, False),
    "Standard_NC24ads_A100_v4": (1, "NVIDIA A100", 80, True),
    "Standard_NC48ads_A100_v4": (2, "NVIDIA A100", 160, True),
    "Standard_NC96ads_A100_v4": (4, "NVIDIA A100", 320, True),
    "Standard_ND96asr_A100_v4": (8, "NVIDIA A100", 320, False),
    "Standard_ND96amsr_A100_v4": (8, "NVIDIA A100", 640, True),
    "Standard_NC40ads_H100_v5": (1, "NVIDIA H100", 94, True),
    "Standard_NC80adis_H100_v5": (2, "NVIDIA H100", 188, True),
    "Standard_ND96isr_H100_v5": (8, "NVIDIA H100", 640, True),
    "Standard_ND96isr_H200_v5": (8, "NVIDIA H200", 1128, True),
}

# §2.2: preset name → (HF id, short name, modelFileSize, disk requirement, BytesPerToken, startup FT).
MODELS = {
    "phi-4": ("microsoft/phi-4", "phi-4", "27.31Gi", "107Gi", 204800, 180),
    "phi-4-mini-instruct": ("microsoft/Phi-4-mini-instruct", "phi-4-mini-instruct", "7.15Gi", "87Gi", 131072, 180),
    "phi-3-mini-4k-instruct": ("microsoft/Phi-3-mini-4k-instruct", "phi-3-mini-4k-instruct", "7.12Gi", "87Gi",
                               393216, 180),
    "phi-3-mini-128k-instruct": ("microsoft/Phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct", "7.12Gi",
                                 "87Gi", 393216, 180),
    "phi-3-medium-4k-instruct": ("microsoft/Phi-3-medium-4k-instruct", "phi-3-medium-4k-instruct", "26.00Gi",
                                 "106Gi", 204800, 180),
    "phi-3-medium-128k-instruct": ("microsoft/Phi-3-medium-128k-instruct", "phi-3-medium-128k-instruct", "26.00Gi",
                                   "106Gi", 204800, 180),
    "phi-3.5-mini-instruct": ("microsoft/Phi-3.5-mini-instruct", "phi-3.5-mini-instruct", "7.12Gi", "87Gi", 393216,
                              180),
    "llama-3.1-8b-instruct": ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct", "14.96Gi", "94Gi",
                              131072, 180),
    "llama-3.3-70b-instruct": ("meta-llama/Llama-3.3-70B-Instruct", "llama-3.3-70b-instruct", "131.42Gi", "211Gi",
                               327680, 327),
    "deepseek-r1-distill-llama-8b": ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-r1-distill-llama-8b",
                                     "14.96Gi", "94Gi", 131072, 180),
    "deepseek-r1-distill-qwen-14b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1-distill-qwen-14b",
                                     "27.51Gi", "107Gi", 196608, 180),
    "deepseek-r1-0528": ("deepseek-ai/DeepSeek-R1-0528", "deepseek-r1-0528", "641.30Gi", "721Gi", 70272, 1080),
    "deepseek-v3-0324": ("deepseek-ai/DeepSeek-V3-0324", "deepseek-v3-0324", "641.30Gi", "721Gi", 70272, 1080),
    "qwen2.5-coder-7b-instruct": ("Qwen/Qwen2.5-Coder-7B-Instruct", "qwen2.5-coder-7b-instruct", "14.19Gi", "94Gi",
                                  57344, 180),
    "qwen2.5-coder-32b-instruct": ("Qwen/Qwen2.5-Coder-32B-Instruct", "qwen2.5-coder-32b-instruct", "61.03Gi",
                                   "141Gi", 262144, 200),
    "gpt-oss-20b": ("openai/gpt-oss-20b", "gpt-oss-20b", "25.63Gi", "105Gi", 49152, 180),
    "gpt-oss-120b": ("openai/gpt-oss-120b", "gpt-oss-120b", "121.54Gi", "201Gi", 73728, 309),
    "gemma-3-4b-instruct": ("google/gemma-3-4b-it", "gemma-3-4b-it", "8.01Gi", "88Gi", 139264, 180),
    "gemma-3-27b-instruct": ("google/gemma-3-27b-it", "gemma-3-27b-it", "51.10Gi", "131Gi", 507904, 182),
    "mistral-7b": ("mistralai/Mistral-7B-v0.3", "mistral-7b-v0.3", "13.50Gi", "93Gi", 131072, 180),
    "mistral-7b-instruct": ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-instruct-v0.3", "13.50Gi", "93Gi",
                            131072, 180),
    "ministral-3-3b-instruct": ("mistralai/Ministral-3-3B-Instruct-2512", "ministral-3-3b-instruct-2512", "4.35Gi",
                                "84Gi", 106496, 180),
    "ministral-3-8b-instruct": ("mistralai/Ministral-3-8B-Instruct-2512", "ministral-3-8b-instruct-2512", "9.70Gi",
                                "89Gi", 139264, 180),
    "ministral-3-14b-instruct": ("mistralai/Ministral-3-14B-Instruct-2512", "ministral-3-14b-instruct-2512",
                                 "14.65Gi", "94Gi", 163840, 180),
    "mistral-large-3-675b-instruct": ("mistralai/Mistral-Large-3-675B-Instruct-2512",
                                      "mistral-large-3-675b-instruct-2512", "634.70Gi", "714Gi", 70272, 1080),
}


def _static(lct: str, dtype: str, tool: str | None = None, reasoning: str | None = None,
            template: str | None = None) -> dict[str, str]:
    """§2.4 "every catalog model gets" + the row's parsers and chat template."""
    flags = {"load_format": lct, "config_format": lct, "tokenizer_mode": lct, "trust-remote-code": "",
             "dtype": dtype}
    if lct == "deepseek":  # only the tokenizer mode is overridden for deepseek-r1*/v3*
        flags.update(load_format="auto", config_format="auto", tokenizer_mode="deepseek_v32")
    if tool:
        flags.update({"tool-call-parser": tool, "enable-auto-tool-choice": ""})
    if reasoning:
        flags["reasoning-parser"] = reasoning
    if template:
        flags["chat-template"] = f"/workspace/chat_templates/{template}"
    return flags


# §2.4 static flags per short name (load/config/tokenizer, dtype, tool parser, reasoning parser, chat template).
STATIC_FLAGS = {
    **{s: _static("auto", "bfloat16") for s in (
        "phi-4", "phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3-medium-4k-instruct",
        "phi-3-medium-128k-instruct", "phi-3.5-mini-instruct")},
    "phi-4-mini-instruct": _static("auto", "bfloat16", template="tool-chat-phi4-mini.jinja"),
    "deepseek-r1-distill-llama-8b": _static("deepseek", "bfloat16", "deepseek_v3", "deepseek_r1",
                                            "tool-chat-deepseekr1.jinja"),
    "deepseek-r1-distill-qwen-14b": _static("deepseek", "bfloat16", "deepseek_v3", "deepseek_r1",
                                            "tool-chat-deepseekr1.jinja"),
    "deepseek-r1-0528": _static("deepseek", "auto", "deepseek_v3", "deepseek_r1", "tool-chat-deepseekr1.jinja"),
    "deepseek-v3-0324": _static("deepseek", "auto", "deepseek_v3", "deepseek_v3", "tool-chat-deepseekv3.jinja"),
    "qwen2.5-coder-7b-instruct": _static("auto", "bfloat16", "hermes", template="tool-chat-hermes.jinja"),
    "qwen2.5-coder-32b-instruct": _static("auto", "bfloat16", "hermes", template="tool-chat-hermes.jinja"),
    "gpt-oss-20b": _static("auto", "auto", "openai", "openai_gptoss"),
    "gpt-oss-120b": _static("auto", "auto", "openai", "openai_gptoss"),
    "llama-3.1-8b-instruct": _static("auto", "bfloat16", "llama3_json", template="tool-chat-llama3.1-json.jinja"),
    "llama-3.3-70b-instruct": _static("auto", "bfloat16", "llama3_json", template="tool-chat-llama3.1-json.jinja"),
    "mistral-7b-v0.3": _static("mistral", "bfloat16", "mistral"),
    "mistral-7b-instruct-v0.3": _static("mistral", "bfloat16", "mistral"),
    **{s: _static("mistral", "auto") for s in (
        "ministral-3-3b-instruct-2512", "ministral-3-8b-instruct-2512", "ministral-3-14b-instruct-2512")},
    "mistral-large-3-675b-instruct-2512": _static("mistral", "auto", "mistral"),
    "gemma-3-4b-it": _static("auto", "bfloat16", "functiongemma"),
    "gemma-3-27b-it": _static("auto", "bfloat16", "functiongemma"),
}
# §2.4 last column "kv-offload=0" among these models (GptOss: LMCache disabled). None of them has DEEP_GEMM=1 or
# cuda-toolkit.
KV_OFFLOAD_ZERO = {"gpt-oss-20b", "gpt-oss-120b"}

# §2.5(e) precomputed targetNodeCount at the default context 2048, by column SKU.
TABLE_COLUMNS = ("Standard_NV36ads_A10_v5", "Standard_NV72ads_A10_v5", "Standard_NC24ads_A100_v4",
                 "Standard_NC48ads_A100_v4", "Standard_NC96ads_A100_v4", "Standard_ND96asr_A100_v4",
                 "Standard_ND96amsr_A100_v4", "Standard_NC40ads_H100_v5", "Standard_NC80adis_H100_v5",
                 "Standard_ND96isr_H100_v5", "Standard_ND96isr_H200_v5")
_ROW_14B = (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
_ROW_SMALL = (1,) * 11
_ROW_671B = (39, 20, 11, 6, 3, 3, 2, 9, 5, 2, 1)
NODE_TABLE = {
    **{s: _ROW_14B for s in ("phi-4", "phi-3-medium-4k-instruct", "phi-3-medium-128k-instruct",
                             "deepseek-r1-distill-qwen-14b", "gpt-oss-20b")},
    **{s: _ROW_SMALL for s in ("phi-4-mini-instruct", "phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct",
                               "phi-3.5-mini-instruct", "llama-3.1-8b-instruct", "deepseek-r1-distill-llama-8b",
                               "qwen2.5-coder-7b-instruct", "mistral-7b-v0.3", "mistral-7b-instruct-v0.3",
                               "ministral-3-3b-instruct-2512", "ministral-3-8b-instruct-2512",
                               "ministral-3-14b-instruct-2512", "gemma-3-4b-it")},
    "qwen2.5-coder-32b-instruct": (4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1),
    "gemma-3-27b-it": (4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    "gpt-oss-120b": (8, 4, 3, 2, 1, 1, 1, 2, 1, 1, 1),
    "llama-3.3-70b-instruct": (9, 5, 3, 2, 1, 1, 1, 2, 1, 1, 1),
    **{s: _ROW_671B for s in ("deepseek-r1-0528", "deepseek-v3-0324", "mistral-large-3-675b-instruct-2512")},
}

KAITO_BASE = "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0"  # §4.1
SKOPEO = "mcr.microsoft.com/aks/skopeo:1.14.4-6"  # §4.1
VLLM_ENTRY = "python3 /workspace/vllm/inference_api.py"
KV_EVENTS = "'{\"enable_kv_cache_events\":true}'"
GI = 1 << 30

# ---------------------------------------------------------------------------------------------------------------
# Which examples are covered, which are skipped (and why). Every example file must be in exactly one.
# ---------------------------------------------------------------------------------------------------------------

SKIPPED = {
    **{f"inference/kaito_inferenceset_{name}.yaml": "InferenceSet: compared in test_inferenceset_objects.py"
       for name in ("llama-3.1_8b_instruct", "mig_mixed_strategy", "mig_single_strategy", "mistral_7b-instruct",
                    "phi_4_mini")},
    **{f"gateway-api-inference-extension/{name}.yaml": "the GWIE guide's routing objects (the user's, not "
       "compiled): httproute.yaml is compared in test_inferenceset_objects.py"
       for name in ("destinationrule-mistral-7b-instruct", "destinationrule-phi-4-mini-instruct", "gateway",
                    "httproute", "httproute-bbr")},
    "inference/kaito_multiroleinference_deepseek-v3.yaml": "MultiRoleInference (§6.8): not a Workspace",
    "inference/kaito_multiroleinference_phi4_4.yaml": "MultiRoleInference (§6.8): not a Workspace",
    "inference/kaito_workspace_accelerator.yaml": "BYO-only: accelerator partition needs provisioner byo + gate",
    "custom-model-integration/custom-model-deployment.yaml": "inference.template: no vLLM preset (§4.4)",
    **{f"inference/arc-examples/{name}": "Arc BYO example: instanceType is the placeholder <your-vm-sku>"
       for name in ("kaito_workspace_deepseek_r1_distill_llama_8b.yaml",
                    "kaito_workspace_deepseek_r1_distill_llama_8b_with_customized_config.yaml",
                    "kaito_workspace_deepseek_r1_distill_qwen_14b.yaml", "kaito_workspace_phi_3.5-instruct.yaml",
                    "kaito_workspace_phi_3_medium_128k.yaml", "kaito_workspace_phi_3_medium_4k.yaml",
                    "kaito_workspace_phi_3_mini_128k.yaml", "kaito_workspace_phi_3_mini_4k.yaml",
                    "kaito_workspace_phi_3_with_adapters.yaml", "kaito_workspace_phi_4_mini.yaml",
                    "kaito_workspace_qwen_2.5_coder_7b-instruct.yaml")},
}
# Rejected at admission under vLLM, asserted as such (§1.5 I13), and compiled as variants below.
REJECTED = {"inference/kaito_workspace_phi_3_with_adapters.yaml": "KC-I13"}
ADAPTERS_EXAMPLE = "inference/kaito_workspace_phi_3_with_adapters.yaml"
# Variants of the adapter example a vLLM user would write: no `strength` (I13) and a valid image reference instead
# of the placeholder (whose upper case fails the adapter image rule). "#image-adapter" adds a pull secret;
# "#volume-adapter" takes the adapter from a PVC and is compiled without the NVMe StorageClass (emptyDir weights).
IMAGE_ADAPTER = f"{ADAPTERS_EXAMPLE}#image-adapter"
VOLUME_ADAPTER = f"{ADAPTERS_EXAMPLE}#volume-adapter"
# A few examples compiled again with provisioner karpenter (NodePool §4.8 instead of NodeClaims §4.7).
KARPENTER = "@karpenter"
# Examples compiled again with Workspace annotations of §1.4 added (the spec is otherwise the example's).
ANNOTATED = {
    "inference/kaito_workspace_phi_4_mini.yaml#no-benchmark-lb": {
        "kaito.sh/disable-benchmark": "true", "kaito.sh/enablelb": "True", "kaito.sh/node-image-family": "AzureLinux"},
    "inference/kaito_workspace_deepseek_r1.yaml#no-benchmark": {"kaito.sh/disable-benchmark": "true"},
    "inference/kaito_workspace_phi_4_mini.yaml#local-weights": {"kaito.sh/use-local-weights": "true"},
    "inference/kaito_workspace_phi_3_mini_4k.yaml#local-weights": {"kaito.sh/use-local-weights": "true"},
}

COVERED = sorted(
    str(p.relative_to(UPSTREAM_EXAMPLES)) for p in UPSTREAM_EXAMPLES.rglob("*.yaml")
    if str(p.relative_to(UPSTREAM_EXAMPLES)) not in SKIPPED and str(p.relative_to(UPSTREAM_EXAMPLES)) not in REJECTED
    and str(p.relative_to(UPSTREAM_EXAMPLES)).startswith("inference/")
) if UPSTREAM_EXAMPLES.is_dir() else []
CASES = COVERED + [IMAGE_ADAPTER, VOLUME_ADAPTER] + [
    f"inference/{name}{KARPENTER}" for name in ("kaito_workspace_phi_4_mini.yaml",
                                                "kaito_workspace_llama-3.3_70b_instruct.yaml",
                                                "kaito_workspace_deepseek_r1.yaml")] + sorted(ANNOTATED)


def case_settings(case: str) -> dict:
    return {"provisioner": "karpenter" if case.endswith(KARPENTER) else "gpu-provisioner",
            "nvme_storage_class": case != VOLUME_ADAPTER}


# Field-level departures from §4 that are deliberate but need a path pattern (case or "*", path regex) → why.
# Every entry must still occur (a change makes the test fail until the entry is removed); nothing else may differ.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {
    (IMAGE_ADAPTER, r"initContainers\[puller-[^]]+\]\.(image|command|args|securityContext"
                    r"|volumeMounts\[docker-config-[^]]+\]\.mountPath)$"):
        "§4.3.6: the image-adapter init container is Kaito's skopeo image running the rendered puller.sh "
        "(command [/bin/sh, -c], args [script]); kaito_compile/emit/inference.py::_adapter_pullers gives the vLLM "
        "StatefulSet our kaito-inference image, `python3 -m kaito_runtime.artifact pull --image= --dest=` and a "
        "restricted securityContext: deliberate (README), user image references never go into a shell script. "
        "Its pull secrets are mounted under /mnt/pull-secrets/, not /root/.docker/config.d/, which uid 1000 cannot "
        "traverse (docs/runtime-contract.md)",
}


# ---------------------------------------------------------------------------------------------------------------
# The independent expectation builder.
# ---------------------------------------------------------------------------------------------------------------

def quantity_bytes(quantity: str) -> int:
    """resource.Quantity(...).Value(): bytes, rounded up."""
    number = re.fullmatch(r"([0-9.]+)Gi", quantity)[1]
    return math.ceil(Decimal(number) * GI)


def estimate_nodes(size: str, bytes_per_token: int, sku: str, max_model_len: int | None) -> int:
    """§2.5(a), transcribed: u 0.84, expansion 1.02, base 2.3 GiB, overhead 5 %, floor + 1."""
    gpus, _, total_gi, _ = AZURE_SKUS[sku]
    model_size = quantity_bytes(size) * 1.02
    per_gpu = float((total_gi * GI) // gpus)
    avail = per_gpu * 0.84
    fixed = 2.3 * GI + (float(max_model_len or 2048) * bytes_per_token) / gpus
    assert avail > fixed, "estimator error: GPU memory too small"
    usable = (avail - fixed) / 1.05
    min_gpus = math.floor(model_size / usable) + 1
    return max(1, math.ceil(min_gpus / gpus))


def disk_requirement(size: str) -> str:
    """§2.1 DiskStorageRequirement."""
    return f"{math.floor(Decimal(size[:-2]) + 80)}Gi"


def startup_failure_threshold(size: str) -> int:
    """§2.1 ReadinessTimeout clamp(15 min + GiB × 18 s, 30 min, 180 min); FT = ceil(s / 10)."""
    seconds = min(max(900 + quantity_bytes(size) / GI * 18, 1800), 10800)
    return math.ceil(seconds / 10)


def explicit_max_model_len(config_text: str | None) -> int | None:
    if not config_text:
        return None
    value = (yaml.safe_load(config_text) or {}).get("vllm", {}).get("max-model-len")
    return value if isinstance(value, int) and value > 0 else None


def sanitized_match_labels(workspace: dict) -> dict[str, str]:
    reserved = {"kaito.sh/workspace", "kaito.sh/workspacenamespace", "kaito.sh/ragengine",
                "kaito.sh/ragenginenamespace", "karpenter.kaito.sh/workspace-name",
                "karpenter.kaito.sh/workspace-namespace", "karpenter.kaito.sh/inferenceset",
                "karpenter.kaito.sh/inferenceset-namespace"}
    labels = workspace["resource"]["labelSelector"].get("matchLabels") or {}
    return {k: str(v) for k, v in labels.items() if k not in reserved}


def local_weights_path(workspace: dict) -> str | None:
    """§1.4 kaito.sh/use-local-weights: /opt/kaito/models/<preset name lower-cased, / → ->."""
    if (workspace["metadata"].get("annotations") or {}).get("kaito.sh/use-local-weights") != "true":
        return None
    return "/opt/kaito/models/" + workspace["inference"]["preset"]["name"].lower().replace("/", "-")


def expected_flags(workspace: dict, nodes: int, config_text: str | None) -> dict[str, str]:
    """§4.3.3 single-node table + §2.4 static flags + §2.5(c) parallelism."""
    preset = workspace["inference"]["preset"]["name"]
    hf_id, short, size, _, _, _ = MODELS[preset.lower()]
    gpus, gpu_model, total_gi, _ = AZURE_SKUS[workspace["resource"]["instanceType"]]
    flags = dict(STATIC_FLAGS[short])
    flags.update({
        "served-model-name": short,
        "max-model-len": "auto",
        "gpu-memory-utilization": "0.82" if gpu_model == "NVIDIA A10" else "0.84",
        "kv-events-config": KV_EVENTS,
        "compilation-config.pass_config.fuse_allreduce_rms": "False",
        "model": hf_id.lower(),
        "download-dir": "/workspace/weights",
    })
    if short in KV_OFFLOAD_ZERO:
        flags["kaito-kv-cache-cpu-memory-utilization"] = "0"
    if workspace["inference"].get("adapters"):
        flags["enable-lora"] = ""
    if workspace["inference"].get("config"):
        flags["kaito-config-file"] = "/mnt/config/inference_config.yaml"
    mode = (workspace["metadata"].get("annotations") or {}).get("kaito.sh/performance-mode")
    if mode and mode != "balanced":
        flags["performance-mode"] = mode
    if local_weights_path(workspace):  # §4.3.3 --model row, §4.3.7 node-local weights
        del flags["load_format"], flags["download-dir"]
        flags.update({"model": local_weights_path(workspace), "load-format": "runai_streamer"})
    if nodes == 1 and gpus > 1 and quantity_bytes(size) * gpus * 2 < total_gi * GI:
        flags.update({"data-parallel-size": str(gpus), "tensor-parallel-size": "1",
                      "kaito-kv-cache-cpu-memory-utilization": "0"})
    else:
        flags["tensor-parallel-size"] = str(gpus)
    if nodes > 1:
        flags.update({"pipeline-parallel-size": str(nodes), "distributed-executor-backend": "ray",
                      "kaito-kv-cache-cpu-memory-utilization": "0"})
    return flags


def _http_probe(**fields) -> dict:
    return {"httpGet": {"path": "/health", "port": 5000}, **fields}


def _health_check(kind: str, **flags: str) -> dict:
    """§4.3.4 multi-node exec probe ``sh -c "python3 …/multi-node-health-check.py <kind> --flags"``, parsed."""
    return {"command": ["sh", "-c", {"entry": f"python3 /workspace/vllm/multi-node-health-check.py {kind}",
                                     "flags": flags}]}


def expected_objects(workspace: dict, config_maps: dict[str, dict], *, nvme_storage_class: bool,
                     provisioner: str = "gpu-provisioner") -> dict:
    """Every object §4 says Kaito makes for this Workspace, keyed by (kind, name); NodeClaims under one key."""
    ws = workspace["metadata"]["name"]
    ns = workspace["metadata"].get("namespace") or "default"
    annotations = workspace["metadata"].get("annotations") or {}
    sku = workspace["resource"]["instanceType"]
    gpus, _, _, sku_nvme = AZURE_SKUS[sku]
    preset = workspace["inference"]["preset"]
    _, short, size, disk, bpt, ft = MODELS[preset["name"].lower()]
    config_name = workspace["inference"].get("config")
    config_text = config_maps[config_name]["inference_config.yaml"] if config_name else None
    nodes = estimate_nodes(size, bpt, sku, explicit_max_model_len(config_text))
    local = local_weights_path(workspace)
    nvme = nvme_storage_class and sku_nvme and not local  # the PVC template is for downloaded weights only
    labels = sanitized_match_labels(workspace)
    leader = f"{ws}-0.{ws}-headless.{ns}.svc.cluster.local"
    benchmark = annotations.get("kaito.sh/disable-benchmark") != "true"
    access_secret = (preset.get("presetOptions") or {}).get("modelAccessSecret")
    adapters = workspace["inference"].get("adapters") or []
    image_adapters = [a for a in adapters if a["source"].get("image") and not a["source"].get("volumeSource")]
    volume_adapters = [a for a in adapters if a["source"].get("volumeSource")]

    flags = expected_flags(workspace, nodes, config_text)
    # §4.3.3, as parse_container_command() gives it: {part: {entry, flags}}
    command = {"serve": {"entry": VLLM_ENTRY, "flags": flags}}
    if nodes > 1:
        command = {
            "leader": {"entry": "/workspace/vllm/multi-node-serving.sh leader",
                       "flags": {"ray_cluster_size": str(nodes), "ray_port": "6379"}},
            **command,
            "worker": {"entry": "/workspace/vllm/multi-node-serving.sh worker",
                       "flags": {"ray_address": leader, "ray_port": "6379"}},
        }

    # §4.3.2 env (order)
    env = [{"name": "VLLM_USE_FLASHINFER_SAMPLER", "value": "0"}, {"name": "VLLM_USE_DEEP_GEMM", "value": "0"}]
    if local:
        env.append({"name": "KAITO_PROCESSOR", "value": local})
    if access_secret:
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": access_secret, "key": "HF_TOKEN", "optional": True}}})
    if nodes > 1:
        env.append({"name": "POD_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}}})

    # §4.3.2 volumes / volumeMounts (order)
    volumes, mounts = [], []
    if config_name:
        volumes.append({"name": "config-volume", "configMap": {"name": config_name}})
        mounts.append({"name": "config-volume", "mountPath": "/mnt/config"})
    if local:
        volumes.append({"name": "model-weights-hostpath", "hostPath": {"path": local, "type": "Directory"}})
        mounts.append({"name": "model-weights-hostpath", "mountPath": local, "readOnly": True})
    else:
        mounts.append({"name": "model-weights-volume", "mountPath": "/workspace/weights"})
    volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if image_adapters:
        volumes.append({"name": "adapter-volume", "emptyDir": {}})
        mounts.append({"name": "adapter-volume", "mountPath": "/mnt/adapter"})
    for a in image_adapters:
        if a["source"].get("imagePullSecrets"):
            volumes.append({"name": f"docker-config-{a['source']['name']}-inference-adapter", "projected": {
                "sources": [{"secret": {"name": s, "items": [{"key": ".dockerconfigjson", "path": f"{s}.json"}]}}
                            for s in a["source"]["imagePullSecrets"]]}})
    for a in volume_adapters:
        volumes.append({"name": f"adapter-volume-{a['source']['name']}", **a["source"]["volumeSource"]})
        mounts.append({"name": f"adapter-volume-{a['source']['name']}",
                       "mountPath": f"/mnt/adapter/{a['source']['name']}"})
    if not nvme and not local:
        volumes.append({"name": "model-weights-volume", "emptyDir": {}})

    # §4.3.6 image-adapter pullers
    init = []
    for a in image_adapters:
        name = a["source"]["name"]
        puller_mounts = [{"name": "adapter-volume", "mountPath": "/mnt/adapter"}]
        if a["source"].get("imagePullSecrets"):
            puller_mounts.append({"name": f"docker-config-{name}-inference-adapter",
                                  "mountPath": f"/root/.docker/config.d/{name}-inference-adapter"})
        init.append({"name": f"puller-{name}", "image": SKOPEO, "command": ["/bin/sh", "-c"],
                     "args": {"script": "puller.sh", "imgRef": a["source"]["image"],
                              "volDir": f"/mnt/adapter/{name}"},
                     "volumeMounts": puller_mounts})

    # §4.3.4 probes
    if nodes > 1:
        readiness_cmd = _health_check("readiness", **{"leader-address": leader, "vllm-port": "5000"})
        startup = {"exec": readiness_cmd, "initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1,
                   "failureThreshold": ft}
        if benchmark:
            startup = {"exec": {"command": ["/bin/sh", "-c", 'if [ "$POD_INDEX" = "0" ]; then python3 '
                                            "/workspace/vllm/benchmark_entrypoint.py; else true; fi"]},
                       "periodSeconds": 10, "timeoutSeconds": 600, "failureThreshold": ft}
        probes = {
            "startupProbe": startup,
            "livenessProbe": {"exec": _health_check("liveness", **{"leader-address": leader, "ray-port": "6379"}),
                              "initialDelaySeconds": 60, "periodSeconds": 10, "timeoutSeconds": 5,
                              "failureThreshold": 1, "terminationGracePeriodSeconds": 1},
            "readinessProbe": {"exec": readiness_cmd, "initialDelaySeconds": 0, "periodSeconds": 10,
                               "timeoutSeconds": 1, "failureThreshold": 1},
        }
    else:
        startup = _http_probe(initialDelaySeconds=0, periodSeconds=10, failureThreshold=ft)
        if benchmark:
            startup = {"exec": {"command": ["python3", "/workspace/vllm/benchmark_entrypoint.py"]},
                       "periodSeconds": 10, "timeoutSeconds": 600, "failureThreshold": ft}
        probes = {"startupProbe": startup,
                  "livenessProbe": _http_probe(initialDelaySeconds=0, periodSeconds=10, failureThreshold=3),
                  "readinessProbe": _http_probe(initialDelaySeconds=30, periodSeconds=10)}

    gpu = {"nvidia.com/gpu": str(gpus)}
    container = {
        "name": ws, "image": KAITO_BASE, "command": ["/bin/sh", "-c", command],
        "resources": {"requests": gpu, "limits": gpu},
        "ports": [{"name": "http", "containerPort": 5000}, {"name": "kv-events", "containerPort": 5557}],
        "env": env, "volumeMounts": mounts, **probes,
    }
    pod_labels = {"kaito.sh/workspace": ws}
    expressions = [{"key": k, "operator": "In", "values": [v]} for k, v in sorted(labels.items())]
    if provisioner == "karpenter":
        expressions += [{"key": "karpenter.kaito.sh/workspace-name", "operator": "In", "values": [ws]},
                        {"key": "karpenter.kaito.sh/workspace-namespace", "operator": "In", "values": [ns]}]
    else:
        expressions += [{"key": "kaito.sh/workspace", "operator": "In", "values": [ws]},
                        {"key": "kaito.sh/workspacenamespace", "operator": "In", "values": [ns]}]
    pod_spec = {
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": expressions}]}}},
        "tolerations": [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
            {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
             "effect": "NoSchedule"},
        ],
        "initContainers": init,
        "containers": [container],
        "volumes": volumes,
        "imagePullSecrets": [{"name": s} for a in adapters for s in a["source"].get("imagePullSecrets") or []],
    }
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": ws, "namespace": ns, "annotations": {"workspace.kaito.io/revision": "1"}},
        "spec": {
            "replicas": nodes,
            "selector": {"matchLabels": pod_labels},
            "serviceName": f"{ws}-headless",
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": {"whenScaled": "Retain", "whenDeleted": "Delete"},
            "volumeClaimTemplates": [{
                "metadata": {"name": "model-weights-volume", "labels": {"kaito.sh/workspace": ws}},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "kaito-local-nvme-disk",
                         "resources": {"requests": {"storage": disk}}},
            }] if nvme else [],
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }
    load_balancer = annotations.get("kaito.sh/enablelb") == "True"
    ports = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 5000},
             {"name": "ray", "protocol": "TCP", "port": 6379, "targetPort": 6379},
             {"name": "dashboard", "protocol": "TCP", "port": 8265, "targetPort": 8265}]
    if not load_balancer:
        ports.append({"name": "kv-events", "protocol": "TCP", "port": 5557, "targetPort": 5557})
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": ws, "namespace": ns},
        "spec": {"type": "LoadBalancer" if load_balancer else "ClusterIP",
                 "selector": {"kaito.sh/workspace": ws, "statefulset.kubernetes.io/pod-name": f"{ws}-0"},
                 "publishNotReadyAddresses": True, "ports": ports},
    }
    headless = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{ws}-headless", "namespace": ns},
        "spec": {"clusterIP": "None", "selector": {"kaito.sh/workspace": ws}, "ports": [],
                 "publishNotReadyAddresses": True},
    }
    node_claim = {
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {
            "labels": {"karpenter.sh/nodepool": "kaito", "kaito.sh/workspace": ws,
                       "kaito.sh/workspacenamespace": ns, **labels},
            "annotations": {"karpenter.sh/do-not-disrupt": "true",
                            "kaito.sh/node-image-family": (annotations.get("kaito.sh/node-image-family")
                                                           or "ubuntu").strip().lower()},
        },
        "spec": {
            "nodeClassRef": {"name": "default", "kind": "KaitoNodeClass", "group": "kaito.sh"},
            "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
            "requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [sku]},
                {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                {"key": "karpenter.azure.com/sku-name", "operator": "In", "values": [sku]},
            ],
            "resources": {"requests": {"storage": disk}},
        },
    }
    objects = {("Service", ws): service, ("Service", f"{ws}-headless"): headless, ("StatefulSet", ws): statefulset}
    if provisioner == "karpenter":
        pool = f"{ns}-{ws}"
        pool = pool if len(pool) <= 63 else f"{pool[:53]}-{hashlib.sha256(pool.encode()).hexdigest()[:9]}"
        workspace_labels = {"karpenter.kaito.sh/workspace-name": ws, "karpenter.kaito.sh/workspace-namespace": ns}
        objects[("NodePool", pool)] = {
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": pool, "labels": {"karpenter.kaito.sh/managed-by": "kaito", **workspace_labels}},
            "spec": {
                "replicas": nodes,
                "template": {
                    "metadata": {"labels": {**workspace_labels, **labels}},
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.azure.com", "kind": "AKSNodeClass",
                                         "name": annotations.get("kaito.sh/node-class-name") or "image-family-ubuntu"},
                        "requirements": [
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [sku]},
                            {"key": "karpenter.azure.com/placement-scope", "operator": "In", "values": ["regional"]},
                        ],
                        "taints": [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
                    },
                },
                "disruption": {"consolidateAfter": "0s", "budgets": [{"nodes": "1", "reasons": ["Drifted"]}]},
            },
        }
    else:
        objects[("NodeClaim", "*")] = [node_claim] * nodes
    if config_name:  # deliberate: the declared ConfigMap is emitted, with the example's data
        objects[("ConfigMap", config_name)] = {"apiVersion": "v1", "kind": "ConfigMap",
                                               "metadata": {"name": config_name, "namespace": ns},
                                               "data": config_maps[config_name]}
    return objects


# ---------------------------------------------------------------------------------------------------------------
# Command-line parsing, normalisation, deliberate differences, comparison.
# ---------------------------------------------------------------------------------------------------------------

def parse_cmd(command: str) -> tuple[str, dict[str, str], list[str]]:
    """``entry --a=b --c`` → (entry, {a: b, c: ""}, [a, c]); single quotes stay in values (kv-events-config)."""
    tokens = shlex.split(command, posix=False)
    first = next((i for i, t in enumerate(tokens) if t.startswith("--")), len(tokens))
    flags, order = {}, []
    for token in tokens[first:]:
        assert token.startswith("--"), f"not a flag: {token!r} in {command!r}"
        key, _, value = token[2:].partition("=")
        assert key not in flags, f"flag --{key} twice in {command!r}"
        flags[key] = value
        order.append(key)
    return " ".join(tokens[:first]), flags, order


MULTI_NODE = re.compile(
    r'if \[ "\$\{POD_INDEX\}" = "0" \]; then (?P<leader>/workspace/vllm/multi-node-serving\.sh leader [^;]*); '
    r'(?P<serve>[^;]*); else (?P<worker>/workspace/vllm/multi-node-serving\.sh worker [^;]*); fi')


def parse_container_command(command: str, problems: list[str]) -> dict:
    """The §4.3.3 shell string as {part: {entry, flags}}; flag order problems are reported."""

    def parsed(part: str, what: str) -> dict:
        entry, flags, order = parse_cmd(part)
        if order != sorted(order):
            problems.append(f"{what}: flags not sorted: {order}")
        return {"entry": entry, "flags": flags}

    match = MULTI_NODE.fullmatch(command)
    if match is None:
        return {"serve": parsed(command, "command")}
    return {"leader": parsed(match["leader"], "leader"), "serve": parsed(match["serve"], "serve"),
            "worker": parsed(match["worker"], "worker")}


def comparable_statefulset(statefulset: dict, problems: list[str]) -> dict:
    """Shell strings (container command, health checks, puller script) replaced by their parsed form."""
    pod = statefulset["spec"]["template"]["spec"]
    for container in pod["containers"]:
        command = container.get("command") or []
        if command[:2] == ["/bin/sh", "-c"] and len(command) == 3:
            command[2] = parse_container_command(command[2], problems)
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            command = (container.get(probe) or {}).get("exec", {}).get("command") or []
            if command[:2] == ["sh", "-c"] and len(command) == 3:
                entry, flags, order = parse_cmd(command[2])
                if order != sorted(order):
                    problems.append(f"{probe}: health-check flags not sorted: {order}")
                command[2] = {"entry": entry, "flags": flags}
    for init in pod.get("initContainers") or []:
        if init.get("command") == ["/bin/sh", "-c"] and len(init.get("args") or []) == 1:
            init["args"] = _puller_script_facts(init["args"][0])
    return statefulset


PROBE_DEFAULTS = {"initialDelaySeconds": 0, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
                  "failureThreshold": 3}


def normalize(value, path: str = ""):
    """API defaults and omitempty made explicit on both sides, so only meaningful differences remain."""
    if isinstance(value, dict):
        out = {k: normalize(v, f"{path}.{k}") for k, v in value.items()
               if v is not None and not (isinstance(v, list) and not v)}
        if path.endswith("Probe"):
            out = {**PROBE_DEFAULTS, **out}
            if "httpGet" in out:
                out["httpGet"] = {"scheme": "HTTP", **out["httpGet"]}
        if path.endswith(".ports[]") and "containerPort" in out:
            out.setdefault("protocol", "TCP")
        if path.endswith("spec.ports[]") and "port" in out:
            out.setdefault("protocol", "TCP")
            out.setdefault("targetPort", out["port"])
        if path.endswith("resources.requests") or path.endswith("resources.limits"):
            out = {k: str(v) for k, v in out.items()}
        return out
    if isinstance(value, list):
        return [normalize(v, f"{path}[]") for v in value]
    return value


def strip_deliberate(obj: dict, workspace: str, problems: list[str]) -> dict:
    """Remove exactly the deliberate differences after checking each has its documented shape."""
    obj = yaml.safe_load(yaml.safe_dump(obj))  # a private copy
    meta = obj.get("metadata", {})
    where = f"{obj.get('kind')}/{meta.get('name')}"
    labels = meta.get("labels") or {}
    if labels.pop("app.kubernetes.io/managed-by", None) != "kaito-compile":
        problems.append(f"{where}: deliberate label app.kubernetes.io/managed-by=kaito-compile missing")
    if obj.get("kind") != "NodeClaim":
        if labels.pop("kaito.sh/workspace", None) != workspace:
            problems.append(f"{where}: deliberate label kaito.sh/workspace={workspace} missing")
    annotations = meta.get("annotations") or {}
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(annotations.pop("kaito-compile.dev/spec-hash", ""))):
        problems.append(f"{where}: deliberate annotation kaito-compile.dev/spec-hash missing or malformed")
    wave = annotations.pop("argocd.argoproj.io/sync-wave", None)
    if wave is not None and not re.fullmatch(r"-?[0-9]+", str(wave)):
        problems.append(f"{where}: argocd.argoproj.io/sync-wave {wave!r} is not an integer")
    for key in [k for k in annotations if k.startswith(("ignore-check.kube-linter.io/", "polaris.fairwinds.com/"))]:
        value = str(annotations.pop(key))
        if obj.get("kind") != "StatefulSet" or not (value == "true" if key.startswith("polaris") else value.strip()):
            problems.append(f"{where}: unexpected linter exemption {key}={value!r}")
    options = annotations.pop("argocd.argoproj.io/sync-options", None)
    if options is not None and (obj.get("kind") not in ("NodeClaim", "NodePool")
                                or options != "SkipDryRunOnMissingResource=true"):
        problems.append(f"{where}: unexpected argocd.argoproj.io/sync-options {options!r}")
    if "ownerReferences" in meta:
        problems.append(f"{where}: ownerReferences present (a compiler cannot know the Workspace UID)")
    if obj.get("kind") == "NodeClaim":
        if not re.fullmatch(r"ws[0-9a-f]{9}", meta.get("name", "")):
            problems.append(f"{where}: NodeClaim name is not ws + 9 hex characters")
        meta.pop("name", None)
        if meta.pop("namespace", None) is not None:
            problems.append(f"{where}: NodeClaim carries metadata.namespace")
    for key in ("labels", "annotations"):
        if key in meta and not meta[key]:
            del meta[key]
    return obj


def diff(expected, actual, path: str = "") -> list[tuple[str, object, object]]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for key in sorted(set(expected) | set(actual), key=str):
            if key not in actual:
                out.append((f"{path}.{key}", expected[key], "<absent>"))
            elif key not in expected:
                out.append((f"{path}.{key}", "<absent>", actual[key]))
            else:
                out += diff(expected[key], actual[key], f"{path}.{key}")
        return out
    if isinstance(expected, list) and isinstance(actual, list):
        names_e = [e.get("name") for e in expected if isinstance(e, dict)]
        names_a = [a.get("name") for a in actual if isinstance(a, dict)]
        if len(expected) != len(actual) or (all(names_e) and all(names_a) and names_e != names_a):
            return [(path, expected, actual)]
        out = []
        for i, (e, a) in enumerate(zip(expected, actual)):
            out += diff(e, a, f"{path}[{names_e[i] if i < len(names_e) and names_e[i] else i}]")
        return out
    return [] if expected == actual else [(path, expected, actual)]


# ---------------------------------------------------------------------------------------------------------------
# Compiling the examples.
# ---------------------------------------------------------------------------------------------------------------

def _documents(case: str) -> list[dict]:
    relative = case.split("#")[0].removesuffix(KARPENTER)
    docs = [d for d in yaml.safe_load_all((UPSTREAM_EXAMPLES / relative).read_text()) if d]
    for doc in docs:
        if case in ANNOTATED and doc.get("kind") == "Workspace":
            doc["metadata"]["annotations"] = {**(doc["metadata"].get("annotations") or {}), **ANNOTATED[case]}
        for adapter in (doc.get("inference") or {}).get("adapters") or []:
            if case == IMAGE_ADAPTER:
                adapter.pop("strength", None)
                adapter["source"].update(image="myregistry.azurecr.io/phi-3-adapter:0.0.1",
                                         imagePullSecrets=["acr-pull"])
            elif case == VOLUME_ADAPTER:
                adapter.pop("strength", None)
                del adapter["source"]["image"]
                adapter["source"]["volumeSource"] = {"persistentVolumeClaim": {"claimName": "phi-3-adapters"}}
    return docs


def _config_maps(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d["data"] for d in docs if d.get("kind") == "ConfigMap"}


def _project_config(tmp: Path, config_maps: dict[str, dict], *, provisioner: str = "gpu-provisioner",
                    nvme_storage_class: bool = True) -> Path:
    config = {"cloud": "azure", "provisioner": provisioner, "runtime": "vllm", "nvmeStorageClass": nvme_storage_class,
              "configMaps": [{"name": name, "namespace": "default", "data": data}
                             for name, data in config_maps.items()]}
    path = tmp / "kaito-compile.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def catalogs():
    from kaito_compile.compiler import Catalogs

    return Catalogs()


def _compile(case: str, docs: list[dict], tmp: Path, catalogs, **settings):
    """The example file itself, or (variants) the modified documents written to a temporary file."""
    from kaito_compile.compiler import compile_paths
    from kaito_compile.config import ConfigResolver

    source = UPSTREAM_EXAMPLES / case.removesuffix(KARPENTER)
    if "#" in case:
        source = tmp / "workspace.yaml"
        source.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    config = _project_config(tmp, _config_maps(docs), **settings)
    report, tree = compile_paths([str(source)], ConfigResolver(str(config)), catalogs)
    objects = [yaml.safe_load(data) for path, data in sorted(tree.items())
               if path.count("/") == 2 and not path.endswith("kustomization.yaml")]
    return report, objects


# ---------------------------------------------------------------------------------------------------------------
# Tests.
# ---------------------------------------------------------------------------------------------------------------

def test_every_upstream_example_is_covered_or_skipped_with_a_reason():
    every = sorted(str(p.relative_to(UPSTREAM_EXAMPLES)) for p in UPSTREAM_EXAMPLES.rglob("*.yaml"))
    fine_tuning = [e for e in every if e.startswith("fine-tuning/")]  # not inference: the tuning Job is §4.5
    assert sorted(COVERED + list(SKIPPED) + list(REJECTED) + fine_tuning) == every
    assert len(COVERED) >= 25
    for relative in COVERED:
        kinds = {d.get("kind") for d in yaml.safe_load_all((UPSTREAM_EXAMPLES / relative).read_text()) if d}
        assert "Workspace" in kinds and kinds <= {"Workspace", "ConfigMap", "Secret"}, relative


def test_docstring_lists_every_deliberate_difference():
    for key, _ in DELIBERATE_DIFFERENCES:
        assert key in __doc__, key


def test_expectation_builder_reproduces_the_contract_tables():
    """The transcribed formulas agree with §2.2 (disk, startup FT) and §2.5(e) (node counts) for every row used."""
    for preset, (hf_id, short, size, disk, _, ft) in MODELS.items():
        assert hf_id.rsplit("/", 1)[1].lower() == short, preset
        assert disk_requirement(size) == disk, preset
        assert startup_failure_threshold(size) == ft, preset
        assert short in STATIC_FLAGS, short
        for sku, count in zip(TABLE_COLUMNS, NODE_TABLE[short]):
            assert estimate_nodes(size, MODELS[preset][4], sku, None) == count, (short, sku)


@pytest.mark.parametrize("relative", sorted(REJECTED))
def test_rejected_under_vllm(relative, tmp_path, catalogs):
    report, objects = _compile(relative, _documents(relative), tmp_path, catalogs)
    assert REJECTED[relative] in {d.code for d in report.errors}
    assert objects == []


@pytest.mark.parametrize("case", CASES)
def test_objects_match_section_4(case, tmp_path, catalogs):
    docs = _documents(case)
    settings = case_settings(case)
    report, objects = _compile(case, docs, tmp_path, catalogs, **settings)
    assert not report.errors, [f"{d.code}: {d.message}" for d in report.errors]
    workspace = next(d for d in docs if d.get("kind") == "Workspace")
    ws = workspace["metadata"]["name"]
    expected = expected_objects(workspace, _config_maps(docs), **settings)
    problems: list[str] = []

    actual: dict = {}
    for obj in objects:
        stripped = strip_deliberate(obj, ws, problems)
        if obj["kind"] == "NodeClaim":
            actual.setdefault(("NodeClaim", "*"), []).append(stripped)
        else:
            key = (obj["kind"], obj["metadata"]["name"])
            assert key not in actual, f"{key} emitted twice"
            actual[key] = stripped
    assert sorted(actual) == sorted(expected), "object inventory differs from §4.0"
    names = [o["metadata"]["name"] for o in objects if o["kind"] == "NodeClaim"]
    assert len(set(names)) == len(names), "NodeClaim names collide"

    differences: list[tuple[str, object, object]] = []
    for key, want in expected.items():
        got = actual[key]
        if key[0] == "NodeClaim":
            differences += [(f"NodeClaim[{i}]{p}", e, a) for i, claim in enumerate(got)
                            for p, e, a in diff(normalize(want[0]), normalize(claim))]
            continue
        if key[0] == "StatefulSet":
            got = comparable_statefulset(got, problems)
        differences += [(f"{key[0]}/{key[1]}{p}", e, a) for p, e, a in diff(normalize(want), normalize(got))]

    known = {pattern: why for (where, pattern), why in KNOWN_DISAGREEMENTS.items() if where in ("*", case)}
    unexplained = [d for d in differences if not any(re.search(p, d[0]) for p in known)]
    unseen = [p for p in known if not any(re.search(p, d[0]) for d in differences)]
    report_lines = [f"{p}: §4 says {e!r}, we emit {a!r}" for p, e, a in unexplained]
    assert not problems and not report_lines and not unseen, "\n".join(
        problems + report_lines + [f"known disagreement no longer seen (fixed? remove it): {p}" for p in unseen])


def _puller_script_facts(script: str) -> dict:
    """puller.sh is not in the contract verbatim: compare what it must contain (image ref, target dir)."""
    image = re.search(r"docker://(\S+)", script)
    target = re.search(r"(/mnt/adapter/[^\s\"']+)", script)
    return {"script": "puller.sh", "imgRef": image[1] if image else None, "volDir": target[1] if target else None}
