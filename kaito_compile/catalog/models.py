"""Typed entries of the preset catalog (``presets/models.yaml`` and project catalogs).

An entry holds what Kaito's catalog and its per-model tables know about one HuggingFace model;
everything Kaito derives from those numbers (served name, disk size, KV-cache bytes per token,
readiness timeout, tuning image) is a property here, computed the way Kaito computes it.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .quantity import GIB, quantity_bytes

SYSTEM_DISK_GIB = 80
"""Kaito adds this to the weights for the node's disk request (``SystemFileDiskSizeGiB``)."""

CHAT_TEMPLATE_DIR = "/workspace/chat_templates"

_SECOND_NS = 10**9
READINESS_BASE_NS = 15 * 60 * _SECOND_NS
READINESS_PER_GIB_NS = 18 * _SECOND_NS
READINESS_MIN_NS = 30 * 60 * _SECOND_NS
READINESS_MAX_NS = 180 * 60 * _SECOND_NS
STARTUP_PROBE_PERIOD_SECONDS = 10

HF_ID_PATTERN = r"^[^/\s]+/[^/\s]+$"
FILE_SIZE_PATTERN = r"^[0-9]+(\.[0-9]+)?Gi$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attention(_Strict):
    """Attention geometry from config.json, as Kaito's catalog records it (0 = absent)."""

    hiddenSize: int = Field(ge=0)
    numHiddenLayers: int = Field(ge=0)
    numAttentionHeads: int = Field(ge=0)
    numKeyValueHeads: int = Field(0, ge=0, description="0: absent (then multiQuery, else MHA)")
    headDim: int | None = Field(None, ge=1, description="absent: hiddenSize / numAttentionHeads")
    kvLoraRank: int | None = Field(None, ge=0, description="present only for multi-head latent attention")
    qkRopeHeadDim: int | None = Field(None, ge=0)
    multiQuery: bool = Field(False, description="config.json multi_query, used when numKeyValueHeads is absent")

    @property
    def head_dim(self) -> int:
        if self.headDim:
            return self.headDim
        return self.hiddenSize // self.numAttentionHeads if self.numAttentionHeads else 0

    @property
    def kv_heads(self) -> int:
        if self.numKeyValueHeads or not self.numAttentionHeads:
            return self.numKeyValueHeads
        return 1 if self.multiQuery else self.numAttentionHeads

    @property
    def _elements_per_token(self) -> int:
        if self.kvLoraRank is not None:
            return self.kvLoraRank + (self.qkRopeHeadDim or 0)
        if self.numAttentionHeads and self.kv_heads and self.head_dim:
            return 2 * self.kv_heads * self.head_dim
        return 0

    @property
    def bytes_per_token(self) -> int:
        """KV-cache bytes per token over all layers; Kaito hard-codes 2-byte (fp16) elements."""
        return self._elements_per_token * self.numHiddenLayers * 2

    @property
    def attn_type(self) -> str:
        if self.kvLoraRank is not None:
            return "MLA"
        if not self._elements_per_token:
            return "Unknown"
        if self.numAttentionHeads == self.kv_heads:
            return "MHA"
        return "MQA" if self.kv_heads == 1 else "GQA"


class Quantization(_Strict):
    method: str = Field(description="quantization_config.quant_method (or format/quant_algo)")
    bits: int | None = Field(None, ge=1)


class VllmFlags(_Strict):
    """The static vLLM flags of the model (kaito-api.md 2.4); dynamic ones come from the sizing."""

    dtype: Literal["auto", "bfloat16", "float16", "float32"]
    loadFormat: str = "auto"
    configFormat: str = "auto"
    tokenizerMode: str = "auto"
    toolCallParser: str | None = None
    reasoningParser: str | None = None
    chatTemplate: str | None = Field(None, description=f"file name under {CHAT_TEMPLATE_DIR}")
    extraFlags: dict[str, str] = Field(default_factory=dict, description="flag → value; empty for a bare flag")
    kvCacheCpuOffload: bool = Field(
        True, description="false: --kaito-kv-cache-cpu-memory-utilization=0 (hybrid KV cache, LMCache bugs)")
    deepGemm: bool = Field(False, description="env VLLM_USE_DEEP_GEMM=1")
    cudaToolkit: bool = Field(False, description="needs the runtime CUDA toolkit (provisioner init container)")

    def static_args(self) -> dict[str, str]:
        """Flag → value as Kaito puts them on the command line ('' is a bare flag)."""
        args = {
            "load_format": self.loadFormat,
            "config_format": self.configFormat,
            "tokenizer_mode": self.tokenizerMode,
            "trust-remote-code": "",
            "dtype": self.dtype,
        }
        if self.toolCallParser:
            args["tool-call-parser"] = self.toolCallParser
            args["enable-auto-tool-choice"] = ""
        if self.chatTemplate:
            args["chat-template"] = f"{CHAT_TEMPLATE_DIR}/{self.chatTemplate}"
        if self.reasoningParser:
            args["reasoning-parser"] = self.reasoningParser
        args.update(self.extraFlags)
        if not self.kvCacheCpuOffload:
            args["kaito-kv-cache-cpu-memory-utilization"] = "0"
        return args


