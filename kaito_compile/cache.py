"""Incremental builds: what an unchanged input produced last time is read back instead of recomputed.

The cache is one file beside ``out/``, in its sidecar directory (``.out.kaito-compile/build-cache.jsonl``,
git-ignored). It holds four kinds of entries:

* ``spec``: key = the tool fingerprint, a spec file's name and bytes, the project config that governs it and
  the project catalogs it uses. Value: what loading and validating that file found (diagnostics, and per
  Workspace its namespace, name, plan diagnostics and the key of its rendered files). A hit skips the YAML
  parser, every rule and the planner.
* ``workspace``: key = the tool fingerprint, the workspace's Plan (it holds the spec document's hash and
  everything resolved from the catalog entry, the SKU and the project config), the emitter settings and the
  source path written in the file headers. Value: the workspace's rendered files. A hit skips cdk8s and YAML.
* ``catalog``: key = the tool fingerprint and the project catalogs' bytes. Value: the loaded model catalog as
  JSON data (validated again by its pydantic models when read). A hit skips parsing the catalogs with positions,
  the largest fixed cost of rebuilding after a one-spec change.
* ``config``: key = the tool fingerprint, a project config's path and bytes. Value: the files it names (its
  ConfigMaps' files, its catalogs). A spec key needs the config's digest (:func:`config_digest`: its bytes and
  the bytes of those files); with this entry a run whose specs are all cached never loads a config, nor imports
  pydantic and the config models.

A catalog change therefore re-reads every spec (rules may look anywhere in a catalog) but re-renders only the
workspaces whose plan changed. The tool fingerprint covers the version and the bytes of the compiler's own
code and data, so an upgrade or a local edit of the compiler invalidates everything.

One file rather than one per entry: a cold build of 1,000 workspaces would otherwise create 2,000 files, and
small-file creation is what ext4 is slowest at. The file is a header line and then one line per entry,
``<kind> <key> <HMAC-SHA256 of kind, key and payload> <payload as JSON>``.

The cache is data, never code: payloads are JSON only (no pickle), and nothing in it is trusted unless this user
wrote it. A cache file can be planted or committed by someone else (the sidecar sits in the repository, beside
``out/``), and a planted entry with a correct plain checksum would put its author's manifests into ``out/``. So
every entry is authenticated with a key only this user can read (``$XDG_CACHE_HOME/kaito-compile/cache-key``,
mode 0600, made on first use). A cache file that is not a regular file owned by this user and writable by nobody
else, has another header, or was written with another key (another user, another machine) is ignored as a whole;
an entry whose line is malformed or fails its MAC is a miss. Either way the run says so in a warning (KC-N004) and
rebuilds, and the rebuilt entries replace the ignored ones when the cache is saved. Without a usable key the
cache is off. Saving writes a fresh temporary file and renames it into place, so a concurrent run reads either
the old cache or the new one; after a run without errors only the entries it used are kept.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .diagnostics import Diagnostic, Severity, Span
from .files import read_own_file

if TYPE_CHECKING:
    from .config import ProjectConfig
    from .plan import Plan

CACHE_FORMAT = 2
CACHE_FILE = "build-cache.jsonl"
KEY_FILE = "cache-key"
DISABLE_ENV = "KAITO_COMPILE_NO_CACHE"
IGNORED_CODE = "KC-N004"
_KEY_BYTES = 32
KINDS = ("spec", "workspace", "catalog", "config")
_PACKAGE_ROOT = Path(__file__).resolve().parent
# Distributions whose version shapes the output (emission, YAML rendering, spec parsing and validation).
_OUTPUT_DISTRIBUTIONS = ("cdk8s", "constructs", "jsii", "pyyaml", "ruamel.yaml", "pydantic",
                         "jsonschema", "jsonschema_rs")


class BuildCache:
    """The entries of one cache file: read at the first lookup, written back by :meth:`save`. ``key`` is the secret
    that authenticates entries (see the module docstring)."""

    def __init__(self, path: Path, key: bytes):
        self.path = Path(path)
        self.hits = dict.fromkeys(KINDS, 0)
        self.misses = dict.fromkeys(KINDS, 0)
        self.warnings: list[str] = []  # why (part of) the cache file was ignored
        self._key = key
        self._stored: dict[tuple[str, str], bytes] | None = None  # (kind, key) → the entry's line
        self._used: dict[tuple[str, str], bytes] = {}  # entries this run read (intact) or wrote
        self._changed = False
        self._damaged = 0

    def get(self, kind: str, key: str) -> Any | None:
        """The payload stored under ``key``, or None when absent or unusable."""
        line = self._entries().get((kind, key))
        payload = None if line is None else self._payload(line)
        if payload is None:
            self.misses[kind] += 1
            if line is not None:  # a damaged or forged entry: drop it when saving
                self._changed = True
                self._note_damaged()
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
        self._used[(kind, key)] = f"{kind} {key} {self.seal(kind, key, body)} ".encode() + body
        self._changed = True

    def seal(self, kind: str, key: str, body: bytes) -> str:
        """The MAC an entry line carries: only a holder of this user's key can make an entry this cache reads."""
        return hmac.new(self._key, f"{kind} {key} ".encode() + body, hashlib.sha256).hexdigest()

    def save(self, *, keep_unused: bool) -> bool:
        """Write the cache back when this run changed it; without ``keep_unused`` only the entries this run used
        survive (after a run that compiled every input, that keeps the cache as large as one tree). Best effort:
        whether it was written."""
        entries = dict(self._entries()) if keep_unused else {}
        entries.update(self._used)
        if not self._changed and entries.keys() == self._entries().keys():
            return False
        import tempfile

        from .output.write import make_sidecar

        temporary = None
        try:
            make_sidecar(self.path.parent)
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            with open(handle, "wb") as out:
                out.write(self._header())
                out.writelines(line + b"\n" for _, line in sorted(entries.items()))
            os.replace(temporary, self.path)
        except OSError:
            if temporary is not None:
                _unlink(Path(temporary))
            return False
        return True

    def _entries(self) -> dict[tuple[str, str], bytes]:
        if self._stored is None:
            self._stored = self._read_entries()
        return self._stored

    def _header(self) -> bytes:
        key_id = hmac.new(self._key, b"kaito-compile build cache key id", hashlib.sha256).hexdigest()[:16]
        return json.dumps({"format": CACHE_FORMAT, "generator": "kaito-compile", "key": key_id}).encode() + b"\n"

    def _read_entries(self) -> dict[tuple[str, str], bytes]:
        """Each entry's line by (kind, key); nothing when the file is absent, unreadable, not this user's own, of
        another format or written with another key (with a warning for the last three)."""
        data, problem = read_own_file(self.path)
        if data is None:
            if problem:
                self._ignore(problem)
            return {}
        header, _, rest = data.partition(b"\n")
        if header + b"\n" != self._header():
            self._ignore(_header_problem(header))
            return {}
        entries = {}
        for line in rest.split(b"\n"):
            if not line:
                continue
            kind, _, remainder = line.partition(b" ")
            key, _, _ = remainder.partition(b" ")
            entries[(kind.decode(errors="replace"), key.decode(errors="replace"))] = line
        return entries

    def _payload(self, line: bytes) -> Any | None:
        """The payload of an entry line whose MAC holds; None otherwise."""
        parts = line.split(b" ", 3)
        if len(parts) != 4:
            return None
        kind, key = parts[0].decode(errors="replace"), parts[1].decode(errors="replace")
        if not hmac.compare_digest(self.seal(kind, key, parts[3]).encode(), parts[2]):
            return None
        try:
            return json.loads(parts[3])
        except ValueError:  # cannot happen with a matching MAC unless the writer was wrong: still only a miss
            return None

    def _ignore(self, why: str) -> None:
        self._changed = True  # rewrite it as ours
        self.warnings.append(f"ignored the build cache {self.path}: {why}; rebuilding it")

    def _note_damaged(self) -> None:
        self._damaged += 1
        if self._damaged == 1:
            self.warnings.append(f"ignored damaged or forged entries of the build cache {self.path} (their "
                                 "authentication code does not match); rebuilding them")


