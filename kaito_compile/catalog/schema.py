"""JSON schemas of the catalog files, generated from their pydantic models (``make schemas``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..datadir import SCHEMA_DIR
from ..goregex import schema_validator
from ..spec.schema import dump_schema, model_schema
from .derive import VllmFile
from .models import ModelsFile
from .skus import SkusFile

if TYPE_CHECKING:  # a catalog read from the build cache is validated by its models only
    from jsonschema import Draft202012Validator


FILE_KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "models": (ModelsFile, "catalog-models.schema.json"),
    "skus": (SkusFile, "catalog-skus.schema.json"),
    "vllm": (VllmFile, "catalog-vllm.schema.json"),
}


def generate_schema(kind: str) -> dict:
    model, name = FILE_KINDS[kind]
    return model_schema(model, name)


def render_schema(kind: str) -> str:
    return dump_schema(generate_schema(kind))


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, (_, name) in FILE_KINDS.items():
        path = directory / name
        path.write_text(render_schema(kind))
        written.append(path)
    return written


@cache
def validator_for(kind: str) -> Draft202012Validator:
    """The committed schema (what editors see); generated when it is absent."""
    path = SCHEMA_DIR / FILE_KINDS[kind][1]
    schema = json.loads(path.read_text()) if path.exists() else generate_schema(kind)
    return schema_validator(schema)
