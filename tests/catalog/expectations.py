"""Expected values transcribed from the reference contract (kaito-api.md §2.2–§2.5, §3): the
specification the catalog and the sizing are tested against, cell by cell."""

# alias: (hf id, served name, fileSize, disk, context, attn, bytes/token, quant, min GPUs 24Gi, min GPUs 80Gi, transformers, tuning, tag, startup FT)
ALIASES = {
    "phi-4": ("microsoft/phi-4", "phi-4", "27.31Gi", "107Gi", 16384, "GQA", 204800, "-", 2, 1, True, "yes", "0.2.0", 180),
    "phi-4-mini-instruct": ("microsoft/Phi-4-mini-instruct", "phi-4-mini-instruct", "7.15Gi", "87Gi", 131072, "GQA", 131072, "-", 1, 1, False, "yes", "0.2.0", 180),
    "phi-3-mini-4k-instruct": ("microsoft/Phi-3-mini-4k-instruct", "phi-3-mini-4k-instruct", "7.12Gi", "87Gi", 4096, "MHA", 393216, "-", 1, 1, True, "yes", "0.2.0", 180),
    "phi-3-mini-128k-instruct": ("microsoft/Phi-3-mini-128k-instruct", "phi-3-mini-128k-instruct", "7.12Gi", "87Gi", 131072, "MHA", 393216, "-", 1, 1, True, "yes", "0.2.0", 180),
    "phi-3-medium-4k-instruct": ("microsoft/Phi-3-medium-4k-instruct", "phi-3-medium-4k-instruct", "26.00Gi", "106Gi", 4096, "GQA", 204800, "-", 2, 1, True, "yes", "0.2.0", 180),
    "phi-3-medium-128k-instruct": ("microsoft/Phi-3-medium-128k-instruct", "phi-3-medium-128k-instruct", "26.00Gi", "106Gi", 131072, "GQA", 204800, "-", 2, 1, True, "yes", "0.2.0", 180),
    "phi-3.5-mini-instruct": ("microsoft/Phi-3.5-mini-instruct", "phi-3.5-mini-instruct", "7.12Gi", "87Gi", 131072, "MHA", 393216, "-", 1, 1, True, "yes", "0.2.0", 180),
    "llama-3.1-8b-instruct": ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct", "14.96Gi", "94Gi", 131072, "GQA", 131072, "-", 1, 1, True, "no", "0.2.0", 180),
    "llama-3.3-70b-instruct": ("meta-llama/Llama-3.3-70B-Instruct", "llama-3.3-70b-instruct", "131.42Gi", "211Gi", 131072, "GQA", 327680, "-", 9, 3, True, "no", "0.0.1", 327),
    "deepseek-r1-distill-llama-8b": ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-r1-distill-llama-8b", "14.96Gi", "94Gi", 131072, "GQA", 131072, "-", 1, 1, True, "no", "0.2.0", 180),
    "deepseek-r1-distill-qwen-14b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", "deepseek-r1-distill-qwen-14b", "27.51Gi", "107Gi", 131072, "GQA", 196608, "-", 2, 1, True, "no", "0.2.0", 180),
    "deepseek-r1-0528": ("deepseek-ai/DeepSeek-R1-0528", "deepseek-r1-0528", "641.30Gi", "721Gi", 163840, "MLA", 70272, "fp8", 39, 11, True, "no", "0.0.1", 1080),
    "deepseek-v3-0324": ("deepseek-ai/DeepSeek-V3-0324", "deepseek-v3-0324", "641.30Gi", "721Gi", 163840, "MLA", 70272, "fp8", 39, 11, True, "no", "0.0.1", 1080),
    "qwen2.5-coder-7b-instruct": ("Qwen/Qwen2.5-Coder-7B-Instruct", "qwen2.5-coder-7b-instruct", "14.19Gi", "94Gi", 32768, "GQA", 57344, "-", 1, 1, True, "yes", "0.2.0", 180),
    "qwen2.5-coder-32b-instruct": ("Qwen/Qwen2.5-Coder-32B-Instruct", "qwen2.5-coder-32b-instruct", "61.03Gi", "141Gi", 32768, "GQA", 262144, "-", 4, 2, True, "yes", "0.2.0", 200),
    "gpt-oss-20b": ("openai/gpt-oss-20b", "gpt-oss-20b", "25.63Gi", "105Gi", 131072, "GQA", 49152, "mxfp4", 2, 1, True, "no", "0.0.2", 180),
    "gpt-oss-120b": ("openai/gpt-oss-120b", "gpt-oss-120b", "121.54Gi", "201Gi", 131072, "GQA", 73728, "mxfp4", 8, 3, True, "no", "0.0.1", 309),
    "gemma-3-4b-instruct": ("google/gemma-3-4b-it", "gemma-3-4b-it", "8.01Gi", "88Gi", 131072, "GQA", 139264, "-", 1, 1, True, "no", "0.0.1", 180),
    "gemma-3-27b-instruct": ("google/gemma-3-27b-it", "gemma-3-27b-it", "51.10Gi", "131Gi", 131072, "GQA", 507904, "-", 4, 1, True, "no", "0.0.1", 182),
    "mistral-7b": ("mistralai/Mistral-7B-v0.3", "mistral-7b-v0.3", "13.50Gi", "93Gi", 32768, "GQA", 131072, "-", 1, 1, True, "broken", "0.2.0", 180),
    "mistral-7b-instruct": ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-instruct-v0.3", "13.50Gi", "93Gi", 32768, "GQA", 131072, "-", 1, 1, True, "no", "0.2.0", 180),
    "ministral-3-3b-instruct": ("mistralai/Ministral-3-3B-Instruct-2512", "ministral-3-3b-instruct-2512", "4.35Gi", "84Gi", 262144, "GQA", 106496, "fp8", 1, 1, False, "no", "0.0.1", 180),
    "ministral-3-8b-instruct": ("mistralai/Ministral-3-8B-Instruct-2512", "ministral-3-8b-instruct-2512", "9.70Gi", "89Gi", 262144, "GQA", 139264, "fp8", 1, 1, False, "no", "0.0.1", 180),
    "ministral-3-14b-instruct": ("mistralai/Ministral-3-14B-Instruct-2512", "ministral-3-14b-instruct-2512", "14.65Gi", "94Gi", 262144, "GQA", 163840, "fp8", 1, 1, False, "no", "0.0.1", 180),
    "mistral-large-3-675b-instruct": ("mistralai/Mistral-Large-3-675B-Instruct-2512", "mistral-large-3-675b-instruct-2512", "634.70Gi", "714Gi", 294912, "MLA", 70272, "float-quantized", 39, 11, False, "no", "0.0.1", 1080),
}
# hf id: (served name, architecture, fileSize, disk, context, attn, bytes/token, quant, min GPUs 24Gi, min GPUs 80Gi, startup FT)
OTHERS = {
    "nvidia/NVIDIA-Nemotron-3-Super-120B-A12B-BF16": ("nvidia-nemotron-3-super-120b-a12b-bf16", "NemotronHForCausalLM", "230.25Gi", "310Gi", 262144, "GQA", 90112, "-", 14, 4, 505),
    "nvidia/Nemotron-Cascade-2-30B-A3B": ("nemotron-cascade-2-30b-a3b", "NemotronHForCausalLM", "58.82Gi", "138Gi", 262144, "GQA", 53248, "-", 4, 1, 196),
    "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": ("nvidia-nemotron-3-nano-30b-a3b-bf16", "NemotronHForCausalLM", "58.82Gi", "138Gi", 262144, "GQA", 53248, "-", 4, 1, 196),
    "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16": ("nvidia-nemotron-nano-12b-v2-vl-bf16", "NemotronH_Nano_VL_V2", "24.55Gi", "104Gi", 131072, "GQA", 253952, "-", 2, 1, 180),
    "nvidia/NVIDIA-Nemotron-Nano-9B-v2": ("nvidia-nemotron-nano-9b-v2", "NemotronHForCausalLM", "16.56Gi", "96Gi", 131072, "GQA", 229376, "-", 2, 1, 180),
    "nvidia/NVIDIA-Nemotron-3-Nano-4B-BF16": ("nvidia-nemotron-3-nano-4b-bf16", "NemotronHForCausalLM", "7.40Gi", "87Gi", 262144, "GQA", 172032, "-", 1, 1, 180),
    "nvidia/NVIDIA-Nemotron-3-Ultra-550B-A55B-NVFP4": ("nvidia-nemotron-3-ultra-550b-a55b-nvfp4", "NemotronHForCausalLM", "328.13Gi", "408Gi", 262144, "GQA", 110592, "MIXED_PRECISION", 20, 6, 681),
    "Qwen/Qwen3-8B-AWQ": ("qwen3-8b-awq", "Qwen3ForCausalLM", "5.68Gi", "85Gi", 40960, "GQA", 147456, "awq (4-bit)", 1, 1, 180),
    "Qwen/Qwen3.5-2B": ("qwen3.5-2b", "Qwen3_5ForConditionalGeneration", "4.24Gi", "84Gi", 262144, "GQA", 49152, "-", 1, 1, 180),
    "Qwen/Qwen3.5-4B": ("qwen3.5-4b", "Qwen3_5ForConditionalGeneration", "8.68Gi", "88Gi", 262144, "GQA", 131072, "-", 1, 1, 180),
    "Qwen/Qwen3.5-9B": ("qwen3.5-9b", "Qwen3_5ForConditionalGeneration", "17.98Gi", "97Gi", 262144, "GQA", 131072, "-", 2, 1, 180),
    "Qwen/Qwen3.5-122B-A10B-GPTQ-Int4": ("qwen3.5-122b-a10b-gptq-int4", "Qwen3_5MoeForConditionalGeneration", "73.47Gi", "153Gi", 262144, "GQA", 98304, "gptq (4-bit)", 5, 2, 223),
    "Qwen/Qwen3.5-122B-A10B": ("qwen3.5-122b-a10b", "Qwen3_5MoeForConditionalGeneration", "232.99Gi", "312Gi", 262144, "GQA", 98304, "-", 15, 4, 510),
    "Qwen/Qwen3.5-397B-A17B-GPTQ-Int4": ("qwen3.5-397b-a17b-gptq-int4", "Qwen3_5MoeForConditionalGeneration", "219.56Gi", "299Gi", 262144, "GQA", 122880, "gptq (4-bit)", 14, 4, 486),
    "Qwen/Qwen3.6-35B-A3B-FP8": ("qwen3.6-35b-a3b-fp8", "Qwen3_5MoeForConditionalGeneration", "34.90Gi", "114Gi", 262144, "GQA", 81920, "fp8", 3, 1, 180),
    "Qwen/Qwen3.6-35B-A3B": ("qwen3.6-35b-a3b", "Qwen3_5MoeForConditionalGeneration", "66.97Gi", "146Gi", 262144, "GQA", 81920, "-", 5, 2, 211),
    "Qwen/Qwen3.6-27B": ("qwen3.6-27b", "Qwen3_5ForConditionalGeneration", "51.75Gi", "131Gi", 262144, "GQA", 262144, "-", 4, 1, 184),
    "Qwen/Qwen3.8-27B": ("qwen3.8-27b", "Qwen3_5ForConditionalGeneration", "51.75Gi", "131Gi", 262144, "GQA", 262144, "-", 4, 1, 184),
    "google/gemma-4-31B-it": ("gemma-4-31b-it", "Gemma4ForConditionalGeneration", "58.25Gi", "138Gi", 262144, "GQA", 983040, "-", 4, 1, 195),
    "google/gemma-4-26B-A4B-it": ("gemma-4-26b-a4b-it", "Gemma4ForConditionalGeneration", "48.07Gi", "128Gi", 262144, "GQA", 245760, "-", 3, 1, 180),
    "google/gemma-4-12B-it": ("gemma-4-12b-it", "Gemma4UnifiedForConditionalGeneration", "22.28Gi", "102Gi", 262144, "GQA", 393216, "-", 2, 1, 180),
    "google/gemma-4-E4B-it": ("gemma-4-e4b-it", "Gemma4ForConditionalGeneration", "14.89Gi", "94Gi", 131072, "GQA", 86016, "-", 1, 1, 180),
    "google/gemma-4-E2B-it": ("gemma-4-e2b-it", "Gemma4ForConditionalGeneration", "9.54Gi", "89Gi", 131072, "MQA", 35840, "-", 1, 1, 180),
    "mistralai/Mistral-Small-4-119B-2603": ("mistral-small-4-119b-2603", "Mistral3ForConditionalGeneration", "112.63Gi", "192Gi", 1048576, "MLA", 23040, "fp8", 7, 2, 293),
    "mistralai/Mistral-Small-4-119B-2603-NVFP4": ("mistral-small-4-119b-2603-nvfp4", "Mistral3ForConditionalGeneration", "65.95Gi", "145Gi", 1048576, "MLA", 23040, "nvfp4-pack-quantized", 4, 2, 209),
    "mistralai/Mistral-Medium-3.5-128B": ("mistral-medium-3.5-128b", "Mistral3ForConditionalGeneration", "124.43Gi", "204Gi", 262144, "GQA", 360448, "fp8", 8, 3, 314),
    "moonshotai/Kimi-K2.5": ("kimi-k2.5", "KimiK25ForConditionalGeneration", "554.32Gi", "634Gi", 262144, "MLA", 70272, "pack-quantized", 34, 10, 1080),
    "moonshotai/Kimi-K2.6": ("kimi-k2.6", "KimiK25ForConditionalGeneration", "554.32Gi", "634Gi", 262144, "MLA", 70272, "pack-quantized", 34, 10, 1080),
    "moonshotai/Kimi-K2.7-Code": ("kimi-k2.7-code", "KimiK25ForConditionalGeneration", "554.32Gi", "634Gi", 262144, "MLA", 70272, "pack-quantized", 34, 10, 1080),
    "MiniMaxAI/MiniMax-M2.7": ("minimax-m2.7", "MiniMaxM2ForCausalLM", "214.34Gi", "294Gi", 204800, "GQA", 253952, "fp8", 14, 4, 476),
    "deepseek-ai/DeepSeek-V3.2": ("deepseek-v3.2", "DeepseekV32ForCausalLM", "642.14Gi", "722Gi", 163840, "MLA", 70272, "fp8", 39, 11, 1080),
    "deepseek-ai/DeepSeek-V4-Flash-0731": ("deepseek-v4-flash-0731", "DeepseekV4ForCausalLM", "155.43Gi", "235Gi", 1048576, "MQA", 88064, "fp8", 10, 3, 370),
    "deepseek-ai/DeepSeek-V4-Pro": ("deepseek-v4-pro", "DeepseekV4ForCausalLM", "805.34Gi", "885Gi", 1048576, "MQA", 124928, "fp8", 49, 14, 1080),
    "zai-org/GLM-5.2-FP8": ("glm-5.2-fp8", "GlmMoeDsaForCausalLM", "703.75Gi", "783Gi", 1048576, "MLA", 89856, "fp8", 43, 12, 1080),
    "ibm-granite/granite-4.1-8b": ("granite-4.1-8b", "GraniteForCausalLM", "16.38Gi", "96Gi", 131072, "GQA", 163840, "-", 1, 1, 180),
}

