"""Stage 5, write: emitted objects → the committed ``out/`` tree that Argo CD or Flux syncs.

``render_tree`` lays everything out in memory (one directory and kustomization per workspace, one file per
object, a provenance header on every file, the ownership lock); ``write_tree`` replaces ``out/`` with it
atomically; ``check_tree`` reports drift without writing.
"""

from typing import TYPE_CHECKING

from .check import CheckResult, check_tree
from .errors import InvalidTree, LayoutError, OutputError, OwnershipConflict, WriteFailed, WriterBusy
from .layout import KUSTOMIZATION_FILE, WorkspaceOutput, render_tree, render_workspace
from .ownership import LOCK_FILE
from .write import WriteResult, sidecar_dir, write_tree

__all__ = [
    "KUSTOMIZATION_FILE",
    "LOCK_FILE",
    "CheckResult",
    "InvalidTree",
    "LayoutError",
    "ManifestValueError",
    "OutputError",
    "OwnershipConflict",
    "WorkspaceOutput",
    "WriteFailed",
    "WriteResult",
    "WriterBusy",
    "check_tree",
    "dump_manifest",
    "render_tree",
    "render_workspace",
    "sidecar_dir",
    "write_tree",
]

if TYPE_CHECKING:
    from .manifest_yaml import ManifestValueError, dump_manifest


def __getattr__(name: str):
    """The YAML renderer on first use: a ``check`` whose files all come from the build cache renders none."""
    if name in ("ManifestValueError", "dump_manifest"):
        from . import manifest_yaml

        return getattr(manifest_yaml, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
