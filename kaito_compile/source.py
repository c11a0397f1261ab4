"""Stage 1, load: files → YAML documents that remember where every value came from.

Positions come from ruamel.yaml's round-trip mode, where every mapping and sequence keeps the line and column of
its keys and items. Its pure-Python parser is slow, and positions are only read when there is something to report,
so a small file is first read with libyaml (PyYAML's ``CSafeLoader``) and parsed again with ruamel only when a
position is asked for (:meth:`Document.span`). The fast path takes only what both read alike: plain maps,
sequences and scalars of the core tags; anything else (a duplicate key, a merge key, a timestamp, binary, sets,
custom tags, any libyaml error) goes the ruamel way from the start, so its diagnostics are the same. YAML 1.1
resolution is used because that is what the Kubernetes API machinery (go-yaml v2 behind sigs.k8s.io/yaml) applies:
``yes`` is a boolean.

Hostile input is bounded: file size, alias expansion, nesting depth and undecodable bytes all
turn into diagnostics instead of exceptions.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .diagnostics import Diagnostic, Severity, Span, ToolError

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
MAX_FILE_NODES = 100_000  # parsed nodes per file: ruamel needs ~0.1 ms each, so this bounds a parse at ~10 s of CPU,
# about what the largest file under MAX_FILE_BYTES costs anyway; a spec file has hundreds of nodes, a file of a
# thousand Workspaces tens of thousands
MAX_DEPTH = 100
FAST_PARSE_MAX_BYTES = 64 * 1024  # a node takes two characters at least: no file this size exceeds MAX_FILE_NODES

SKIPPED_FILES = frozenset({"kaito-compile.yaml", "kustomization.yaml"})
"""Found while walking a directory, these are not specs: the project config, kustomize files."""

FieldPath = tuple[str | int, ...]

if TYPE_CHECKING:  # the YAML libraries are imported where a file is parsed: a cached run parses none
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap


class DocumentTooLarge(Exception):
    """The document expands past MAX_NODES or MAX_DEPTH (alias bombs, pathological nesting)."""


@dataclass
class Document:
    """One YAML document of a source file, with positions for every field path."""

    file: str
    index: int
    data: Any  # ruamel's nodes, or plain data when read by libyaml (positions are then parsed on demand)
    lines: list[str] = field(repr=False, default_factory=list)
    _plain: Any = field(default=None, repr=False)
    _positioned: _Positions | None = field(default=None, repr=False)

    @property
    def plain(self) -> Any:
        """The document as plain JSON-like Python data (dict/list/str/int/float/bool/None)."""
        if self._plain is None:
            self._plain = to_plain(self.data)
        return self._plain

    @property
    def positioned(self) -> Any:
        """The document as ruamel's nodes, which carry positions (parsed again with ruamel when libyaml read it)."""
        return self.data if self._positioned is None else self._positioned.document(self.index)

    def span(self, path: FieldPath, *, key: bool = False) -> Span:
        """Position of the value at ``path`` (or of its key); the nearest existing ancestor otherwise."""
        line, col, exact = self._locate(path, key=key)
        source = self.lines[line] if 0 <= line < len(self.lines) else ""
        length = _token_length(source, col, key=key) if exact else 1
        return Span(self.file, line + 1, col + 1, length, source)

    def _locate(self, path: FieldPath, *, key: bool) -> tuple[int, int, bool]:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        if self._positioned is not None and len(path) == 2 and self._positioned.single:
            found = (_plain_block_key if key else _plain_block_value)(self.lines, path, self.plain)
            if found is not None:
                return (*found, True)
        node = self.positioned
        best = _node_start(node)
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, CommentedMap) and part in node:
                pos = _position(node, part, key=key and last)
                if pos is None:  # merged in with '<<': no position of its own, point at the mapping
                    return best[0], best[1], False
                best = (pos[0], pos[1], True)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                pos = node.lc.item(part)
                best = (pos[0], pos[1], True)
                node = node[part]
            else:
                if isinstance(node, CommentedMap) and best[2] and i > 0:
                    # The field is missing: point at the key of its parent mapping.
                    parent_key = path[i - 1]
                    best = (*self._key_of(path[: i - 1], parent_key), False)
                return best[0], best[1], False
        return best

    def _key_of(self, parent_path: FieldPath, key: str | int) -> tuple[int, int]:
        from ruamel.yaml.comments import CommentedMap

        node = self.positioned
        for part in parent_path:
            node = node[part]
        if isinstance(node, CommentedMap):
            return _position(node, key, key=True) or _node_start(node)[:2]
        return tuple(node.lc.item(key))  # type: ignore[return-value]


