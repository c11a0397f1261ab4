"""Data added to an object after cdk8s synthesis: the bodies of the emitter's objects
(:func:`.common.untyped_object`) and user-supplied raw Kubernetes data (VolumeSources) inside them.

It is recorded on its object (an attribute of the Python proxy; node never sees it) and spliced into the plain JSON
the chart produced, in the order recorded (JSON-pointer ``add`` semantics). Values are copied when
recorded, so no two objects share a mutable value.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import cdk8s


@dataclass(frozen=True)
class RawPatch:
    path: str  # JSON pointer; "-" appends to a list
    value: Any


_ATTRIBUTE = "_kaito_compile_raw_patches"


def add(obj: cdk8s.ApiObject, path: str, value: Any) -> None:
    _record(obj, RawPatch(path, copy.deepcopy(value)))


def _record(obj: cdk8s.ApiObject, patch: RawPatch) -> None:
    patches = getattr(obj, _ATTRIBUTE, None)
    if patches is None:
        patches = []
        setattr(obj, _ATTRIBUTE, patches)
    patches.append(patch)


def take(obj: cdk8s.ApiObject) -> list[RawPatch]:
    """The raw patches recorded on ``obj`` (removed from it)."""
    patches = getattr(obj, _ATTRIBUTE, None) or []
    setattr(obj, _ATTRIBUTE, None)
    return patches


def apply(document: dict, patches: list[RawPatch]) -> dict:
    for patch in patches:
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in patch.path.split("/")[1:]]
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
        if isinstance(target, list):
            if last == "-":
                target.append(patch.value)
            else:
                target.insert(int(last), patch.value)
        else:
            target[last] = patch.value
    return document