def _header_problem(header: bytes) -> str:
    try:
        found = json.loads(header)
    except ValueError:
        return "it is not a kaito-compile build cache"
    if not isinstance(found, dict) or found.get("generator") != "kaito-compile":
        return "it is not a kaito-compile build cache"
    if found.get("format") != CACHE_FORMAT:
        return f"it has format {found.get('format')!r}, this kaito-compile writes {CACHE_FORMAT}"
    return "it was written with another user's or machine's key"


def user_key() -> bytes | None:
    """This user's cache key, made on first use; None when it cannot be read or made safely (the cache is off)."""
    directory = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kaito-compile"
    path = directory / KEY_FILE
    for _ in range(2):
        data, problem = read_own_file(path)
        if data is not None:
            return data if len(data) == _KEY_BYTES and not os.stat(path).st_mode & 0o077 else None
        if problem:
            return None
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue  # another run made it just now: read that one
        except OSError:
            return None
        key = os.urandom(_KEY_BYTES)
        with open(fd, "wb") as handle:
            handle.write(key)
        return key
    return None


def open_cache(out_dir: Path) -> BuildCache | None:
    """The cache beside ``out_dir`` (in its sidecar directory), or None when ``KAITO_COMPILE_NO_CACHE`` is set,
    there is no usable key, or ``out_dir`` is a place ``build`` refuses to write (nothing is written beside it)."""
    found = _sidecar_and_key(out_dir)
    return None if found is None else BuildCache(found[0] / CACHE_FILE, found[1])


