"""Where the data the compiler ships beside its code lives: a module of constants only, so that a module needing a
path (the cache's tool fingerprint) does not import the module that reads the data."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = PROJECT_ROOT / "presets"
SCHEMA_DIR = PROJECT_ROOT / "schemas"
