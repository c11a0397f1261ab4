"""Sizing beyond the reference tables: estimator errors and inputs, parallelism, BYO GPU labels,
Kaito's admission memory checks, the transformers fit and SKU suggestions."""

from __future__ import annotations

import pytest

from kaito_compile.catalog import Catalog, InstanceTypeStatus
from kaito_compile.catalog.models import ModelEntry
from kaito_compile.catalog.quantity import GIB
from kaito_compile.sizing import (
    GpuConfig,
    SizingError,
    estimate_nodes,
    exceeds_one_node,
    explicit_max_model_len,
    gpu_config_from_labels,
    gpu_memory_utilization,
    insufficient_gpu_memory,
    mig_slice_too_small,
    sizing_flags,
    suggest,
    transformers_dtype,
    transformers_fit,
    transformers_fit_error,
    uniform_gpu_config,
)


def sku_gpu(catalog: Catalog, name: str, cloud: str = "azure") -> GpuConfig:
    return GpuConfig.from_sku(catalog.skus.find(cloud, name))


def model(catalog: Catalog, name: str) -> ModelEntry:
    return catalog.resolve(name).entry


# --- vLLM estimator ---------------------------------------------------------------------------

def test_a_kv_cache_larger_than_the_gpu_is_kaitos_error(catalog: Catalog):
    with pytest.raises(SizingError) as exc:
        estimate_nodes(model(catalog, "phi-3-mini-128k-instruct"), sku_gpu(catalog, "Standard_NV36ads_A10_v5"),
                       max_model_len=131072)
    assert str(exc.value) == ("GPU memory 25769803776 bytes is too small, needs at least 50.3 GB overhead "
                              "(base: 2.3GB + KV Cache: 48.0 GB)")


def test_max_model_len_feeds_the_kv_term(catalog: Catalog):
    llama, a10 = model(catalog, "llama-3.1-8b-instruct"), sku_gpu(catalog, "Standard_NV36ads_A10_v5")
    assert estimate_nodes(llama, a10) == 1
    assert estimate_nodes(llama, a10, max_model_len=32768) == 2
    assert estimate_nodes(llama, a10, max_model_len=0) == 1


def test_the_kv_term_is_shared_by_the_gpus_of_a_node(catalog: Catalog):
    """32768 tokens of phi-3-mini-128k are 12 GiB: too much next to 7 GiB of weights on one A10,
    fine once split over the two A10s of an NV72ads."""
    phi = model(catalog, "phi-3-mini-128k-instruct")
    assert estimate_nodes(phi, sku_gpu(catalog, "Standard_NV36ads_A10_v5"), max_model_len=32768) == 2
    assert estimate_nodes(phi, sku_gpu(catalog, "Standard_NV72ads_A10_v5"), max_model_len=32768) == 1


def test_vllm_refuses_legacy_skus_as_kaito_v012_does(catalog: Catalog):
    with pytest.raises(SizingError) as exc:
        estimate_nodes(model(catalog, "phi-4-mini-instruct"), sku_gpu(catalog, "Standard_NC6s_v3"))
    assert str(exc.value) == ("failed to get GPU config for instance type Standard_NC6s_v3: Unsupported SKU "
                              "'Standard_NC6s_v3' for cloud provider")


def test_unknown_gpu_memory_keeps_the_requested_count(catalog: Catalog):
    assert estimate_nodes(model(catalog, "phi-4"), GpuConfig(1, 0), requested_count=3) == 3


def test_a_model_must_fit_one_mig_slice(catalog: Catalog):
    phi = model(catalog, "phi-3-mini-4k-instruct")
    assert estimate_nodes(phi, GpuConfig.from_mig_profile("3g.20gb")) == 1
    with pytest.raises(SizingError) as exc:
        estimate_nodes(phi, GpuConfig.from_mig_profile("1g.5gb"))
    message = str(exc.value)
    assert message.startswith("model needs ")
    assert message.endswith("but MIG profile 1g.5gb only provides 5GB (4.2GB available after vLLM "
                            "gpu-memory-utilization)")
    assert "(weights 7.3GB + overhead 3.4GB)" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("vllm:\n  max-model-len: 4096\n", 4096),
    ("max_probe_steps: 6\nvllm:\n  cpu-offload-gb: 0\n  max-model-len: 8192\n", 8192),
    ("  vllm:\n    max-model-len: +2048", 2048),
    ("vllm:\n  max-model-len: 4096 # tokens\n", None),
    ("vllm:\n  max-model-len: '4096'\n", None),
    ("vllm:\n  max-model-len: 0\n", None),
    ("vllm:\n  gpu-memory-utilization: 0.9\nmax-model-len: 4096\n", None),
    ("vllm: {max-model-len: 4096}\n", None),
    ("max-model-len: 4096\n", None),
])
def test_explicit_max_model_len_is_read_like_kaitos_line_parser(text: str, expected: int | None):
    assert explicit_max_model_len(text) == expected


