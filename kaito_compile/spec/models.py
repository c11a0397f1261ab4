"""The Workspace spec model (kaito.sh v1beta1 and v1alpha1), as Kaito v0.12's CRD defines it.

Field names keep Kaito's JSON spelling (``instanceType``) so a field path in a diagnostic is the
path in the user's YAML. Every mapping forbids unknown keys: the API server would prune them
silently, which hides typos; the compiler reports them instead. The committed JSON schemas in
``schemas/`` are generated from these classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEPRECATED = {"deprecated": True}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnerReference(Strict):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    blockOwnerDeletion: bool | None = None


class ObjectMeta(Strict):
    """The parts of Kubernetes ObjectMeta a Workspace manifest may carry."""

    name: str | None = None
    namespace: str | None = None
    generateName: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    uid: str | None = None
    resourceVersion: str | None = None
    generation: int | None = None
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    deletionGracePeriodSeconds: int | None = None
    managedFields: list[dict[str, Any]] | None = None


class LabelSelectorRequirement(Strict):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(Strict):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


class PartitionSpec(Strict):
    mode: str = Field(description="mig | accelerator")
    profile: str | None = None
    count: Annotated[int, Field(ge=1)] | None = None


class ResourceSpecBeta(Strict):
    count: int | None = Field(1, json_schema_extra=DEPRECATED)
    instanceType: str | None = None
    labelSelector: LabelSelector
    preferredNodes: list[str] | None = Field(None, json_schema_extra=DEPRECATED)
    partition: PartitionSpec | None = None


class ResourceSpecAlpha(Strict):
    count: int | None = 1
    instanceType: str | None = "Standard_NC24ads_A100_v4"
    labelSelector: LabelSelector
    preferredNodes: list[str] | None = Field(None, json_schema_extra=DEPRECATED)


class PresetOptionsBeta(Strict):
    image: str | None = Field(None, json_schema_extra=DEPRECATED)
    imagePullSecrets: list[str] | None = Field(None, json_schema_extra=DEPRECATED)
    modelAccessSecret: str | None = None


class PresetOptionsAlpha(Strict):
    image: str | None = None
    imagePullSecrets: list[str] | None = None


class PresetSpecBeta(Strict):
    name: str
    accessMode: Literal["public", "private"] | None = Field("public", json_schema_extra=DEPRECATED)
    presetOptions: PresetOptionsBeta | None = None


class PresetSpecAlpha(Strict):
    name: str
    accessMode: Literal["public", "private"] | None = "public"
    presetOptions: PresetOptionsAlpha | None = None


class DataSource(Strict):
    name: str | None = None
    urls: list[str] | None = None
    volumeSource: dict[str, Any] | None = None
    image: str | None = None
    imagePullSecrets: list[str] | None = None


class DataDestination(Strict):
    volumeSource: dict[str, Any] | None = None
    image: str | None = None
    imagePushSecret: str | None = None


class AdapterSpec(Strict):
    source: DataSource | None = None
    strength: str | None = None


class InferenceSpecBeta(Strict):
    preset: PresetSpecBeta | None = None
    template: dict[str, Any] | None = None
    config: str | None = None
    adapters: list[AdapterSpec] | None = None


class InferenceSpecAlpha(Strict):
    preset: PresetSpecAlpha | None = None
    template: dict[str, Any] | None = None
    config: str | None = None
    adapters: list[AdapterSpec] | None = None


class TuningSpecBeta(Strict):
    preset: PresetSpecBeta | None = None
    method: str | None = None
    config: str | None = None
    input: DataSource
    output: DataDestination


class TuningSpecAlpha(Strict):
    preset: PresetSpecAlpha | None = None
    method: str | None = None
    config: str | None = None
    input: DataSource
    output: DataDestination


class WorkspaceV1beta1(Strict):
    """kaito.sh/v1beta1 Workspace: the storage version, and the shape every later stage reads."""

    apiVersion: Literal["kaito.sh/v1beta1"]
    kind: Literal["Workspace"]
    metadata: ObjectMeta
    resource: ResourceSpecBeta
    inference: InferenceSpecBeta | None = None
    tuning: TuningSpecBeta | None = None
    status: dict[str, Any] | None = None


class WorkspaceV1alpha1(Strict):
    """kaito.sh/v1alpha1 Workspace: checked by its own rules, then normalised to v1beta1."""

    apiVersion: Literal["kaito.sh/v1alpha1"]
    kind: Literal["Workspace"]
    metadata: ObjectMeta
    resource: ResourceSpecAlpha
    inference: InferenceSpecAlpha | None = None
    tuning: TuningSpecAlpha | None = None
    status: dict[str, Any] | None = None


WORKSPACE_MODELS: dict[str, type[Strict]] = {
    "kaito.sh/v1beta1": WorkspaceV1beta1,
    "kaito.sh/v1alpha1": WorkspaceV1alpha1,
}

Workspace = WorkspaceV1beta1
