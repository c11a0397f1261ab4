"""Kaito's reserved node-selector labels: what the rules (resource, facts) and the plan leave out of matchLabels.

A leaf module, so that ``facts`` and ``resource`` can both use it without importing each other.
"""

from __future__ import annotations

from ..spec.models import LabelSelector

RESERVED_LABELS = frozenset({
    "kaito.sh/workspace", "kaito.sh/workspacenamespace", "kaito.sh/ragengine", "kaito.sh/ragenginenamespace",
    "karpenter.kaito.sh/workspace-name", "karpenter.kaito.sh/workspace-namespace",
    "karpenter.kaito.sh/inferenceset", "karpenter.kaito.sh/inferenceset-namespace",
})


def sanitized_match_labels(selector: LabelSelector | None) -> dict[str, str]:
    """matchLabels without Kaito's reserved keys: what scheduling and node labels use."""
    return {k: v for k, v in ((selector.matchLabels if selector else None) or {}).items()
            if k not in RESERVED_LABELS}
