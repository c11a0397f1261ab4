"""Which project config governs a spec file, and reading the files a config names, without loading it: a module
without pydantic, so that a build or check whose specs all come from the cache never imports the config models
(see ``cache.config_digest``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .files import UnsafeFile, read_regular

if TYPE_CHECKING:
    from .config import ProjectConfig

CONFIG_FILE = "kaito-compile.yaml"


class ConfigResolver:
    """Which project config governs a spec file: ``--config`` for all, else the nearest
    ``kaito-compile.yaml`` in the file's directory or its parents (stopping at the repository root),
    else the defaults. One repository can so hold several clusters' worth of Workspaces."""

    def __init__(self, explicit: str | None = None):
        self._explicit = explicit
        self._sources: dict[Path, str | None] = {}
        self._loaded: dict[str | None, ProjectConfig] = {}

    def for_file(self, file: str) -> ProjectConfig:
        return self.load(self.source_for_file(file))

    def source_for_file(self, file: str) -> str | None:
        """The config file governing ``file``, as it is loaded and named in diagnostics; None for the defaults."""
        if self._explicit:
            return self._explicit
        directory = Path.cwd() if file in ("-", "<stdin>") else Path(file).resolve().parent
        return self._source_for_dir(directory)

    def load(self, source: str | None) -> ProjectConfig:
        """The config of :meth:`source_for_file`, loaded and validated once (``SpecError`` when it is invalid)."""
        if source not in self._loaded:
            from .config import ProjectConfig, load_config

            self._loaded[source] = load_config(source) if source else ProjectConfig()
        return self._loaded[source]

    def _source_for_dir(self, directory: Path) -> str | None:
        if directory not in self._sources:
            candidate = directory / CONFIG_FILE
            if candidate.is_file():
                found = str(_relative(candidate))
            elif (directory / ".git").exists() or directory.parent == directory:
                found = None
            else:
                found = self._source_for_dir(directory.parent)
            self._sources[directory] = found
        return self._sources[directory]


def _relative(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


class ConfigFileProblem(Exception):
    """Why a file the config names cannot be used; the message names the file, never its content."""


class ConfigFileMissing(ConfigFileProblem):
    """The file does not exist (yet: ``presets import`` creates the configured catalog)."""


def read_config_file(base: Path, relative: str, *, limit: int) -> str:
    """A file the config names (a ConfigMap file, a project catalog): a regular file inside the config's own
    directory tree, of at most ``limit`` bytes, UTF-8 text. Its content lands in out/ or decides what is emitted,
    so nothing outside the project is read, and no diagnostic ever quotes it."""
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ConfigFileProblem(f"{relative!r} must be a path inside the config's directory (no absolute paths, "
                                "no '..')")
    root = base.resolve()
    target = (root / path).resolve()
    if root not in target.parents:
        raise ConfigFileProblem(f"{relative!r} leads outside the config's directory")
    try:
        data = read_regular(target, limit=limit)
    except FileNotFoundError:
        raise ConfigFileMissing(f"no such file {relative!r}") from None
    except UnsafeFile as error:
        raise ConfigFileProblem(f"{relative!r}: {error.why}") from None
    except OSError as error:
        raise ConfigFileProblem(f"{relative!r} cannot be read: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigFileProblem(f"{relative!r} is not UTF-8 text (ConfigMap values are strings; binary data is "
                                "not supported)") from None
