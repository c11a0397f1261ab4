"""The InferenceSet input (kaito.sh v1beta1 and v1alpha1) and its projection onto child Workspaces.

An InferenceSet owns N Workspaces that Kaito's controller creates at run time with ``generateName``. kaito-compile
projects them ahead of time, as ``NewWorkspaceForInferenceSet`` builds them (reference kaito-inferenceset.md §2.1),
under deterministic names ``<set>-<index>``. The projected Workspace is a :class:`~..source.Document` whose nodes
are the InferenceSet's own YAML nodes where the child copies them (``spec.template.inference``,
``spec.labelSelector``, ``spec.template.resource.partition``, template annotations), so every Workspace rule run on a
child reports its diagnostic inside ``spec.template`` of the InferenceSet, at the right line and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import Field
from ruamel.yaml.comments import CommentedMap

from ..diagnostics import Diagnostic
from ..source import Document, DocumentTooLarge
from .models import InferenceSpecBeta, LabelSelector, ObjectMeta, PartitionSpec, Strict
from .schema import (SCHEMA_DIR, committed_validator, dump_schema, model_schema, positioned_errors, validated_model,
                     write_schema_files)

KIND = "InferenceSet"
CREATED_BY_LABEL = "inferenceset.kaito.sh/created-by"
PROPAGATED_LABELS = ("kaito.sh/inference-role", "multiroleinference.kaito.sh/created-by")
"""Labels copied from the InferenceSet's own metadata onto every child (reference §2.1)."""
DISABLE_BENCHMARK = "kaito.sh/disable-benchmark"


class MaintenanceWindow(Strict):
    schedule: str = Field(description="5-field cron expression, UTC")
    duration: str | None = "4h"


class AutoUpgrade(Strict):
    enabled: bool | None = False
    strategy: Literal["InPlace", "Surge"] | None = "InPlace"
    maintenanceWindow: MaintenanceWindow | None = None


class TemplateMeta(Strict):
    """``spec.template.metadata``: schemaless in the CRD; Kaito reads only labels and annotations, so only those
    are accepted (anything else would be dropped silently)."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class TemplateResourceBeta(Strict):
    instanceType: str | None = None
    partition: PartitionSpec | None = None


class TemplateResourceAlpha(Strict):
    instanceType: str | None = None


class TemplateBeta(Strict):
    metadata: TemplateMeta | None = None
    resource: TemplateResourceBeta | None = None
    inference: InferenceSpecBeta


class TemplateAlpha(Strict):
    metadata: TemplateMeta | None = None
    resource: TemplateResourceAlpha | None = None
    inference: InferenceSpecBeta  # v1alpha1 reuses the v1beta1 InferenceSpec type (reference §1.1)


class _SetSpec(Strict):
    replicas: int | None = Field(1, description="CRD default 1, minimum 0 (checked as KC-IS2)")
    labelSelector: LabelSelector
    nodeCountLimit: int | None = Field(None, description="checked against the planned node count (KC-IS6)")
    updateStrategy: dict[str, Any] | None = Field(None, description="not read by Kaito; accepted and ignored")
    autoUpgrade: AutoUpgrade | None = None


class SetSpecBeta(_SetSpec):
    template: TemplateBeta


class SetSpecAlpha(_SetSpec):
    template: TemplateAlpha


class InferenceSetV1beta1(Strict):
    apiVersion: Literal["kaito.sh/v1beta1"]
    kind: Literal["InferenceSet"]
    metadata: ObjectMeta
    spec: SetSpecBeta
    status: dict[str, Any] | None = None


class InferenceSetV1alpha1(Strict):
    apiVersion: Literal["kaito.sh/v1alpha1"]
    kind: Literal["InferenceSet"]
    metadata: ObjectMeta
    spec: SetSpecAlpha
    status: dict[str, Any] | None = None


SET_MODELS: dict[str, type[Strict]] = {
    "kaito.sh/v1beta1": InferenceSetV1beta1,
    "kaito.sh/v1alpha1": InferenceSetV1alpha1,
}
SCHEMA_FILES = {
    "kaito.sh/v1beta1": "inferenceset-v1beta1.schema.json",
    "kaito.sh/v1alpha1": "inferenceset-v1alpha1.schema.json",
}


def render_schema(api_version: str) -> str:
    return dump_schema(model_schema(SET_MODELS[api_version], SCHEMA_FILES[api_version]))


def write_schemas(directory=SCHEMA_DIR) -> list:
    return write_schema_files(directory, SCHEMA_FILES, render_schema)


@cache
def _validator(api_version: str):
    return committed_validator(SCHEMA_FILES[api_version],
                               lambda: model_schema(SET_MODELS[api_version], SCHEMA_FILES[api_version]))


@dataclass(frozen=True)
class ParsedInferenceSet:
    """A schema-valid InferenceSet and its source document."""

    doc: Document
    api_version: str
    model: InferenceSetV1beta1 | InferenceSetV1alpha1

    @property
    def name(self) -> str:
        return self.model.metadata.name or ""

    @property
    def spec(self) -> SetSpecBeta | SetSpecAlpha:
        return self.model.spec

    @property
    def replicas(self) -> int:
        return 1 if self.spec.replicas is None else self.spec.replicas

    def annotation(self, key: str) -> str | None:
        return (self.model.metadata.annotations or {}).get(key)

    @property
    def partition(self) -> PartitionSpec | None:
        resource = self.spec.template.resource
        return getattr(resource, "partition", None) if resource is not None else None


def is_inference_set(doc: Document) -> bool:
    data = doc.data
    return (isinstance(data, dict) and data.get("kind") == KIND and isinstance(data.get("apiVersion"), str)
            and data["apiVersion"].split("/")[0] == "kaito.sh")


def parse_inference_set(doc: Document) -> tuple[ParsedInferenceSet | None, list[Diagnostic]]:
    """The InferenceSet in ``doc`` (:func:`is_inference_set` holds), or None with the schema errors."""
    try:
        data = doc.plain
    except DocumentTooLarge as exc:
        return None, [Diagnostic("KC-Y003", str(exc), span=doc.span(()))]
    api_version = data.get("apiVersion")
    if api_version not in SET_MODELS:
        return None, [Diagnostic("KC-S010", f"unsupported apiVersion {api_version!r} for InferenceSet",
                                 span=doc.span(("apiVersion",)),
                                 hints=("use kaito.sh/v1beta1 (or the older kaito.sh/v1alpha1)",))]
    problems = positioned_errors(doc, _validator(api_version))
    if problems:
        return None, problems
    model, problems = validated_model(doc, SET_MODELS[api_version], data)
    if model is None:
        return None, problems
    return ParsedInferenceSet(doc, api_version, model), []


# --- projection: the child Workspace of each replica --------------------------------------------------------------

def child_name(set_name: str, index: int) -> str:
    """kaito-compile's name for replica ``index`` (Kaito: ``generateName: <set>-`` plus 5 random characters)."""
    return f"{set_name}-{index}"


