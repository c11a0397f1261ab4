"""Stage 3, validate: every Kaito admission rule, as checks with stable codes.

Families are imported in Kaito's evaluation order (name → spec → annotations → inference →
tuning → update); within a family, checks run in the order the webhook runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ProjectConfig
from ..diagnostics import Diagnostic
from ..spec import ParsedWorkspace
from . import workspace  # noqa: F401  (registers R0–R3, C1–C8)
from . import alpha  # noqa: F401  (v1alpha1-only rules)
from . import resource  # noqa: F401  (I1–I9)
from . import inference  # noqa: F401  (I10–I14, IC1–IC4)
from . import adapters  # noqa: F401  (I15, I16, A-rules)
from . import tuning  # noqa: F401  (T1–T9, TC1–TC4)
from . import update  # noqa: F401  (U1–U8)
from . import inferenceset  # noqa: F401  (IS1–IS11: InferenceSet)
from .registry import RULES, RuleContext, RuleInfo, run_groups

__all__ = ["RULES", "RuleInfo", "Validated", "validate_workspace"]


@dataclass
class Validated:
    """A Workspace that passed every rule, with the config that governs it and the facts the rules
    established (resolved model, GPU configuration, …)."""

    ws: ParsedWorkspace
    namespace: str
    config: ProjectConfig
    catalog: object
    facts: dict = field(default_factory=dict)


def validate_workspace(ws: ParsedWorkspace, config: ProjectConfig, catalog, *,
                       old: ParsedWorkspace | None = None) -> tuple[list[Diagnostic], dict]:
    """All findings for one Workspace, and the facts the checks established (resolved model, SKU, …)."""
    ctx = RuleContext(ws, config, catalog, old)
    run_groups(ctx)
    return ctx.diagnostics, ctx.facts