def _plain_block_value(lines: list[str], path: FieldPath, plain: Any) -> tuple[int, int] | None:
    """(line, column) of ``section.key``'s value in a one-document file where it is written the simplest way, as
    ruamel would place it: ``section:`` alone at column 0, ``key: value`` among its first-level children and
    ``value`` a plain scalar equal to the document's; None otherwise. Every workspace records the position of its
    ``metadata.name``: this finds it without parsing the file with ruamel."""
    section, key = path
    value = plain.get(section) if isinstance(plain, dict) else None
    value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        return None
    found = _block_child(lines, section, key)
    if found is None:
        return None
    number, depth, text = found
    column = depth + len(key) + 1 + len(text[len(key) + 1:]) - len(text[len(key) + 1:].lstrip(" "))
    token = lines[number][column:].split(" #", 1)[0].rstrip(" ")
    return (number, column) if token == value and not token.startswith(("'", '"')) else None


# Characters that may start a quoted or block scalar, a flow collection, an anchor, an alias or a tag: a line after
# one of them may continue a scalar rather than hold a key.
_NOT_PLAIN_BLOCK = frozenset("\"'{[|>&*!?%@`")


def _plain_block_key(lines: list[str], path: FieldPath, plain: Any) -> tuple[int, int] | None:
    """(line, column) of the key ``key`` of ``section.key``, under the conditions of :func:`_plain_block_value`,
    where moreover nothing in the section up to that key is more than plain block mappings and scalars (so no line
    of it can be the continuation of a quoted or block scalar that only looks like ``key:``); None otherwise.
    Warnings about a preset (a gated model without a token) point at ``inference.preset``'s key."""
    section, key = path
    parent = plain.get(section) if isinstance(plain, dict) else None
    if not isinstance(parent, dict) or key not in parent:
        return None
    found = _block_child(lines, section, key, plain_only=True)
    return None if found is None else (found[0], found[1])


def _block_child(lines: list[str], section: Any, key: Any, *, plain_only: bool = False
                 ) -> tuple[int, int, str] | None:
    """(line, indentation, text) of the first ``key:`` among the first-level children of ``section:``, written
    alone at column 0 of a block mapping; None when there is no such line (or, with ``plain_only``, when a line
    before it holds more than plain block mappings and scalars)."""
    if not isinstance(section, str) or not isinstance(key, str):
        return None
    starts = [index for index, line in enumerate(lines) if line.rstrip(" ") == f"{section}:"]
    if len(starts) != 1:
        return None
    indent = None
    for number in range(starts[0] + 1, len(lines)):
        line = lines[number]
        text = line.lstrip(" ")
        if not text or text.startswith("#"):
            continue
        depth = len(line) - len(text)
        if depth == 0:
            return None
        indent = depth if indent is None else indent
        if depth == indent and (text.startswith(f"{key}: ") or text.rstrip(" ") == f"{key}:"):
            return number, depth, text
        if plain_only and not _NOT_PLAIN_BLOCK.isdisjoint(text):
            return None
    return None


def _position(node: CommentedMap, name: Any, *, key: bool) -> tuple[int, int] | None:
    """(line, column) of a key or of its value; None for keys merged in with ``<<`` (ruamel records none)."""
    try:
        found = node.lc.key(name) if key else node.lc.value(name)
    except KeyError:
        return None
    return (found[0], found[1]) if found is not None else None


def _node_start(node: Any) -> tuple[int, int, bool]:
    lc = getattr(node, "lc", None)
    if lc is not None and lc.line is not None:
        return lc.line, lc.col, False
    return 0, 0, False


def _token_length(line: str, col: int, *, key: bool = False) -> int:
    rest = line[col:]
    if not rest:
        return 1
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        return end + 1 if end > 0 else len(rest.rstrip())
    if key:
        colon = rest.find(":")
        return max(1, colon) if colon > 0 else max(1, len(rest.rstrip()))
    comment = rest.find(" #")
    token = rest[:comment] if comment >= 0 else rest
    token = token.rstrip()
    if token.endswith(":") or token in ("|", ">", "|-", ">-"):
        return 1
    return max(1, len(token))