# --- parallelism and utilisation ------------------------------------------------------------------

@pytest.mark.parametrize(("gpu_model", "value"), [("NVIDIA A10", "0.82"), ("NVIDIA A10G", "0.84"),
                                                 ("nvidia a10", "0.84"), ("NVIDIA A100", "0.84"), ("", "0.84")])
def test_gpu_memory_utilization(gpu_model: str, value: str):
    assert gpu_memory_utilization(gpu_model) == value


def test_small_model_on_a_multi_gpu_node_is_data_parallel(catalog: Catalog):
    assert sizing_flags(model(catalog, "phi-4-mini-instruct"), sku_gpu(catalog, "Standard_NC96ads_A100_v4"), 1) == {
        "gpu-memory-utilization": "0.84", "data-parallel-size": "4", "tensor-parallel-size": "1",
        "kaito-kv-cache-cpu-memory-utilization": "0"}


def test_a_model_over_half_a_gpu_is_tensor_parallel(catalog: Catalog):
    assert sizing_flags(model(catalog, "phi-4"), sku_gpu(catalog, "Standard_NV72ads_A10_v5"), 1) == {
        "gpu-memory-utilization": "0.82", "tensor-parallel-size": "2"}


def test_one_gpu_is_never_data_parallel(catalog: Catalog):
    assert sizing_flags(model(catalog, "phi-4-mini-instruct"), sku_gpu(catalog, "Standard_NC24ads_A100_v4"), 1) == {
        "gpu-memory-utilization": "0.84", "tensor-parallel-size": "1"}


def test_several_nodes_add_pipeline_parallelism_over_ray(catalog: Catalog):
    llama, gpu = model(catalog, "llama-3.3-70b-instruct"), sku_gpu(catalog, "Standard_NC48ads_A100_v4")
    nodes = estimate_nodes(llama, gpu)
    assert sizing_flags(llama, gpu, nodes) == {
        "gpu-memory-utilization": "0.84", "tensor-parallel-size": "2", "kaito-kv-cache-cpu-memory-utilization": "0",
        "pipeline-parallel-size": "2", "distributed-executor-backend": "ray"}


def test_mig_turns_kv_offload_off(catalog: Catalog):
    assert sizing_flags(model(catalog, "phi-3-mini-4k-instruct"), GpuConfig.from_mig_profile("3g.40gb"), 1) == {
        "gpu-memory-utilization": "0.84", "kaito-kv-cache-cpu-memory-utilization": "0", "tensor-parallel-size": "1"}


# --- BYO nodes and partitions --------------------------------------------------------------------

def _labels(product="NVIDIA A100-SXM4-80GB", count="2", memory="81920", **extra) -> dict[str, str]:
    return {"nvidia.com/gpu.product": product, "nvidia.com/gpu.count": count, "nvidia.com/gpu.memory": memory,
            **extra}


@pytest.mark.parametrize(("mib", "gib"), [(23028, 22), (81920, 80), (95830, 94), (15360, 15), (1535, 1)])
def test_per_gpu_memory_is_rounded_to_whole_gib(mib: int, gib: int):
    assert GpuConfig.from_inventory("NVIDIA X", 2, mib).memory_bytes == 2 * gib * GIB


