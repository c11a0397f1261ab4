"""Kaito's validation regexes are Go (RE2) regexes; Python's ``re`` reads the same text differently.

Two differences let values through that Kaito's webhook and the API server refuse:

* ``$`` in Python also matches before a trailing newline (``re.match(r"^[a-z]+$", "abc\\n")`` matches); in Go,
  without the ``m`` flag, it matches only at the end of the text.
* ``\\d``, ``\\w`` and ``\\s`` in Python match any Unicode digit, letter or space (``"١٢"`` is ``\\d+``); Go's
  match ASCII only.

:func:`go_regex` compiles a Go pattern so Python matches what Go matches: every unescaped ``$`` outside a character
class becomes ``\\Z`` and the pattern is compiled with ``re.ASCII``. Every validation regex of the compiler is built
with it, and :func:`schema_validator` gives jsonschema's ``pattern`` keyword the same semantics (JSON Schema's
patterns are ECMA-262 ones, where ``$`` is also the true end).
"""

from __future__ import annotations

import functools
import re
from typing import Any


@functools.lru_cache(maxsize=1024)
def go_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` (Go syntax, the subset Python shares) compiled to match exactly the strings Go's would."""
    return re.compile(_true_end(pattern), re.ASCII)


def _true_end(pattern: str) -> str:
    out, in_class, index = [], False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index:index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]" or out[-1] in ("[", "[^")
        elif char == "[":
            in_class = True
            if pattern[index + 1:index + 2] == "^":
                out.append("[^")
                index += 2
                continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


def schema_validator(schema: dict, **kwargs: Any):
    """A Draft 2020-12 validator whose ``pattern`` keyword matches as Go/ECMA-262 do (see :func:`go_regex`)."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator, expected: str, instance: Any, schema: dict):
        if validator.is_type(instance, "string") and not go_regex(expected).search(instance):
            yield ValidationError(f"{instance!r} does not match {expected!r}")

    return validators.extend(Draft202012Validator, {"pattern": pattern})(schema, **kwargs)