def to_plain(node: Any, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """Convert ruamel containers to plain data, refusing exponential alias expansion."""
    budget = [max_nodes]

    def convert(n: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise DocumentTooLarge(f"the document expands to more than {max_nodes} nodes (a YAML alias bomb?)")
        if depth > max_depth:
            raise DocumentTooLarge(f"the document is nested more than {max_depth} levels deep")
        if isinstance(n, dict):
            return {str(k) if not isinstance(k, (str, int, bool)) else k: convert(v, depth + 1) for k, v in n.items()}
        if isinstance(n, list):
            return [convert(v, depth + 1) for v in n]
        if isinstance(n, bool) or n is None:
            return n
        if isinstance(n, int):
            return int(n)
        if isinstance(n, float):
            return float(n)
        if isinstance(n, (_dt.date, _dt.datetime)):
            return n.isoformat()
        if isinstance(n, str):
            return str(n)
        return str(n)

    return convert(node, 0)


@functools.cache
def _budgeted_composer() -> type:
    """ruamel's composer, counting the nodes of a whole file as the parser produces them and stopping past
    MAX_FILE_NODES.

    ruamel's pure-Python parser spends about 0.1 ms per node: without a budget, a file under the size limit
    made of one-character list items takes minutes and gigabytes before ``to_plain`` could refuse it.
    """
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.events import AliasEvent

    class BudgetedComposer(Composer):
        composed = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if not self.parser.check_event(AliasEvent):  # aliases reuse a node: ``to_plain`` bounds their expansion
                self.composed += 1
                if self.composed > MAX_FILE_NODES:
                    raise DocumentTooLarge(f"the file has more than {MAX_FILE_NODES} YAML nodes; split it")
            return super().compose_node(parent, index)

    return BudgetedComposer


def _yaml() -> YAML:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.version = (1, 1)
    y.allow_duplicate_keys = False
    y.Composer = _budgeted_composer()
    return y


def _diag(code: str, message: str, file: str, line: int = 0, col: int = 0, lines: list[str] | None = None,
          *, hints: tuple[str, ...] = ()) -> Diagnostic:
    source = lines[line] if lines and 0 <= line < len(lines) else None
    return Diagnostic(code, message, span=Span(file, line + 1, col + 1, 1, source), hints=hints)


def decode_source(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes → text, or a diagnostic saying why this is not a YAML text file."""
    if len(raw) > MAX_FILE_BYTES:
        return None, [Diagnostic("KC-Y005", f"file is {len(raw)} bytes; the limit is {MAX_FILE_BYTES} bytes",
                                 file=file)]
    if b"\x00" in raw:
        return None, [Diagnostic("KC-Y004", "file contains NUL bytes: not a YAML text file", file=file)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n")
        col = len(before) - (before.rfind(b"\n") + 1)
        return None, [_diag("KC-Y004", f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})", file, line, col)]
    return text.removeprefix("\ufeff"), []


def _flow_nesting_too_deep(text: str) -> tuple[int, int] | None:
    """Where flow collections (``[``/``{``) nest deeper than MAX_DEPTH, as (line, col), or None.

    ruamel's parser is recursive and slows down sharply with depth: a 2 KB file of nested ``[``
    takes seconds. This linear scan refuses such input before parsing. Quoted scalars and comments
    are skipped; block nesting is bounded by indentation, checked separately.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None  # the depth can never exceed the number of openers (the usual spec has none)
    depth, quote, line, col = 0, "", 0, 0
    comment = False
    for ch in text:
        if ch == "\n":
            line, col, comment = line + 1, 0, False
            continue
        col += 1
        if comment:
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            comment = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line, col - 1
        elif ch in "]}":
            depth = max(0, depth - 1)
    return None


def _block_nesting_too_deep(lines: list[str]) -> int | None:
    """The first line indented past what MAX_DEPTH block levels could need (two spaces each), or None."""
    limit = 2 * MAX_DEPTH
    for number, line in enumerate(lines):
        if len(line) - len(line.lstrip(" ")) > limit:
            return number
    return None


class _Positions:
    """The ruamel parse of a file read by libyaml, made the first time one of its documents needs a position."""

    def __init__(self, text: str, count: int):
        self._text = text
        self._documents: list[Any] | None = None
        self.single = count == 1

    def document(self, index: int) -> Any:
        if self._documents is None:
            from ruamel.yaml.error import YAMLError

            try:
                self._documents = list(_yaml().load_all(self._text))
            except (YAMLError, RecursionError, DocumentTooLarge):  # libyaml read it: positions are best effort
                self._documents = []
        return self._documents[index] if index < len(self._documents) else None


class _NeedsPositions(Exception):
    """libyaml met something it may read differently from ruamel: parse the file with ruamel."""


def _refuse(loader: Any, node: Any) -> Any:
    raise _NeedsPositions(node.tag)


@functools.cache
def _fast_loader() -> type:
    """libyaml with ruamel's YAML 1.1 resolver table, limited to what it reads exactly as ruamel does."""
    import yaml as pyyaml
    from ruamel.yaml import resolver as ruamel_resolver

    class FastLoader(pyyaml.CSafeLoader):
        def flatten_mapping(self, node: Any) -> None:
            if any(key.tag == "tag:yaml.org,2002:merge" for key, _ in node.value):
                raise _NeedsPositions("merge key")

        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            mapping = super().construct_mapping(node, deep=deep)
            if len(mapping) != len(node.value):
                raise _NeedsPositions("duplicate key")
            return mapping

    # ruamel's YAML 1.1 implicit resolvers (PyYAML's differ: for it ``y`` and ``1e3`` are strings)
    FastLoader.yaml_implicit_resolvers = {}
    for versions, tag, regexp, first in ruamel_resolver.implicit_resolvers:
        if (1, 1) in versions:
            for char in first:
                FastLoader.yaml_implicit_resolvers.setdefault(char, []).append((tag, regexp))
    FastLoader.add_constructor("tag:yaml.org,2002:bool", _yaml11_bool)
    for tag in ("timestamp", "binary", "set", "omap", "pairs", "value", "merge", "yaml"):
        FastLoader.add_constructor(f"tag:yaml.org,2002:{tag}", _refuse)
    FastLoader.add_constructor(None, _refuse)  # any other tag
    return FastLoader


def _yaml11_bool(loader: Any, node: Any) -> bool:
    return loader.construct_scalar(node).lower() in ("y", "yes", "true", "on")


def _parse_fast(text: str, file: str, lines: list[str]) -> list[Document] | None:
    """The documents as libyaml reads them, or None when only ruamel may read this file (see the module doc)."""
    if len(text) > FAST_PARSE_MAX_BYTES or text.startswith("%") or "\n%" in text:  # directives: ruamel decides
        return None
    import yaml as pyyaml

    try:
        data = list(pyyaml.load_all(text, Loader=_fast_loader()))
    except (pyyaml.YAMLError, _NeedsPositions, RecursionError, ArithmeticError, LookupError, TypeError, ValueError):
        return None
    positions = _Positions(text, len(data))
    return [Document(file, index, item, lines, _positioned=positions) for index, item in enumerate(data)]


def parse_documents(text: str, file: str) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document of one file. A syntax error ends the file with one diagnostic."""
    lines = text.splitlines()
    docs: list[Document] = []
    deep = _flow_nesting_too_deep(text)
    block = _block_nesting_too_deep(lines) if deep is None else None
    if deep is not None or block is not None:
        line, col = deep if deep is not None else (block, 0)
        return docs, [Diagnostic("KC-Y003", f"document is nested more than {MAX_DEPTH} levels deep",
                                 span=_span_at(file, lines, line, col))]
    fast = _parse_fast(text, file, lines)
    if fast is not None:
        return fast, []
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        for index, data in enumerate(_yaml().load_all(text)):
            docs.append(Document(file, index, data, lines))
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = _duplicate_key_name(exc)
        first = exc.context_mark.line + 1 if exc.context_mark else None
        note = (f"the mapping starting on line {first} already has this key",) if first else ()
        return docs, [Diagnostic("KC-Y002", f"duplicate key {key!r}",
                                 span=_span_at(file, lines, mark.line, mark.column), notes=note)]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, col = (mark.line, mark.column) if mark else (0, 0)
        return docs, [Diagnostic("KC-Y001", f"YAML syntax error: {problem}", span=_span_at(file, lines, line, col))]
    except RecursionError:
        return docs, [Diagnostic("KC-Y003", f"document is nested too deeply to read (more than {MAX_DEPTH} levels)",
                                 file=file)]
    except DocumentTooLarge as exc:
        return docs, [Diagnostic("KC-Y003", str(exc), file=file)]
    except YAMLError as exc:
        return docs, [Diagnostic("KC-Y001", f"YAML error: {exc}", file=file)]
    return docs, []


def _duplicate_key_name(exc: Exception) -> str:
    found = re.search(r'duplicate key "(.*?)"', exc.problem or "")
    return found.group(1) if found else "?"


def _span_at(file: str, lines: list[str], line: int, col: int) -> Span:
    source = lines[line] if 0 <= line < len(lines) else None
    return Span(file, line + 1, col + 1, 1, source)


def discover(paths: list[str]) -> list[str]:
    """Expand directories into their ``*.yaml``/``*.yml`` files, sorted; keep ``-`` for stdin."""
    found: list[str] = []
    for p in paths:
        if p == "-":
            found.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            top = str(path)  # as pathlib spells it: no "." components, no trailing slash
            _walk_into(found, top, "" if top == "." else top if top.endswith("/") else f"{top}/")
        elif path.exists():
            found.append(str(path))
        else:
            raise ToolError(f"{p}: no such file or directory", code="KC-E002")
    return found


def _walk_into(found: list[str], directory: str, prefix: str) -> None:
    """Add the spec files under ``directory`` (spelt ``prefix`` + name), as ``os.walk`` visits them: a directory's
    files sorted, then its subdirectories sorted, hidden ones skipped, a symlink to a directory not descended into,
    a directory that cannot be listed left out. ``scandir`` knows a regular file's type without a ``stat``."""
    try:
        with os.scandir(directory) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return
    subdirectories = []
    for entry in entries:
        name = entry.name
        if _is_dir(entry):
            if not name.startswith(".") and not entry.is_symlink():
                subdirectories.append(name)
        elif name.endswith((".yaml", ".yml")) and name not in SKIPPED_FILES:
            found.append(f"{prefix}{name}" if entry.is_file() else _walked_file(f"{prefix}{name}"))
    for name in subdirectories:
        _walk_into(found, f"{prefix}{name}", f"{prefix}{name}/")


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _walked_file(path: str) -> str:
    """A file found by walking a directory must be a regular file: reading a FIFO named ``*.yaml`` blocks forever.
    (A path given on the command line may be a pipe or a device on purpose: ``<(...)``, ``/dev/stdin``.)"""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path  # a dangling or looping symlink: read_source says why it cannot be read
    if not stat.S_ISREG(mode):
        raise ToolError(f"{path}: not a regular file (a FIFO, socket or device)", code="KC-E002")
    return path


def read_source(path: str) -> tuple[str, bytes]:
    """Return (display name, raw bytes) for a path or ``-``: at most ``MAX_FILE_BYTES + 1`` bytes (one more says the
    file is too large)."""
    if path == "-":
        return "<stdin>", sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return path, _read_limited(fd, MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ToolError(f"{path}: cannot read: {exc.strerror}", code="KC-E002") from exc


def _read_limited(fd: int, limit: int) -> bytes:
    """At most ``limit`` bytes of ``fd``, read in one call when ``fstat`` knows the size (a buffered
    ``read(limit)`` allocates the whole limit, 8 MB, for every small file)."""
    chunks, left, want = [], limit, min(os.fstat(fd).st_size + 1, limit)
    while left > 0:
        chunk = os.read(fd, min(left, want))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
        want = 1 << 16  # a pipe, a file of /proc (no size) or a file that grew: go on in 64 KB reads
    return b"".join(chunks)


def load_file(path: str) -> tuple[list[Document], list[Diagnostic]]:
    name, raw = read_source(path)
    text, problems = decode_source(raw, name)
    if text is None:
        return [], problems
    return parse_documents(text, name)


def load_paths(paths: list[str]) -> Iterator[tuple[str, list[Document], list[Diagnostic]]]:
    for path in discover(paths):
        docs, diags = load_file(path)
        yield ("<stdin>" if path == "-" else path), docs, diags


def note(file: str, message: str, code: str = "KC-N001") -> Diagnostic:
    return Diagnostic(code, message, severity=Severity.NOTE, file=file)