# §2.5(e): targetNodeCount at the default context (2048) on the 11 Azure SKUs, by served name.
NODE_COUNT_SKUS = (
    "Standard_NV36ads_A10_v5", "Standard_NV72ads_A10_v5", "Standard_NC24ads_A100_v4", "Standard_NC48ads_A100_v4",
    "Standard_NC96ads_A100_v4", "Standard_ND96asr_A100_v4", "Standard_ND96amsr_A100_v4", "Standard_NC40ads_H100_v5",
    "Standard_NC80adis_H100_v5", "Standard_ND96isr_H100_v5", "Standard_ND96isr_H200_v5",
)
NODE_COUNT_ROWS = (
    (("phi-4", "phi-3-medium-4k-instruct", "phi-3-medium-128k-instruct", "deepseek-r1-distill-qwen-14b", "gpt-oss-20b",
      "nvidia-nemotron-nano-12b-v2-vl-bf16", "nvidia-nemotron-nano-9b-v2", "qwen3.5-9b", "gemma-4-12b-it"),
     (2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("phi-4-mini-instruct", "phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3.5-mini-instruct",
      "llama-3.1-8b-instruct", "deepseek-r1-distill-llama-8b", "qwen2.5-coder-7b-instruct", "mistral-7b-v0.3",
      "mistral-7b-instruct-v0.3", "ministral-3-3b-instruct-2512", "ministral-3-8b-instruct-2512",
      "ministral-3-14b-instruct-2512", "gemma-3-4b-it", "nvidia-nemotron-3-nano-4b-bf16", "qwen3-8b-awq",
      "gemma-4-e4b-it", "gemma-4-e2b-it", "qwen3.5-2b", "qwen3.5-4b", "granite-4.1-8b"),
     (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("qwen2.5-coder-32b-instruct",), (4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("gemma-3-27b-it", "nemotron-cascade-2-30b-a3b", "nvidia-nemotron-3-nano-30b-a3b-bf16", "gemma-4-31b-it",
      "qwen3.6-27b", "qwen3.8-27b"),
     (4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("gemma-4-26b-a4b-it", "qwen3.6-35b-a3b-fp8"), (3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("gpt-oss-120b",), (8, 4, 3, 2, 1, 1, 1, 2, 1, 1, 1)),
    (("llama-3.3-70b-instruct",), (9, 5, 3, 2, 1, 1, 1, 2, 1, 1, 1)),
    (("mistral-medium-3.5-128b",), (8, 4, 3, 2, 1, 1, 1, 2, 1, 1, 1)),
    (("mistral-small-4-119b-2603",), (7, 4, 2, 1, 1, 1, 1, 2, 1, 1, 1)),
    (("mistral-small-4-119b-2603-nvfp4",), (4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("qwen3.5-122b-a10b-gptq-int4",), (5, 3, 2, 1, 1, 1, 1, 2, 1, 1, 1)),
    (("qwen3.6-35b-a3b",), (5, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1)),
    (("qwen3.5-122b-a10b",), (15, 8, 4, 2, 1, 1, 1, 4, 2, 1, 1)),
    (("qwen3.5-397b-a17b-gptq-int4", "minimax-m2.7", "nvidia-nemotron-3-super-120b-a12b-bf16"),
     (14, 7, 4, 2, 1, 1, 1, 4, 2, 1, 1)),
    (("nvidia-nemotron-3-ultra-550b-a55b-nvfp4",), (20, 10, 6, 3, 2, 2, 1, 5, 3, 1, 1)),
    (("deepseek-v4-flash-0731",), (10, 5, 3, 2, 1, 1, 1, 3, 2, 1, 1)),
    (("deepseek-r1-0528", "deepseek-v3-0324", "deepseek-v3.2", "mistral-large-3-675b-instruct-2512"),
     (39, 20, 11, 6, 3, 3, 2, 9, 5, 2, 1)),
    (("kimi-k2.5", "kimi-k2.6", "kimi-k2.7-code"), (34, 17, 10, 5, 3, 3, 2, 8, 4, 2, 1)),
    (("glm-5.2-fp8",), (43, 22, 12, 6, 3, 4, 2, 10, 5, 2, 1)),
    (("deepseek-v4-pro",), (49, 25, 14, 7, 4, 4, 2, 12, 6, 2, 1)),
)


def _flags(fmt="auto/auto/auto", dtype="bfloat16", tool=None, reasoning=None, template=None, extra=None,
           kv_offload=True, deep_gemm=False, cuda=False):
    load, config, tokenizer = fmt.split("/")
    return {"loadFormat": load, "configFormat": config, "tokenizerMode": tokenizer, "dtype": dtype,
            "toolCallParser": tool, "reasoningParser": reasoning, "chatTemplate": template, "extraFlags": extra or {},
            "kvCacheCpuOffload": kv_offload, "deepGemm": deep_gemm, "cudaToolkit": cuda}


_QWEN35 = dict(tool="qwen3_coder", reasoning="qwen3", extra={"gdn-prefill-backend": "triton"}, kv_offload=False)
_NEMOTRON = dict(tool="qwen3_coder", reasoning="nemotron_v3", kv_offload=False)
_GEMMA4 = dict(tool="gemma4", reasoning="gemma4", template="tool-chat-gemma4.jinja", kv_offload=False)
_MISTRAL = "mistral/mistral/mistral"

# §2.4: the static vLLM flags per served name.
VLLM_FLAGS = {
    "phi-4": _flags(),
    "phi-4-mini-instruct": _flags(template="tool-chat-phi4-mini.jinja"),
    **{name: _flags() for name in ("phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3-medium-4k-instruct",
                                   "phi-3-medium-128k-instruct", "phi-3.5-mini-instruct")},
    **{name: _flags("auto/auto/deepseek_v32", tool="deepseek_v3", reasoning="deepseek_r1",
                    template="tool-chat-deepseekr1.jinja")
       for name in ("deepseek-r1-distill-llama-8b", "deepseek-r1-distill-qwen-14b")},
    "deepseek-r1-0528": _flags("auto/auto/deepseek_v32", "auto", "deepseek_v3", "deepseek_r1",
                               "tool-chat-deepseekr1.jinja"),
    "deepseek-v3-0324": _flags("auto/auto/deepseek_v32", "auto", "deepseek_v3", "deepseek_v3",
                               "tool-chat-deepseekv3.jinja"),
    "deepseek-v3.2": _flags("auto/auto/deepseek_v32", "auto", "deepseek_v32", "deepseek_v3", "tool-chat-deepseekv3.jinja",
                            {"kernel-config.enable_flashinfer_autotune": "False"}, False, True, True),
    **{name: _flags("auto/auto/deepseek_v4", "auto", "deepseek_v4", "deepseek_v4", None, {"kv-cache-dtype": "fp8"},
                    False, True, True)
       for name in ("deepseek-v4-flash-0731", "deepseek-v4-pro")},
    **{name: _flags(tool="hermes", template="tool-chat-hermes.jinja")
       for name in ("qwen2.5-coder-7b-instruct", "qwen2.5-coder-32b-instruct")},
    "qwen3-8b-awq": _flags(dtype="auto", tool="hermes", reasoning="qwen3"),
    **{name: _flags(**_QWEN35) for name in ("qwen3.5-2b", "qwen3.5-4b", "qwen3.5-9b", "qwen3.5-122b-a10b",
                                             "qwen3.6-35b-a3b", "qwen3.6-27b", "qwen3.8-27b")},
    **{name: _flags(dtype="auto", **_QWEN35) for name in ("qwen3.5-122b-a10b-gptq-int4", "qwen3.5-397b-a17b-gptq-int4",
                                                          "qwen3.6-35b-a3b-fp8")},
    **{name: _flags(dtype="auto", tool="openai", reasoning="openai_gptoss", kv_offload=False)
       for name in ("gpt-oss-20b", "gpt-oss-120b")},
    **{name: _flags(tool="llama3_json", template="tool-chat-llama3.1-json.jinja")
       for name in ("llama-3.1-8b-instruct", "llama-3.3-70b-instruct")},
    **{name: _flags(_MISTRAL, tool="mistral") for name in ("mistral-7b-v0.3", "mistral-7b-instruct-v0.3")},
    **{name: _flags(_MISTRAL, "auto") for name in ("ministral-3-3b-instruct-2512", "ministral-3-8b-instruct-2512",
                                                   "ministral-3-14b-instruct-2512")},
    "mistral-large-3-675b-instruct-2512": _flags(_MISTRAL, "auto", "mistral"),
    "mistral-small-4-119b-2603": _flags(_MISTRAL, "auto", "mistral", "mistral", cuda=True),
    **{name: _flags(_MISTRAL, "auto", "mistral", "mistral")
       for name in ("mistral-small-4-119b-2603-nvfp4", "mistral-medium-3.5-128b")},
    **{name: _flags(tool="functiongemma") for name in ("gemma-3-4b-it", "gemma-3-27b-it")},
    **{name: _flags(**_GEMMA4) for name in ("gemma-4-31b-it", "gemma-4-26b-a4b-it", "gemma-4-12b-it", "gemma-4-e4b-it",
                                             "gemma-4-e2b-it")},
    **{name: _flags(**_NEMOTRON) for name in ("nvidia-nemotron-3-super-120b-a12b-bf16", "nemotron-cascade-2-30b-a3b",
                                               "nvidia-nemotron-3-nano-30b-a3b-bf16",
                                               "nvidia-nemotron-nano-12b-v2-vl-bf16", "nvidia-nemotron-nano-9b-v2",
                                               "nvidia-nemotron-3-nano-4b-bf16")},
    "nvidia-nemotron-3-ultra-550b-a55b-nvfp4": _flags(dtype="auto", **_NEMOTRON),
    **{name: _flags(dtype="auto", tool="kimi_k2", reasoning="kimi_k2") for name in ("kimi-k2.5", "kimi-k2.6",
                                                                                     "kimi-k2.7-code")},
    "minimax-m2.7": _flags(dtype="auto", tool="minimax_m2", reasoning="minimax_m2_append_think",
                           extra={"enable-expert-parallel": ""}),
    "glm-5.2-fp8": _flags(dtype="auto", tool="glm47", reasoning="glm45", extra={"kv-cache-dtype": "fp8"},
                          deep_gemm=True, cuda=True),
    "granite-4.1-8b": _flags(tool="granite4", reasoning="granite"),
}

# §2.4, last paragraph: served names with Kaito transformers-runtime parameters.
TRANSFORMERS_MODELS = {
    "phi-4", "phi-3-mini-4k-instruct", "phi-3-mini-128k-instruct", "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct", "phi-3.5-mini-instruct", "mistral-7b-v0.3", "mistral-7b-instruct-v0.3",
    "gemma-3-4b-it", "gemma-3-27b-it", "qwen2.5-coder-7b-instruct", "qwen2.5-coder-32b-instruct",
    "llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "gpt-oss-20b", "gpt-oss-120b", "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b", "deepseek-r1-0528", "deepseek-v3-0324",
}

# §3.1/§3.2 (+ legacy-skus.md): name → (GPUs, GPU model, node GiB, GiB per GPU, NVMe, compute capability).
SKUS = {
    "azure": {
        "Standard_NV36ads_A10_v5": (1, "NVIDIA A10", 24, 24, False, 8.6),
        "Standard_NV72ads_A10_v5": (2, "NVIDIA A10", 48, 24, False, 8.6),
        "Standard_NC24ads_A100_v4": (1, "NVIDIA A100", 80, 80, True, 8.0),
        "Standard_NC48ads_A100_v4": (2, "NVIDIA A100", 160, 80, True, 8.0),
        "Standard_NC96ads_A100_v4": (4, "NVIDIA A100", 320, 80, True, 8.0),
        "Standard_ND96asr_A100_v4": (8, "NVIDIA A100", 320, 40, False, 8.0),
        "Standard_ND96amsr_A100_v4": (8, "NVIDIA A100", 640, 80, True, 8.0),
        "Standard_NC40ads_H100_v5": (1, "NVIDIA H100", 94, 94, True, 9.0),
        "Standard_NC80adis_H100_v5": (2, "NVIDIA H100", 188, 94, True, 9.0),
        "Standard_ND96isr_H100_v5": (8, "NVIDIA H100", 640, 80, True, 9.0),
        "Standard_NCC40ads_H100_v5": (1, "NVIDIA H100", 94, 94, False, 9.0),
        "Standard_ND96isr_H200_v5": (8, "NVIDIA H200", 1128, 141, True, 9.0),
        "Standard_NG32ads_V620_v1": (1, "AMD Radeon PRO V620", 32, 32, False, 0.0),
        "Standard_NG32adms_V620_v1": (1, "AMD Radeon PRO V620", 32, 32, False, 0.0),
    },
    "aws": {
        "p4d.24xlarge": (8, "NVIDIA A100", 320, 40, True, 8.0),
        "p4de.24xlarge": (8, "NVIDIA A100", 640, 80, True, 8.0),
        "p5.48xlarge": (8, "NVIDIA H100", 640, 80, True, 9.0),
        **{n: (8, "NVIDIA H200", 1128, 141, True, 9.0) for n in ("p5e.48xlarge", "p5en.48xlarge")},
        **{n: (1, "NVIDIA L4", 24, 24, True, 8.9) for n in ("g6.xlarge", "g6.2xlarge", "g6.4xlarge", "g6.8xlarge",
                                                           "g6.16xlarge", "gr6.4xlarge", "gr6.8xlarge")},
        **{n: (4, "NVIDIA L4", 96, 24, True, 8.9) for n in ("g6.12xlarge", "g6.24xlarge")},
        "g6.48xlarge": (8, "NVIDIA L4", 192, 24, True, 8.9),
        **{n: (1, "NVIDIA A10G", 24, 24, True, 8.6) for n in ("g5.xlarge", "g5.2xlarge", "g5.4xlarge", "g5.8xlarge",
                                                             "g5.16xlarge")},
        **{n: (4, "NVIDIA A10G", 96, 24, True, 8.6) for n in ("g5.12xlarge", "g5.24xlarge")},
        "g5.48xlarge": (8, "NVIDIA A10G", 192, 24, True, 8.6),
        **{n: (1, "AMD Radeon Pro V520", 8, 8, True, 0.0) for n in ("g4ad.xlarge", "g4ad.2xlarge", "g4ad.4xlarge")},
        "g4ad.8xlarge": (2, "AMD Radeon Pro V520", 16, 8, True, 0.0),
        "g4ad.16xlarge": (4, "AMD Radeon Pro V520", 32, 8, True, 0.0),
        "trn1.2xlarge": (1, "AWS Trainium", 32, 32, True, 0.0),
        **{n: (16, "AWS Trainium", 512, 32, True, 0.0) for n in ("trn1.32xlarge", "trn1n.32xlarge")},
        **{n: (1, "AWS Inferentia2", 32, 32, False, 0.0) for n in ("inf2.xlarge", "inf2.8xlarge")},
        "inf2.24xlarge": (6, "AWS Inferentia2", 192, 32, False, 0.0),
        "inf2.48xlarge": (12, "AWS Inferentia2", 384, 32, False, 0.0),
    },
    "arc": {
        **{n: (1, "NVIDIA A2", 16, 16, False, 8.6) for n in ("Standard_NC4_A2", "Standard_NC8_A2")},
        **{n: (2, "NVIDIA A2", 32, 16, False, 8.6) for n in ("Standard_NC16_A2", "Standard_NC32_A2")},
        **{n: (1, "NVIDIA A16", 16, 16, False, 8.6) for n in ("Standard_NC4_A16", "Standard_NC8_A16")},
        **{n: (2, "NVIDIA A16", 32, 16, False, 8.6) for n in ("Standard_NC16_A16", "Standard_NC32_A16")},
    },
}

# legacy-skus.md: name → (GPUs, GPU model, node GiB, compute capability); NVMe only where the table gives it.
LEGACY_SKUS = {
    "azure": {
        "Standard_NC6s_v3": (1, "NVIDIA V100", 16, 7.0), "Standard_NC12s_v3": (2, "NVIDIA V100", 32, 7.0),
        "Standard_NC24s_v3": (4, "NVIDIA V100", 64, 7.0), "Standard_NC24rs_v3": (4, "NVIDIA V100", 64, 7.0),
        "Standard_NC4as_T4_v3": (1, "NVIDIA T4", 16, 7.5), "Standard_NC8as_T4_v3": (1, "NVIDIA T4", 16, 7.5),
        "Standard_NC16as_T4_v3": (1, "NVIDIA T4", 16, 7.5), "Standard_NC64as_T4_v3": (4, "NVIDIA T4", 64, 7.5),
        "Standard_NV6": (1, "NVIDIA M60", 8, 5.2), "Standard_NV12": (2, "NVIDIA M60", 16, 5.2),
        "Standard_NV24": (4, "NVIDIA M60", 32, 5.2), "Standard_NV12s_v3": (1, "NVIDIA M60", 8, 5.2),
        "Standard_NV24s_v3": (2, "NVIDIA M60", 16, 5.2), "Standard_NV48s_v3": (4, "NVIDIA M60", 32, 5.2),
        "Standard_NV32as_v4": (1, "AMD Radeon Instinct MI25", 16, 0.0),
    },
    "aws": {
        "p2.xlarge": (1, "NVIDIA K80", 12, 3.7), "p2.8xlarge": (8, "NVIDIA K80", 96, 3.7),
        "p2.16xlarge": (16, "NVIDIA K80", 192, 3.7), "p3.2xlarge": (1, "NVIDIA V100", 16, 7.0),
        "p3.8xlarge": (4, "NVIDIA V100", 64, 7.0), "p3.16xlarge": (8, "NVIDIA V100", 128, 7.0),
        "p3dn.24xlarge": (8, "NVIDIA V100", 256, 7.0),
        **{n: (1, "NVIDIA T4", 16, 7.5) for n in ("g4dn.xlarge", "g4dn.2xlarge", "g4dn.4xlarge", "g4dn.8xlarge",
                                                 "g4dn.16xlarge", "g5g.xlarge", "g5g.2xlarge", "g5g.4xlarge",
                                                 "g5g.8xlarge")},
        "g4dn.12xlarge": (4, "NVIDIA T4", 64, 7.5), "g4dn.metal": (8, "NVIDIA T4", 128, 7.5),
        **{n: (2, "NVIDIA T4", 32, 7.5) for n in ("g5g.16xlarge", "g5g.metal")},
        **{n: (1, "NVIDIA M60", 8, 5.2) for n in ("g3s.xlarge", "g3s.4xlarge")},
        "g3s.8xlarge": (2, "NVIDIA M60", 16, 5.2), "g3s.16xlarge": (4, "NVIDIA M60", 32, 5.2),
    },
    "arc": {"Standard_NK6": (1, "NVIDIA T4", 8, 7.5), "Standard_NK12": (2, "NVIDIA T4", 16, 7.5)},
}
LEGACY_AWS_NVME = {"g4dn.xlarge", "g4dn.2xlarge", "g4dn.4xlarge", "g4dn.8xlarge", "g4dn.16xlarge", "g4dn.12xlarge",
                   "g4dn.metal"}

# §1.5 I4: the MIG profiles Kaito knows.
MIG_PROFILES = {
    "1g.6gb", "2g.12gb", "4g.24gb", "1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb", "1g.10gb", "1g.20gb",
    "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb", "1g.12gb", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb",
    "3g.48gb", "4g.48gb", "7g.96gb", "1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb", "1g.23gb",
    "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb",
}
