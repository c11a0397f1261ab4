"""Incremental builds: what an unchanged input produced last time is read back instead of recomputed.

The cache is one file beside ``out/``, in its sidecar directory (``.out.kaito-compile/build-cache.jsonl``,
git-ignored). It holds three kinds of entries:

* ``spec``: key = the tool fingerprint, a spec file's name and bytes, the project config that governs it and
  the project catalogs it uses. Value: what loading and validating that file found (diagnostics, and per
  Workspace its namespace, name, plan diagnostics and the key of its rendered files). A hit skips the YAML
  parser, every rule and the planner.
* ``workspace``: key = the tool fingerprint, the workspace's Plan (it holds the spec document's hash and
  everything resolved from the catalog entry, the SKU and the project config), the emitter settings and the
  source path written in the file headers. Value: the workspace's rendered files. A hit skips cdk8s and YAML.
* ``catalog``: key = the tool fingerprint and the project catalogs' bytes. Value: the loaded catalog, pickled.
  A hit skips parsing the catalogs, the largest fixed cost of rebuilding after a one-spec change.

A catalog change therefore re-reads every spec (rules may look anywhere in a catalog) but re-renders only the
workspaces whose plan changed. The tool fingerprint covers the version and the bytes of the compiler's own
code and data, so an upgrade or a local edit of the compiler invalidates everything.

One file rather than one per entry: a cold build of 1,000 workspaces would otherwise create 2,000 files, and
small-file creation is what ext4 is slowest at. The file is a header line and then one line per entry,
``<kind> <key> <sha256 of the payload> <payload as JSON>``. An entry whose line is malformed or whose payload
fails its checksum is a miss, and is replaced by the rebuilt one when the cache is saved; a file with another
header is ignored as a whole. Saving writes a temporary file and renames it into place, so a concurrent run
reads either the old cache or the new one; after a run without errors only the entries it used are kept.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import hashlib
import json
import os
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from . import __version__
from .diagnostics import Diagnostic, Severity, Span

if TYPE_CHECKING:
    from .config import ProjectConfig
    from .plan import Plan

CACHE_FORMAT = 1
CACHE_FILE = "build-cache.jsonl"
DISABLE_ENV = "KAITO_COMPILE_NO_CACHE"
KINDS = ("spec", "workspace", "catalog")
_PACKAGE_ROOT = Path(__file__).resolve().parent
# Distributions whose version shapes the output (emission, YAML rendering, spec parsing and validation).
_OUTPUT_DISTRIBUTIONS = ("cdk8s", "cdk8s_plus_33", "constructs", "jsii", "pyyaml", "ruamel.yaml", "pydantic",
                         "jsonschema", "jsonschema_rs")


class BuildCache:
    """The entries of one cache file: read at the first lookup, written back by :meth:`save`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.hits = dict.fromkeys(KINDS, 0)
        self.misses = dict.fromkeys(KINDS, 0)
        self._stored: dict[tuple[str, str], bytes] | None = None  # (kind, key) → the entry's line
        self._used: dict[tuple[str, str], bytes] = {}  # entries this run read (intact) or wrote
        self._changed = False

    def get(self, kind: str, key: str) -> Any | None:
        """The payload stored under ``key``, or None when absent or unusable."""
        line = self._entries().get((kind, key))
        payload = None if line is None else _payload(line)
        if payload is None:
            self.misses[kind] += 1
            self._changed |= line is not None  # a damaged entry: drop it when saving
            return None
        self.hits[kind] += 1
        self._used[(kind, key)] = line
        return payload

    def keep(self, kind: str, key: str) -> None:
        """Count the entry under ``key`` as used without reading it (an input of this run needs it later)."""
        line = self._entries().get((kind, key))
        if line is not None:
            self._used[(kind, key)] = line

    def put(self, kind: str, key: str, payload: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown cache entry kind {kind!r}")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        self._used[(kind, key)] = f"{kind} {key} {hashlib.sha256(body).hexdigest()} ".encode() + body
        self._changed = True

    def save(self, *, keep_unused: bool) -> bool:
        """Write the cache back when this run changed it; without ``keep_unused`` only the entries this run used
        survive (after a run that compiled every input, that keeps the cache as large as one tree). Best effort:
        whether it was written."""
        entries = dict(self._entries()) if keep_unused else {}
        entries.update(self._used)
        if not self._changed and entries.keys() == self._entries().keys():
            return False
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(_HEADER)
                handle.writelines(line + b"\n" for _, line in sorted(entries.items()))
            os.replace(temporary, self.path)
        except OSError:
            _unlink(temporary)
            return False
        return True

    def _entries(self) -> dict[tuple[str, str], bytes]:
        if self._stored is None:
            self._stored = _read_entries(self.path)
        return self._stored


_HEADER = json.dumps({"format": CACHE_FORMAT, "generator": "kaito-compile"}).encode() + b"\n"


def _read_entries(path: Path) -> dict[tuple[str, str], bytes]:
    """Each entry's line by (kind, key); nothing when the file is absent, unreadable or of another format."""
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    header, _, rest = data.partition(b"\n")
    if header + b"\n" != _HEADER:
        return {}
    entries = {}
    for line in rest.split(b"\n"):
        if not line:
            continue
        kind, _, remainder = line.partition(b" ")
        key, _, _ = remainder.partition(b" ")
        entries[(kind.decode(errors="replace"), key.decode(errors="replace"))] = line
    return entries


def _payload(line: bytes) -> Any | None:
    """The payload of an entry line whose checksum holds; None otherwise."""
    parts = line.split(b" ", 3)
    if len(parts) != 4 or hashlib.sha256(parts[3]).hexdigest().encode() != parts[2]:
        return None
    try:
        return json.loads(parts[3])
    except ValueError:  # cannot happen with a matching checksum unless the writer was wrong: still only a miss
        return None


def open_cache(out_dir: Path) -> BuildCache | None:
    """The cache beside ``out_dir`` (in its sidecar directory), or None when ``KAITO_COMPILE_NO_CACHE`` is set."""
    from .output import sidecar_dir

    if os.environ.get(DISABLE_ENV):
        return None
    return BuildCache(sidecar_dir(Path(os.path.realpath(out_dir))) / CACHE_FILE)


# --- keys -----------------------------------------------------------------------------------------------------

def spec_key(file: str, header_path: str, raw: bytes, config_digest: str) -> str:
    """A spec file's key: ``file`` as diagnostics name it, ``header_path`` as file headers name it, its bytes,
    and the :func:`config_digest` of its project config."""
    return digest(tool_fingerprint(), "spec", file, header_path, hashlib.sha256(raw).hexdigest(), config_digest)


def workspace_key(plan: Plan, settings: dict, header_path: str) -> str:
    """A workspace's key: its whole plan, the emitter's settings and the source path its file headers name."""
    return digest(tool_fingerprint(), "workspace", plan, settings, header_path)


def catalog_key(config: ProjectConfig) -> str:
    """A loaded catalog's key: the built-in catalogs are in the tool fingerprint, the project catalogs' bytes here."""
    return digest(tool_fingerprint(), "catalog", _project_catalogs(config))


def config_digest(config: ProjectConfig) -> str:
    """Everything of a project config that can change what a spec compiles to or what it is told: the settings,
    where the file is, the ConfigMaps with their files read, and the project catalogs' bytes."""
    return digest({
        "settings": config.model_dump(mode="json"),
        "source": config.source,
        "base_dir": config.base_dir.as_posix(),
        "config_maps": [_readable(lambda: config.config_map(cm.namespace, cm.name)) for cm in config.configMaps],
        "catalogs": _project_catalogs(config),
    })


def _project_catalogs(config: ProjectConfig) -> list:
    from .catalog import project_catalog_paths

    return [[path.as_posix(), _readable(lambda: hashlib.sha256(path.read_bytes()).hexdigest())]
            for path in project_catalog_paths(config)]


def _readable(read: Any) -> Any:
    try:
        return read()
    except OSError as error:  # the compile itself reports it; the key only has to differ from a readable file's
        return f"unreadable: {error.strerror}"


def digest(*parts: Any) -> str:
    """sha256 of the canonical JSON of ``parts``."""
    text = json.dumps([canonical(part) for part in parts], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def canonical(value: Any) -> Any:
    """``value`` as plain JSON data that is equal exactly when the values are: dataclasses and pydantic models
    become tagged objects, tuples lists, sets sorted lists. Anything else raises ``TypeError``, so a new kind of
    field in a Plan can never be silently left out of a key."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, BaseModel):
        return {"$type": type(value).__qualname__, **canonical(value.model_dump(mode="json"))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return {"$type": type(value).__qualname__, **fields}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"cache keys need string mapping keys, got {list(value)!r:.80}")
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(item) for item in value)
    raise TypeError(f"cannot put a {type(value).__name__} into a cache key")


@functools.cache
def tool_fingerprint() -> str:
    """The compiler's identity for cache keys: its version, the bytes of its code and data (the compiler, the
    runtime modules it imports, the presets and schemas) and the versions of the libraries that shape output."""
    hasher = hashlib.sha256(f"kaito-compile {__version__}\n".encode())
    for path in sorted(_fingerprinted_files()):
        hasher.update(f"{path}\n".encode())
        hasher.update(hashlib.sha256(path.read_bytes()).digest())
    for name in _installed_versions(_OUTPUT_DISTRIBUTIONS):
        hasher.update(f"{name}\n".encode())
    return hasher.hexdigest()


def _fingerprinted_files() -> Iterable[Path]:
    from .catalog.loader import PRESETS_DIR
    from .spec.schema import SCHEMA_DIR

    import kaito_runtime

    roots = [(_PACKAGE_ROOT, "*.py"), (Path(kaito_runtime.__file__).resolve().parent, "*.py"),
             (PRESETS_DIR, "*.yaml"), (SCHEMA_DIR, "*.json")]
    for root, pattern in roots:
        yield from (path for path in root.rglob(pattern) if "__pycache__" not in path.parts)


def _installed_versions(distributions: tuple[str, ...]) -> list[str]:
    """The ``<name>-<version>.dist-info`` directory names of ``distributions`` on ``sys.path`` (cheaper than
    ``importlib.metadata``, which parses every distribution's metadata)."""
    wanted = {name.lower().replace("-", "_") for name in distributions}
    found = set()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info") and name.split("-")[0].lower().replace("-", "_") in wanted:
                found.add(name)
    return sorted(found)


# --- catalogs as a payload ------------------------------------------------------------------------------------

def catalog_payload(catalog: Any) -> dict:
    """A loaded catalog, pickled: its typed entries come back in milliseconds instead of the half second that
    parsing the catalog YAML with positions takes. The cache is the build's own file in the out/ sidecar, as
    trusted as the checkout (like ``__pycache__``), and a tool change invalidates it (the fingerprint)."""
    return {"pickle": base64.b64encode(pickle.dumps(catalog, protocol=pickle.HIGHEST_PROTOCOL)).decode()}


def catalog_from_payload(payload: dict) -> Any | None:
    try:
        return pickle.loads(base64.b64decode(payload["pickle"], validate=True))
    except Exception:  # noqa: BLE001 - any unpickling failure (classes renamed, damage) is a miss
        return None


# --- diagnostics as JSON ---------------------------------------------------------------------------------------

def span_payload(span: Span | None) -> list | None:
    return None if span is None else [span.file, span.line, span.col, span.length, span.source_line]


def span_from_payload(data: list | None) -> Span | None:
    return None if data is None else Span(*data)


def diagnostics_payload(diagnostics: Iterable[Diagnostic]) -> list[dict]:
    return [{"code": d.code, "message": d.message, "severity": d.severity.value, "span": span_payload(d.span),
             "file": d.file, "hints": list(d.hints), "notes": list(d.notes)} for d in diagnostics]


def diagnostics_from_payload(data: list[dict]) -> list[Diagnostic]:
    return [Diagnostic(d["code"], d["message"], Severity(d["severity"]), span_from_payload(d["span"]), d["file"],
                       tuple(d["hints"]), tuple(d["notes"])) for d in data]


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:  # gone already, or not ours to delete: a stale entry is only a miss
        pass
