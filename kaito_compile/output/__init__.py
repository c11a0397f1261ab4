"""Stage 5, write: emitted objects → the committed ``out/`` tree that Argo CD or Flux syncs.

``render_tree`` lays everything out in memory: one directory and kustomization per workspace, one file per
object, a provenance header on every file, and the ownership lock.
"""

from .errors import InvalidTree, LayoutError, OutputError, OwnershipConflict, WriterBusy
from .layout import KUSTOMIZATION_FILE, WorkspaceOutput, render_tree
from .manifest_yaml import ManifestValueError, dump_manifest
from .ownership import LOCK_FILE

__all__ = [
    "KUSTOMIZATION_FILE",
    "LOCK_FILE",
    "InvalidTree",
    "LayoutError",
    "ManifestValueError",
    "OutputError",
    "OwnershipConflict",
    "WorkspaceOutput",
    "WriterBusy",
    "dump_manifest",
    "render_tree",
]
