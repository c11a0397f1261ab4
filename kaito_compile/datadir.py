"""Where the compiler's data files are: ``presets/`` (the model and SKU catalogs) and ``schemas/`` (the committed
JSON schemas).

In a source checkout (and an editable install) they sit at the repository root beside the package, the layout the
project keeps. An installed wheel carries them inside the package as ``kaito_compile/_data/<name>/`` (setup.py
maps the repository directories there as package data), because nothing beside site-packages belongs to us.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The directory ``name`` (``presets`` or ``schemas``): the wheel's packaged copy when there is one, else the
    repository's. The packaged copy is tried first so that an unrelated ``presets/`` beside site-packages is never
    read."""
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name


PRESETS_DIR = data_dir("presets")
SCHEMA_DIR = data_dir("schemas")
