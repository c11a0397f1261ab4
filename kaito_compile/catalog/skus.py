"""Typed entries of the GPU SKU catalog (``presets/skus.yaml``) and the MIG profile table."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..goregex import go_regex
from .quantity import GIB

Cloud = Literal["azure", "aws", "arc"]
CLOUDS: tuple[str, ...] = ("azure", "aws", "arc")

MIG_PROFILE_PATTERN = go_regex(r"^([0-9]+)g\.([0-9.]+)gb$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sku(_Strict):
    name: str = Field(min_length=1)
    gpus: int = Field(ge=1, description="GPUs per node")
    gpuModel: str = Field(min_length=1)
    memoryGiB: int = Field(ge=1, description="GPU memory of the whole node")
    perGpuGiB: int = Field(ge=1, description="memory of one GPU")
    nvme: bool = Field(description="local NVMe disks (Kaito caches weights on a local PVC)")
    computeCapability: float = Field(ge=0, description="CUDA compute capability; 0 without CUDA")
    legacy: bool = Field(False, description="listed by Kaito until v0.7.2 only: refused by the vllm runtime")

    @model_validator(mode="after")
    def _memory_adds_up(self) -> Sku:
        if self.perGpuGiB * self.gpus != self.memoryGiB:
            raise ValueError(f"memoryGiB {self.memoryGiB} is not gpus × perGpuGiB = {self.gpus} × {self.perGpuGiB}")
        return self

    @property
    def memory_bytes(self) -> int:
        return self.memoryGiB * GIB

    @property
    def has_cuda(self) -> bool:
        return self.computeCapability > 0


class MigGpu(_Strict):
    gpu: str
    profiles: list[str] = Field(min_length=1)


class SkusFile(_Strict):
    clouds: dict[Cloud, list[Sku]]
    migProfiles: list[MigGpu] = Field(default_factory=list)
