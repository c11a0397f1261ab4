"""Names of the cluster-scoped node objects: derived from the workspace alone, never random.

Kaito names NodeClaims ``ws`` + 9 hex characters of a time-seeded hash; kaito-compile keeps the shape
and hashes what identifies the node instead: namespace, workspace, instance type and index. A new
instance type so gives new names: GitOps prunes the old NodeClaims and creates new ones, instead of
trying to change a NodeClaim spec the API server keeps immutable.
"""

from __future__ import annotations

import hashlib

MAX_NAME = 63


def node_claim_name(namespace: str, workspace: str, instance_type: str, index: int) -> str:
    digest = hashlib.sha256(f"{namespace}/{workspace}/{instance_type}/{index}".encode()).hexdigest()
    return f"ws{digest[:9]}"


def node_pool_name(namespace: str, workspace: str) -> str:
    """``<ns>-<ws>``; when longer than 63, 53 characters + ``-`` + 9 hex of its sha256 (as Kaito)."""
    name = f"{namespace}-{workspace}"
    if len(name) <= MAX_NAME:
        return name
    return f"{name[:53]}-{hashlib.sha256(name.encode()).hexdigest()[:9]}"
