"""The compiled objects as one YAML stream: what an Argo CD config management plugin's ``generate`` prints.

Each document is, byte for byte, the file ``build`` writes for that object (provenance header included), so
what Argo CD applies through the plugin is exactly what a committed ``out/`` would hold. The per-workspace
``kustomization.yaml`` files and the ownership lock are not objects and are left out. Documents come in
sync-wave order (the ``argocd.argoproj.io/sync-wave`` annotation every object carries; Argo CD's default
wave is 0), then by their path in the tree, so the stream is the same on every run.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

import yaml

from ..output import KUSTOMIZATION_FILE, LOCK_FILE
from .sync import SYNC_WAVE_ANNOTATION

DOCUMENT_SEPARATOR = b"---\n"


class EmptyRender(ValueError):
    """Nothing to print: an empty stream would make Argo CD prune every object of the Application."""


def object_files(tree: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of every object file of a rendered tree, in sync-wave order, then by path."""
    objects = [(path, data) for path, data in tree.items()
               if path != LOCK_FILE and PurePosixPath(path).name != KUSTOMIZATION_FILE]
    return sorted(objects, key=lambda item: (sync_wave(item[1]), item[0]))


def sync_wave(document: bytes) -> int:
    """The sync wave Argo CD gives one object (its annotation, 0 without one)."""
    obj = yaml.load(document, Loader=yaml.CSafeLoader)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return int(annotations.get(SYNC_WAVE_ANNOTATION, "0"))


def render_stream(tree: Mapping[str, bytes]) -> bytes:
    """Every object file of ``tree`` as one multi-document YAML stream (``---`` between documents)."""
    files = object_files(tree)
    if not files:
        raise EmptyRender("no Workspace found in the given paths: refusing to print an empty stream "
                          "(Argo CD would prune every object of the Application)")
    return DOCUMENT_SEPARATOR.join(data for _, data in files)