class Tuning(_Strict):
    """Kaito's tuning data for a legacy preset: the weights image tag and whether tuning works."""

    weightsTag: str = Field(pattern=r"^[0-9A-Za-z_.-]+$")
    supported: bool
    note: str | None = None


class ModelEntry(_Strict):
    hfId: str = Field(pattern=HF_ID_PATTERN, description="HuggingFace repo id (matched case-insensitively)")
    aliases: list[str] = Field(default_factory=list, description="Kaito legacy preset names (built-in catalog only)")
    fileSize: str = Field(pattern=FILE_SIZE_PATTERN, description="total size of the weight files (modelFileSize)")
    weightsDtype: Literal["bfloat16", "float16", "float32"] | None = Field(
        None, description="checkpoint dtype when known; float32 weights take half the space once loaded in 16 bit")
    contextLimit: int = Field(ge=0, description="ModelTokenLimit")
    architectures: list[str] = Field(default_factory=list)
    attention: Attention
    quantization: Quantization | None = None
    gated: bool = Field(False, description="the repo needs an accepted licence and an HF_TOKEN")
    vllm: VllmFlags
    transformers: str | None = Field(None, description="transformers runtime family (key of transformersFamilies)")
    tuning: Tuning | None = Field(None, description="Kaito tuning data (built-in legacy presets only)")

    @property
    def short_name(self) -> str:
        """Served model name: the lower-cased last path segment of the HF id."""
        return self.hfId.rsplit("/", 1)[-1].lower()

    @property
    def model_id(self) -> str:
        """What Kaito passes as ``--model``: the lower-cased HF id."""
        return self.hfId.lower()

    @property
    def file_size_bytes(self) -> int:
        return quantity_bytes(self.fileSize)

    @property
    def file_size_gib(self) -> float:
        return float(self.fileSize.removesuffix("Gi"))

    @property
    def disk_storage_requirement(self) -> str:
        """Node disk request: floor(weights GiB + 80) Gi."""
        return f"{int(self.file_size_gib + SYSTEM_DISK_GIB)}Gi"

    @property
    def bytes_per_token(self) -> int:
        return self.attention.bytes_per_token

    @property
    def attn_type(self) -> str:
        return self.attention.attn_type

    @property
    def readiness_timeout_ns(self) -> int:
        """15 min + 18 s per GiB of weights, clamped to [30 min, 180 min] (Go time.Duration)."""
        size_gib = float(self.file_size_bytes) / float(GIB)
        timeout = READINESS_BASE_NS + int(size_gib * float(READINESS_PER_GIB_NS))
        return min(max(timeout, READINESS_MIN_NS), READINESS_MAX_NS)

    @property
    def readiness_timeout_seconds(self) -> float:
        seconds, nanos = divmod(self.readiness_timeout_ns, _SECOND_NS)
        return float(seconds) + float(nanos) / 1e9

    @property
    def startup_failure_threshold(self) -> int:
        """Startup-probe failureThreshold covering the readiness timeout at a 10 s period."""
        return math.ceil(self.readiness_timeout_seconds / STARTUP_PROBE_PERIOD_SECONDS)

    @property
    def tunable(self) -> bool:
        return bool(self.tuning and self.tuning.supported)

    @property
    def quantized(self) -> bool:
        return self.quantization is not None

    def tuning_weights_image(self, registry: str) -> str | None:
        """``<registry>/kaito-<legacy name>:<tag>``: the image Kaito pulls tuning weights from."""
        if not (self.tuning and self.aliases):
            return None
        return f"{registry}/kaito-{self.aliases[0]}:{self.tuning.weightsTag}"


class BaseImage(_Strict):
    name: str
    tag: str
    vllm: str
    transformers: str


class KaitoRelease(_Strict):
    """The Kaito release the built-in catalog describes."""

    version: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    registry: str = Field(description="PRESET_REGISTRY_NAME")
    baseImage: BaseImage

    @property
    def base_image(self) -> str:
        return f"{self.registry}/{self.baseImage.name}:{self.baseImage.tag}"


class RejectedName(_Strict):
    name: str
    reason: Literal["deprecated", "removed"] = Field(
        description="deprecated: Kaito says so; removed: Kaito reports an unsupported preset name")


class ModelsFile(_Strict):
    """A preset catalog file. The built-in one also carries the release, families and rejected names."""

    kaito: KaitoRelease | None = None
    transformersFamilies: dict[str, dict[str, str]] = Field(default_factory=dict)
    rejected: list[RejectedName] = Field(default_factory=list)
    models: list[ModelEntry] = Field(default_factory=list)