def test_node_labels_give_the_gpu_configuration():
    gpu = gpu_config_from_labels("n1", _labels(**{"nvidia.com/cuda.compute.major": "8",
                                                  "nvidia.com/cuda.compute.minor": "6"}))
    assert (gpu.gpu_count, gpu.memory_bytes, gpu.gpu_model, gpu.compute_capability, gpu.sku, gpu.nvme) == (
        2, 160 * GIB, "NVIDIA A100-SXM4-80GB", 8.6, "unknown", False)
    assert not gpu.is_mig
    assert gpu_config_from_labels("n1", _labels(**{"nvidia.com/mig.config": "all-1g.10gb",
                                                   "nvidia.com/mig.config.state": "success"})).is_mig
    assert not gpu_config_from_labels("n1", _labels(**{"nvidia.com/mig.config": "all-disabled",
                                                       "nvidia.com/mig.config.state": "success"})).is_mig


@pytest.mark.parametrize(("labels", "message"), [
    ({"nvidia.com/gpu.product": "X"}, "missing required nvidia.com labels on node n1"),
    (_labels(count="two"), "invalid nvidia.com/gpu.count value on node n1: two"),
    (_labels(memory="80GB"), "invalid nvidia.com/gpu.memory value on node n1: 80GB"),
])
def test_bad_node_labels(labels: dict, message: str):
    with pytest.raises(SizingError, match=f"^{message}$"):
        gpu_config_from_labels("n1", labels)


@pytest.mark.parametrize(("second", "message"), [
    (_labels(product="NVIDIA H100"), "Non-uniform GPU product: node n2 has NVIDIA H100 GPUs, but previous node has "
                                     "NVIDIA A100-SXM4-80GB GPUs, all nodes must have the same GPU product for "
                                     "homogeneous placement"),
    (_labels(count="4"), "Non-uniform GPU count: node n2 has 4 GPUs, but previous node has 2 GPUs"),
    (_labels(memory="40960"), "Non-uniform GPU memory: node n2 has 80Gi memory, but previous node has 160Gi memory"),
    ({}, "Failed to get GPU config from nvidia labels on node n2: missing required nvidia.com labels on node n2"),
])
def test_byo_nodes_must_be_uniform(second: dict, message: str):
    with pytest.raises(SizingError) as exc:
        uniform_gpu_config([("n1", _labels()), ("n2", second)])
    assert str(exc.value) == message


def test_byo_inventory_of_identical_nodes():
    assert uniform_gpu_config([("n1", _labels()), ("n2", _labels())]) == gpu_config_from_labels("n1", _labels())
    with pytest.raises(SizingError, match="^No nodes found matching the specified label selector$"):
        uniform_gpu_config([])


def test_accelerator_partition_scales_the_node(catalog: Catalog):
    gpu = sku_gpu(catalog, "Standard_ND96amsr_A100_v4").scaled_to(2)
    assert (gpu.gpu_count, gpu.memory_bytes) == (2, 160 * GIB)
    with pytest.raises(SizingError, match=r"^partition.count \(9\) exceeds GPUs available on node \(8\)$"):
        sku_gpu(catalog, "Standard_ND96amsr_A100_v4").scaled_to(9)


# --- Kaito's admission memory checks -------------------------------------------------------------

def test_total_gpu_memory_check(catalog: Catalog):
    phi, a10 = model(catalog, "phi-4"), sku_gpu(catalog, "Standard_NV36ads_A10_v5")
    assert insufficient_gpu_memory(phi, "Phi-4", a10, 1, "Standard_NV36ads_A10_v5") == (
        "Insufficient total GPU memory: Instance type Standard_NV36ads_A10_v5 has a total of 24Gi, but preset phi-4 "
        "requires at least 27.31Gi")
    assert insufficient_gpu_memory(phi, "phi-4", a10, 2, "Standard_NV36ads_A10_v5") is None
    assert exceeds_one_node(phi, a10)
    assert not exceeds_one_node(phi, sku_gpu(catalog, "Standard_NV72ads_A10_v5"))


def test_mig_slice_check(catalog: Catalog):
    phi = model(catalog, "phi-4")
    assert mig_slice_too_small(phi, "phi-4", "3g.20gb") == (
        "Model phi-4 requires at least 27.31Gi for weights, which exceeds the 3g.20gb MIG slice capacity of 20Gi")
    assert mig_slice_too_small(phi, "phi-4", "3g.40gb") is None
    assert mig_slice_too_small(model(catalog, "phi-3-mini-4k-instruct"), "x", "1g.10gb") is None


