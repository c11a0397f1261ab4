"""The rule table and the context a check reports through.

Each rule code has one row here: the code, a title, and what it means in Kaito (the webhook
message or the controller behaviour it stands for). Checks are small functions registered in
evaluation order; a check reports one or more codes. The docs and the tests read this table:
every code needs a negative example under ``tests/cases/invalid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import ProjectConfig
from ..diagnostics import Diagnostic, Severity
from ..source import FieldPath
from ..spec import ParsedWorkspace

if TYPE_CHECKING:
    from ..catalog import Catalog


@dataclass(frozen=True)
class RuleInfo:
    code: str
    title: str
    kaito: str
    family: str


RULES: dict[str, RuleInfo] = {}


def define(code: str, family: str, title: str, kaito: str) -> str:
    """Register a rule code; returns the full code (``KC-<code>``) for use in checks."""
    full = f"KC-{code}"
    if full in RULES:
        raise ValueError(f"rule {full} defined twice")
    RULES[full] = RuleInfo(full, title, kaito, family)
    return full


class StopChecks(Exception):
    """Raised by a check to end its group early, where Kaito's webhook returns."""


@dataclass
class RuleContext:
    ws: ParsedWorkspace
    config: ProjectConfig
    catalog: Catalog
    old: ParsedWorkspace | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self):
        return self.ws.spec

    @property
    def namespace(self) -> str:
        return self.spec.metadata.namespace or self.config.defaultNamespace

    @property
    def runtime(self) -> str:
        """transformers or vllm: Kaito's annotation, else the project default (ours: transformers)."""
        if not self.config.featureGates.vLLM:
            return "transformers"
        value = self.ws.annotation("kaito.sh/runtime")
        if value is None:
            return self.config.runtime
        return "transformers" if value == "transformers" else "vllm"

    def report(self, code: str, path: FieldPath, message: str, *, hints: tuple[str, ...] = (),
               notes: tuple[str, ...] = (), key: bool = False, severity: Severity = Severity.ERROR) -> None:
        if code not in RULES:
            raise KeyError(f"unknown rule code {code}")
        span = self.ws.doc.span(path, key=key)
        self.diagnostics.append(Diagnostic(code, message, severity, span, hints=hints, notes=notes))

    def error(self, code: str, path: FieldPath, message: str, **kw) -> None:
        self.report(code, path, message, **kw)

    def warning(self, code: str, path: FieldPath, message: str, **kw) -> None:
        self.report(code, path, message, severity=Severity.WARNING, **kw)


Check = Callable[[RuleContext], None]


Applies = Callable[[RuleContext], bool]


@dataclass(frozen=True)
class Group:
    """Checks that run together; a StopChecks ends the group, as a Kaito ``return`` does."""

    name: str
    checks: list[tuple[Applies, Check]]


GROUPS: list[Group] = []


def group(name: str, applies: Applies = lambda ctx: True) -> Callable[[Check], Check]:
    """Decorator adding a check, run when ``applies``, to the named group (groups run in creation order)."""

    def register(check: Check) -> Check:
        existing = next((g for g in GROUPS if g.name == name), None)
        if existing is None:
            existing = Group(name, [])
            GROUPS.append(existing)
        existing.checks.append((applies, check))
        return check

    return register


def run_groups(ctx: RuleContext) -> None:
    for g in GROUPS:
        for applies, check in g.checks:
            if not applies(ctx):
                continue
            try:
                check(ctx)
            except StopChecks:
                break
