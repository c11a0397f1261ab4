"""The one reading of a registry's ``WWW-Authenticate`` challenge (RFC 9110 section 11.6.1), shared by the
runtime's adapter puller/pusher (:mod:`kaito_runtime.artifact`) and the compiler's push
(``kaito_compile.gitops.registry``). Standard library only: the compiler image has nothing more."""

from __future__ import annotations

import re

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"[ \t]*({_TOKEN})(?:[ \t]+|$)")
# name = token / quoted-string, then commas (empty list elements are allowed) or the end. A parameter must start at a list boundary, so a
# "realm" inside "x-realm" or inside a quoted value is never read as one.
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))[ \t]*(?:(?:,[ \t]*)+|$)')
_QUOTED_PAIR = re.compile(r"\\(.)")


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → (``bearer``, {``realm``: …, ``service``: …}).

    The scheme and parameter names are lower-cased (both are case-insensitive), quoted values unescaped. Only the
    first challenge is read: parameters end at anything that is not one (a second challenge, malformed text).
    A repeated parameter keeps its first value. A header without a scheme gives ``("", {})``.
    """
    scheme = _SCHEME.match(header)
    if not scheme:
        return "", {}
    params: dict[str, str] = {}
    position = scheme.end()
    while position < len(header) and (param := _PARAM.match(header, position)):
        name, quoted, token = param.groups()
        params.setdefault(name.lower(), _QUOTED_PAIR.sub(r"\1", quoted) if quoted is not None else token)
        position = param.end()
    return scheme.group(1).lower(), params