@pytest.mark.parametrize(("profile", "message"), [
    ("3g.47gb", None),
    ("1g.7gb", 'unknown MIG profile "1g.7gb": must be one of [1g.10gb 1g.12gb'),
    ("3g47gb", "invalid MIG profile format \"3g47gb\": expected format like '1g.10gb'"),
    ("0g.10gb", 'invalid MIG profile "0g.10gb": compute slices must be > 0'),
    ("1g.0.5gb", 'invalid MIG profile "1g.0.5gb": memory must be > 0'),
    ("1g.1.2.3gb", 'invalid MIG profile "1g.1.2.3gb": cannot parse memory value'),
])
def test_mig_profile_validation(catalog: Catalog, profile: str, message: str | None):
    error = catalog.skus.mig_profile_error(profile)
    assert error == message if message is None else error.startswith(message)


# --- SKU lookup per runtime ------------------------------------------------------------------------

def test_sku_lookup_is_case_insensitive(catalog: Catalog):
    found = catalog.instance_type("azure", "standard_nc24ADS_a100_v4", runtime="vllm")
    assert (found.status, found.sku.name) == (InstanceTypeStatus.KNOWN, "Standard_NC24ads_A100_v4")
    assert catalog.instance_type("aws", "P5.48XLARGE", runtime="vllm").sku.name == "p5.48xlarge"


def test_legacy_skus_count_only_for_the_transformers_runtime(catalog: Catalog):
    assert catalog.instance_type("azure", "Standard_NC6s_v3", runtime="transformers").status is InstanceTypeStatus.KNOWN
    vllm = catalog.instance_type("azure", "Standard_NC6s_v3", runtime="vllm")
    assert (vllm.status, vllm.message) == (InstanceTypeStatus.UNLISTED_AZURE,
                                           "Unsupported SKU 'Standard_NC6s_v3' for cloud provider")
    assert "legacy SKU" in vllm.hints[0]
    aws = catalog.instance_type("aws", "p3.2xlarge", runtime="vllm")
    assert aws.status is InstanceTypeStatus.UNSUPPORTED
    assert aws.message.startswith("Unsupported instance type p3.2xlarge. Supported SKUs: [g4ad.16xlarge ")


@pytest.mark.parametrize("name", ["Standard_NC4as_T4_v4", "standard_d8s_v5", "Standard_ND40rs_v2"])
def test_unlisted_azure_n_and_d_series_pass_admission(catalog: Catalog, name: str):
    assert catalog.instance_type("azure", name, runtime="vllm").status is InstanceTypeStatus.UNLISTED_AZURE


def test_other_unknown_skus_are_refused_with_the_supported_list(catalog: Catalog):
    result = catalog.instance_type("azure", "Standard_E4s_v5", runtime="vllm")
    listed = sorted(s.name for s in catalog.skus.skus("azure", legacy=False))
    assert result.message == f"Unsupported instance type Standard_E4s_v5. Supported SKUs: [{' '.join(listed)}]"
    assert catalog.instance_type("arc", "Standard_D8s_v5", runtime="vllm").status is InstanceTypeStatus.UNSUPPORTED


# --- transformers fit and suggestions -------------------------------------------------------------

def test_bfloat16_needs_compute_capability_8(catalog: Catalog):
    assert transformers_dtype(sku_gpu(catalog, "Standard_NC24ads_A100_v4")) == "bfloat16"
    assert transformers_dtype(sku_gpu(catalog, "Standard_NC6s_v3")) == "float16"
    assert transformers_dtype(GpuConfig.from_inventory("Tesla T4", 1, 15360, 7.5)) == "float16"


def test_transformers_fit_adds_the_stated_margin(catalog: Catalog):
    phi = model(catalog, "phi-3-mini-4k-instruct")
    fit = transformers_fit(phi, sku_gpu(catalog, "Standard_NC6s_v3"))
    assert fit.weights == phi.file_size_bytes
    assert fit.needed == int(phi.file_size_bytes * 1.05) + GIB + 393216 * 2048
    assert (fit.available, fit.fits, fit.dtype) == (16 * GIB, True, "float16")
    assert not transformers_fit(model(catalog, "llama-3.1-8b-instruct"), sku_gpu(catalog, "Standard_NC6s_v3")).fits