def open_stat_cache(out_dir: Path):
    """The records of ``out_dir``'s files by their stat (:mod:`.output.statcache`), in its sidecar, authenticated
    with the same key; None when the build cache is off (as :func:`open_cache`)."""
    from .output.statcache import StatCache

    found = _sidecar_and_key(out_dir)
    return None if found is None else StatCache(*found)


def _sidecar_and_key(out_dir: Path) -> tuple[Path, bytes] | None:
    from .output import OutputError, sidecar_dir
    from .output.write import usable_out_dir

    if os.environ.get(DISABLE_ENV):
        return None
    try:
        out = usable_out_dir(Path(out_dir))
    except OutputError:
        return None
    key = user_key()
    return None if key is None else (sidecar_dir(out), key)


# --- keys -----------------------------------------------------------------------------------------------------

def spec_key(file: str, header_path: str, raw: bytes, config_digest: str) -> str:
    """A spec file's key: ``file`` as diagnostics name it, ``header_path`` as file headers name it, its bytes,
    and the :func:`config_digest` of its project config."""
    return digest(tool_fingerprint(), "spec", file, header_path, hashlib.sha256(raw).hexdigest(), config_digest)


def workspace_key(plan: Plan, settings: dict, header_path: str) -> str:
    """A workspace's key: its whole plan, the emitter's settings and the source path its file headers name."""
    return digest(tool_fingerprint(), "workspace", plan, settings, header_path)


def catalog_key(config: ProjectConfig) -> str:
    return catalog_key_for(config.catalog_paths)


def catalog_key_for(project_catalogs: list[Path]) -> str:
    """A loaded catalog's key: the built-in catalogs are in the tool fingerprint, the project catalogs' bytes here."""
    return digest(tool_fingerprint(), "catalog", [[path.as_posix(), _file_digest(path)] for path in project_catalogs])


def config_entry_key(source: str, raw: bytes) -> str:
    """The key of a ``config`` entry: which files the config at ``source`` with bytes ``raw`` names (a config
    whose bytes are unchanged names the same files, so it need not be parsed to find them)."""
    return digest(tool_fingerprint(), "config", source, hashlib.sha256(raw).hexdigest())


def config_references(config: ProjectConfig) -> dict:
    """The files a loaded config names, relative to its directory: its ConfigMaps' files and its catalogs."""
    return {"files": sorted({rel for cm in config.configMaps for rel in cm.files.values()}),
            "catalogs": list(config.catalogs)}


