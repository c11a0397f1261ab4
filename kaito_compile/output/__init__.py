"""Stage 5, write: emitted objects → the committed ``out/`` tree that Argo CD or Flux syncs.

``render_tree`` lays everything out in memory (one directory and kustomization per workspace, one file per
object, a provenance header on every file, the ownership lock); ``write_tree`` replaces ``out/`` with it
atomically; ``check_tree`` reports drift without writing.
"""

from .check import CheckResult, check_tree
from .errors import InvalidTree, LayoutError, OutputError, OwnershipConflict, WriteFailed, WriterBusy
from .layout import KUSTOMIZATION_FILE, WorkspaceOutput, render_tree, render_workspace
from .manifest_yaml import ManifestValueError, dump_manifest
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
