"""Stage 2, spec: YAML documents → typed Workspaces (v1alpha1 normalised to the v1beta1 shape)."""

from __future__ import annotations

from dataclasses import dataclass

from ..diagnostics import Diagnostic, Severity
from ..source import Document, DocumentTooLarge
from .models import WORKSPACE_MODELS, WorkspaceV1alpha1, WorkspaceV1beta1
from .schema import schema_diagnostics, validated_model

GROUP = "kaito.sh"


@dataclass(frozen=True)
class ParsedWorkspace:
    """A schema-valid Workspace: the v1beta1 view every rule and stage reads, plus its source."""

    doc: Document
    api_version: str
    spec: WorkspaceV1beta1
    alpha: WorkspaceV1alpha1 | None = None

    @property
    def name(self) -> str:
        return self.spec.metadata.name or ""

    def annotation(self, key: str) -> str | None:
        return (self.spec.metadata.annotations or {}).get(key)


def _note(doc: Document, message: str, code: str = "KC-N001") -> Diagnostic:
    return Diagnostic(code, message, severity=Severity.NOTE, span=doc.span(()))


def _describe_document(data: dict) -> str:
    kind = data.get("kind", "?")
    api = data.get("apiVersion", "?")
    name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    return f"{kind} ({api})" + (f" '{name}'" if name else "")


def parse_document(doc: Document, *, byo: bool = False) -> tuple[ParsedWorkspace | None, list[Diagnostic]]:
    """Return the Workspace in ``doc``, or None with notes/errors saying why there is none.

    ``byo``: nodes are brought by the user, so v1alpha1's CRD default instance type is not applied
    when the spec leaves it out (v1beta1 requires it to be empty then).
    """
    if doc.data is None:
        return None, []
    try:
        data = doc.plain
    except DocumentTooLarge as exc:
        return None, [Diagnostic("KC-Y003", str(exc), span=doc.span(()))]
    if not isinstance(data, dict):
        return None, [_note(doc, f"document {doc.index + 1} is not a mapping; ignored")]
    api_version = data.get("apiVersion")
    kind = data.get("kind")
    group = api_version.split("/")[0] if isinstance(api_version, str) else None
    if group != GROUP:
        if api_version is None and kind is None and ("resource" in data or "inference" in data or "tuning" in data):
            return None, [Diagnostic("KC-S010", "document looks like a Workspace but has no apiVersion and kind",
                                     span=doc.span(()), hints=("add 'apiVersion: kaito.sh/v1beta1' and 'kind: "
                                                              "Workspace'",))]
        return None, [_note(doc, f"{_describe_document(data)} is not a kaito.sh Workspace; ignored")]
    if kind != "Workspace":
        return None, [_note(doc, f"{_describe_document(data)} is not compiled (only Workspace is); ignored",
                            "KC-N002")]
    if api_version not in WORKSPACE_MODELS:
        return None, [Diagnostic("KC-S010", f"unsupported apiVersion {api_version!r} for Workspace",
                                 span=doc.span(("apiVersion",)),
                                 hints=("use kaito.sh/v1beta1 (or the older kaito.sh/v1alpha1)",))]
    problems = schema_diagnostics(doc, api_version)
    if problems:
        return None, problems
    model, problems = validated_model(doc, WORKSPACE_MODELS[api_version], data)
    if model is None:
        return None, problems
    if isinstance(model, WorkspaceV1alpha1):
        keep_default = not byo or "instanceType" in (data.get("resource") or {})
        return ParsedWorkspace(doc, api_version, normalise_alpha(model, keep_default), alpha=model), []
    return ParsedWorkspace(doc, api_version, model), []


def normalise_alpha(alpha: WorkspaceV1alpha1, keep_default_instance_type: bool = True) -> WorkspaceV1beta1:
    """v1alpha1 → v1beta1 as the API server converts (strategy None: fields copied, unknown ones pruned)."""
    data = alpha.model_dump(exclude_none=True)
    if not keep_default_instance_type:
        data["resource"].pop("instanceType", None)
    data["apiVersion"] = "kaito.sh/v1beta1"
    return WorkspaceV1beta1.model_validate(data)