def config_digest(source: str | None, raw: bytes | None, references: dict) -> str:
    """Everything of a project config that can change what a spec compiles to or what it is told: its bytes
    (settings, inline ConfigMap data; the defaults are code, in the tool fingerprint), where it is, and the bytes
    of the files it names (:func:`config_references`). Computed without loading the config models."""
    base = Path(source).parent if source else Path(".")
    return digest({
        "source": source,
        "bytes": None if raw is None else hashlib.sha256(raw).hexdigest(),
        "files": [[rel, _named_file_digest(base, rel)] for rel in references["files"]],
        "catalogs": [[rel, _named_file_digest(base, rel)] for rel in references["catalogs"]],
    })


def valid_references(payload: Any) -> bool:
    return isinstance(payload, dict) and all(
        isinstance(payload.get(name), list) and all(isinstance(rel, str) for rel in payload[name])
        for name in ("files", "catalogs"))


def _named_file_digest(base: Path, relative: str) -> str:
    """The sha256 of a file a config names, read as the config loader reads it (inside the config's directory, a
    regular file), or why it cannot be read: the compile reports that, a key only has to differ."""
    from .config_files import ConfigFileProblem, read_config_file
    from .source import MAX_FILE_BYTES

    try:
        return hashlib.sha256(read_config_file(base, relative, limit=MAX_FILE_BYTES).encode()).hexdigest()
    except ConfigFileProblem as problem:
        return f"unusable: {problem}"


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
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
    if _is_model(value):
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


def _is_model(value: Any) -> bool:
    """A pydantic model, without importing pydantic (a cached run never does)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


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
    import kaito_runtime

    from .datadir import PRESETS_DIR, SCHEMA_DIR

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
    """A loaded catalog as JSON data: read back and validated by its pydantic models in a few milliseconds instead
    of the half second parsing the catalog YAML with positions takes. The SKU catalog is the built-in one (in the
    tool fingerprint), stored all the same: loading it parses its YAML and validates it with Python jsonschema
    (~0.1 s plus ~0.08 s to import jsonschema, in every build that validates a changed spec)."""
    models, skus = catalog.models, catalog.skus
    return {
        "skus": {"clouds": {cloud: [sku.model_dump(mode="json") for sku in listed] for cloud, listed in
                            skus.clouds.items()},
                 "mig_profiles": dict(skus.mig_profiles)},
        "release": models.release.model_dump(mode="json"),
        "families": {name: dict(family) for name, family in models.families.items()},
        "rejected": {name: entry.model_dump(mode="json") for name, entry in models.rejected.items()},
        "entries": {name: entry.model_dump(mode="json") for name, entry in models.entries.items()},
        "aliases": dict(models.aliases),
        "sources": dict(models.sources),
    }


def catalog_from_payload(payload: Any) -> Any | None:
    """The catalog :func:`catalog_payload` stored, or None when the payload does not validate (a miss)."""
    from pydantic import ValidationError

    from .catalog import Catalog
    from .catalog.catalog import ModelCatalog, SkuCatalog
    from .catalog.models import KaitoRelease, ModelEntry, RejectedName
    from .catalog.skus import Sku

    try:
        models = ModelCatalog(
            release=KaitoRelease.model_validate(payload["release"]),
            families={str(name): {str(k): str(v) for k, v in family.items()}
                      for name, family in payload["families"].items()},
            rejected={str(name): RejectedName.model_validate(entry) for name, entry in payload["rejected"].items()},
            entries={str(name): ModelEntry.model_validate(entry) for name, entry in payload["entries"].items()},
            aliases={str(name): str(target) for name, target in payload["aliases"].items()},
            sources={str(name): str(source) for name, source in payload["sources"].items()},
        )
        skus = SkuCatalog(
            clouds={str(cloud): tuple(Sku.model_validate(sku) for sku in listed)
                    for cloud, listed in payload["skus"]["clouds"].items()},
            mig_profiles={str(profile): str(gpu) for profile, gpu in payload["skus"]["mig_profiles"].items()},
        )
    except (KeyError, TypeError, AttributeError, ValidationError):
        return None
    return Catalog(models, skus)


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
