"""Kubernetes resource quantities, as far as the catalogs and the sizing need them.

Kaito compares sizes as ``resource.Quantity`` values. ``Quantity.Value()`` rounds a fractional
byte count *up*, so ``27.31Gi`` is 29323770430 bytes (27.31 × 2^30 = 29323770429.44).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

from ..goregex import go_regex

GIB = 1 << 30

_MULTIPLIERS = {
    "": 1,
    "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}
_QUANTITY = go_regex(r"^(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[KMGTPE]i|[kMGTPE])?$")
_BINARY_SUFFIXES = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")


@functools.lru_cache(maxsize=1024)
def quantity_bytes(text: str) -> int:
    """``resource.MustParse(text).Value()``: the exact value, rounded up to a whole byte (a catalog holds few
    distinct sizes, and sizing reads them for every workspace: parsed once each)."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"not a quantity: {text!r}")
    value = Fraction(match["number"]) * _MULTIPLIERS[match["suffix"] or ""]
    return math.ceil(value)


def format_binary(n_bytes: int) -> str:
    """A byte count the way a BinarySI quantity prints it: the largest exact suffix (``80Gi``)."""
    for suffix in _BINARY_SUFFIXES:
        unit = _MULTIPLIERS[suffix]
        if n_bytes and n_bytes % unit == 0:
            return f"{n_bytes // unit}{suffix}"
    return str(n_bytes)


def gib(n_bytes: float) -> float:
    return n_bytes / GIB
