"""Pull-request review: a semantic diff of two rendered trees, for people and for machines.

``diff_trees(old, new, gpu_models)`` (pure) → :class:`TreeDiff` → ``render_text`` / ``render_markdown`` /
``render_json``. ``sources`` reads trees from disk or compiles the specs at a git revision; ``cli`` is the
``kaito-compile diff`` command.
"""

from .diff import TreeError, diff_trees
from .model import Capacity, Effect, FieldChange, ImageChange, ObjectDiff, Replacement, Status, TreeDiff, WorkspaceDiff
from .render import render_json, render_markdown, render_text

__all__ = [
    "Capacity",
    "Effect",
    "FieldChange",
    "ImageChange",
    "ObjectDiff",
    "Replacement",
    "Status",
    "TreeDiff",
    "TreeError",
    "WorkspaceDiff",
    "diff_trees",
    "render_json",
    "render_markdown",
    "render_text",
]