def child_labels(iset: ParsedInferenceSet) -> dict[str, str]:
    """Template labels, the two labels propagated from the set itself, then the created-by label (which wins)."""
    template = iset.spec.template.metadata
    labels = dict((template.labels if template else None) or {})
    own = iset.model.metadata.labels or {}
    labels.update({key: own[key] for key in PROPAGATED_LABELS if key in own})
    labels[CREATED_BY_LABEL] = iset.name
    return labels


def child_annotations(iset: ParsedInferenceSet) -> dict[str, str]:
    template = iset.spec.template.metadata
    annotations = dict((template.annotations if template else None) or {})
    if iset.annotation(DISABLE_BENCHMARK) == "true":
        annotations[DISABLE_BENCHMARK] = "true"
    return annotations


def project_child(iset: ParsedInferenceSet, index: int, *, byo: bool) -> Document:
    """The child Workspace of replica ``index`` as a Document positioned in the InferenceSet's source.

    ``byo``: Kaito leaves ``resource.instanceType`` out of the child when the node provisioner is ``byo``.
    """
    src = iset.doc.positioned  # the child's values keep their positions in the set's source
    spec, template = src["spec"], src["spec"]["template"]
    resource_src = template.get("resource") if isinstance(template.get("resource"), CommentedMap) else None
    meta_src = src["metadata"]
    template_meta = template.get("metadata") if isinstance(template.get("metadata"), CommentedMap) else None

    metadata = _positioned(meta_src)
    _put(metadata, "name", child_name(iset.name, index), meta_src, "name")
    if "namespace" in meta_src:
        _put(metadata, "namespace", meta_src["namespace"], meta_src, "namespace")
    _put(metadata, "labels", child_labels(iset), template_meta or meta_src, "labels")
    annotations = _positioned(template_meta["annotations"]) if template_meta and isinstance(
        template_meta.get("annotations"), CommentedMap) else _positioned(template_meta or meta_src)
    for key, value in child_annotations(iset).items():
        owner = template_meta["annotations"] if template_meta and key in (template_meta.get("annotations") or {}) \
            else meta_src
        _put(annotations, key, value, owner, key if key in owner else None)
    if annotations:
        _put(metadata, "annotations", annotations, template_meta or meta_src,
             "annotations" if template_meta and "annotations" in template_meta else None)

    resource = _positioned(resource_src if resource_src is not None else template)
    if resource_src is not None and resource_src.get("instanceType") is not None and not byo:
        _put(resource, "instanceType", resource_src["instanceType"], resource_src, "instanceType")
    _put(resource, "labelSelector", spec["labelSelector"], spec, "labelSelector")
    if resource_src is not None and "partition" in resource_src:
        _put(resource, "partition", resource_src["partition"], resource_src, "partition")

    child = _positioned(src)
    _put(child, "apiVersion", "kaito.sh/v1beta1", src, "apiVersion")
    _put(child, "kind", "Workspace", src, "kind")
    _put(child, "metadata", metadata, src, "metadata")
    _put(child, "resource", resource, template, "resource" if resource_src is not None else None)
    _put(child, "inference", template["inference"], template, "inference")
    return Document(iset.doc.file, iset.doc.index, child, iset.doc.lines)


def _positioned(anchor: CommentedMap) -> CommentedMap:
    """An empty mapping that reports ``anchor``'s position for itself."""
    node = CommentedMap()
    node.lc.line, node.lc.col = anchor.lc.line, anchor.lc.col
    return node


def _put(node: CommentedMap, key: str, value: Any, owner: CommentedMap, owner_key: str | None) -> None:
    """``node[key] = value``, positioned where ``owner[owner_key]`` stands (else at ``owner`` itself)."""
    node[key] = value
    if owner_key is not None and owner.lc.data and owner_key in owner.lc.data:
        node.lc.add_kv_line_col(key, list(owner.lc.data[owner_key]))
    else:
        line, col = owner.lc.line or 0, owner.lc.col or 0
        node.lc.add_kv_line_col(key, [line, col, line, col])