def test_float32_checkpoints_load_at_half_their_size(catalog: Catalog):
    fp32 = model(catalog, "phi-4").model_copy(update={"weightsDtype": "float32"})
    assert transformers_fit(fp32, sku_gpu(catalog, "Standard_NC6s_v3")).weights == fp32.file_size_bytes // 2


def test_transformers_error_suggests_vllm_nodes_and_a_larger_sku(catalog: Catalog):
    message = transformers_fit_error(model(catalog, "phi-3-medium-4k-instruct"),
                                     sku_gpu(catalog, "Standard_NV36ads_A10_v5"), catalog.skus, "azure")
    assert message == (
        "phi-3-medium-4k-instruct needs 26.0 GiB of weights (28.7 GiB to run) but one Standard_NV36ads_A10_v5 has "
        "24.0 GiB of GPU memory and the transformers runtime uses a single node; with runtime vllm "
        "Standard_NV36ads_A10_v5 fits it on 2 nodes; one Standard_NC24ads_A100_v4 fits it alone")


def test_transformers_error_on_a_legacy_sku_has_no_vllm_option(catalog: Catalog):
    message = transformers_fit_error(model(catalog, "llama-3.1-8b-instruct"), sku_gpu(catalog, "Standard_NC6s_v3"),
                                     catalog.skus, "azure")
    assert "runtime vllm" not in message
    assert message.endswith("; one Standard_NV36ads_A10_v5 fits it alone")


def test_transformers_error_for_byo_nodes(catalog: Catalog):
    byo = GpuConfig.from_inventory("NVIDIA A100", 8, 81920)
    message = transformers_fit_error(model(catalog, "deepseek-r1-0528"), byo, catalog.skus, "azure")
    assert "but one node has 640.0 GiB of GPU memory" in message
    assert "; with runtime vllm it fits on 2 of these nodes; one Standard_ND96isr_H200_v5 fits it alone" in message
    assert transformers_fit_error(model(catalog, "deepseek-r1-0528"), byo, catalog.skus, "arc").endswith(
        "; no arc SKU fits it on one node")
    assert transformers_fit_error(model(catalog, "phi-4"), sku_gpu(catalog, "Standard_NC24ads_A100_v4"),
                                  catalog.skus, "azure") is None


def test_suggestions_smallest_first_legacy_last(catalog: Catalog):
    phi = model(catalog, "phi-3-medium-4k-instruct")
    found = suggest(phi, catalog.skus, "azure", "transformers")
    names = [s.sku.name for s in found]
    assert names[:4] == ["Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5", "Standard_NCC40ads_H100_v5",
                         "Standard_NV72ads_A10_v5"]
    legacy = [s for s in found if s.sku.legacy]
    assert legacy and found[-len(legacy):] == legacy and all(s.note for s in legacy)
    assert all(s.nodes == 1 and s.note is None for s in found if not s.sku.legacy)
    assert not any("V620" in n or "MI25" in n for n in names)


def test_vllm_suggestions_with_nodes_and_gpus(catalog: Catalog):
    found = suggest(model(catalog, "phi-3-medium-4k-instruct"), catalog.skus, "azure", "vllm")
    table = [(s.sku.name, s.nodes, s.total_gpus) for s in found]
    assert table[:5] == [("Standard_NC24ads_A100_v4", 1, 1), ("Standard_NC40ads_H100_v5", 1, 1),
                         ("Standard_NCC40ads_H100_v5", 1, 1), ("Standard_NV36ads_A10_v5", 2, 2),
                         ("Standard_NV72ads_A10_v5", 1, 2)]
    assert len(found) == 12 and not any(s.sku.legacy for s in found)
    aws = {s.sku.name for s in suggest(model(catalog, "phi-4"), catalog.skus, "aws", "vllm")}
    assert "g5.xlarge" in aws and not any(n.startswith(("g4ad", "trn1", "inf2", "p3")) for n in aws)


def test_a_context_too_large_for_every_sku_suggests_nothing(catalog: Catalog):
    gemma = model(catalog, "gemma-3-27b-instruct")
    assert suggest(gemma, catalog.skus, "arc", "vllm", max_model_len=131072) == []
