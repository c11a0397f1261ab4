"""JSON schemas generated from the spec models, and schema validation with positioned diagnostics.

Raw YAML is validated against the committed schema first, so a misspelt field is reported
where it stands, with a "did you mean" hint, before any rule looks at the spec.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
from pydantic import ValidationError as PydanticValidationError

from ..datadir import SCHEMA_DIR
from ..diagnostics import Diagnostic
from ..goregex import schema_validator
from ..source import Document
from .models import WORKSPACE_MODELS

if TYPE_CHECKING:  # Python jsonschema words the errors of a failing spec: imported only then
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_FILES = {
    "kaito.sh/v1beta1": "workspace-v1beta1.schema.json",
    "kaito.sh/v1alpha1": "workspace-v1alpha1.schema.json",
}


def _simplify_nullable(node: Any) -> Any:
    """Fold pydantic's ``anyOf: [X, {type: null}]`` into ``X`` with a nullable type: clearer errors."""
    if isinstance(node, list):
        return [_simplify_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _simplify_nullable(v) for k, v in node.items()}
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = next(o for o in options if o != {"type": "null"})
        if "type" in other and isinstance(other["type"], str):
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            merged.update(other)
            merged["type"] = [other["type"], "null"]
            return merged
    return node


def model_schema(model, file_name: str) -> dict:
    """The committed JSON schema of a pydantic model: draft 2020-12, nullable fields folded, a stable $id."""
    schema = _simplify_nullable(model.model_json_schema(mode="validation"))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://kaito-compile.dev/schemas/{file_name}"
    return schema


def dump_schema(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def generate_schema(api_version: str) -> dict:
    return model_schema(WORKSPACE_MODELS[api_version], SCHEMA_FILES[api_version])


def render_schema(api_version: str) -> str:
    return dump_schema(generate_schema(api_version))


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    return write_schema_files(directory, SCHEMA_FILES, render_schema)


def write_schema_files(directory: Path, files: dict[str, str], render) -> list[Path]:
    """Write ``render(api_version)`` into ``directory/<file>`` for each apiVersion of ``files``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for api_version, name in files.items():
        path = directory / name
        path.write_text(render(api_version))
        written.append(path)
    return written


def committed_schema(file_name: str, generate) -> dict:
    """The committed schema (what users and editors see; generated on the fly if absent)."""
    path = SCHEMA_DIR / file_name
    return json.loads(path.read_text()) if path.exists() else generate()


def committed_validator(file_name: str, generate) -> Draft202012Validator:
    """The committed schema's Python jsonschema validator, its ``pattern`` keywords matched as Go matches them."""
    return schema_validator(committed_schema(file_name, generate))


def positioned_errors(doc: Document, validator: Draft202012Validator) -> list[Diagnostic]:
    """Every schema error of ``doc``, in path order, as positioned diagnostics."""
    errors = sorted(validator.iter_errors(doc.plain), key=lambda e: list(map(str, e.absolute_path)))
    return [diagnostic for error in errors for diagnostic in explain(doc, error)]


def validated_model(doc: Document, model, data: dict) -> tuple[Any, list[Diagnostic]]:
    """``model`` built from schema-valid ``data``; the schema and the models agree, so an error here is a safety
    net, reported at the field pydantic names."""
    try:
        return model.model_validate(data), []
    except PydanticValidationError as exc:
        return None, [Diagnostic("KC-S004", f"{'.'.join(map(str, e['loc']))}: {e['msg']}",
                                 span=doc.span(tuple(e["loc"]))) for e in exc.errors()]


@cache
def validator_for(api_version: str) -> Draft202012Validator:
    return committed_validator(SCHEMA_FILES[api_version], lambda: generate_schema(api_version))


@cache
def fast_validator_for(api_version: str) -> jsonschema_rs.Draft202012Validator:
    """jsonschema-rs on the same schema: the verdict at a tenth of the cost (tests/test_spec_schema_verdicts.py
    checks they agree); the messages are jsonschema's."""
    return jsonschema_rs.Draft202012Validator(committed_schema(SCHEMA_FILES[api_version],
                                                               lambda: generate_schema(api_version)))


def schema_diagnostics(doc: Document, api_version: str) -> list[Diagnostic]:
    if fast_validator_for(api_version).is_valid(doc.plain):
        return []
    return positioned_errors(doc, validator_for(api_version))


def explain(doc: Document, error: ValidationError) -> list[Diagnostic]:
    """Turn one jsonschema error into positioned diagnostics with Kaito-user wording."""
    return _explain(doc, _most_specific(error))


def _most_specific(error: ValidationError) -> ValidationError:
    from jsonschema.exceptions import best_match

    if error.validator in ("anyOf", "oneOf") and error.context:
        non_null = [e for e in error.context if e.validator != "type" or e.validator_value != "null"]
        return _most_specific(best_match(non_null or error.context))
    return error


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _explain(doc: Document, error: ValidationError) -> list[Diagnostic]:
    path = tuple(error.absolute_path)
    where = _path_text(path)
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        return [_unknown_field(doc, path, key, allowed) for key in unknown]
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(error.validator_value)
        return [Diagnostic("KC-S002", f"{where}: missing required field '{missing}'",
                           span=doc.span(path, key=bool(path)))]
    if kind == "type":
        expected = error.validator_value
        expected_text = " or ".join(t for t in ([expected] if isinstance(expected, str) else expected) if t != "null")
        return [Diagnostic("KC-S003", f"{where}: expected {_article(expected_text)}, got {_describe(error.instance)}",
                           span=doc.span(path))]
    if kind in ("enum", "const"):
        choices = error.validator_value if kind == "enum" else [error.validator_value]
        return [Diagnostic("KC-S004", f"{where}: invalid value {error.instance!r}; expected one of: "
                           + ", ".join(str(c) for c in choices if c is not None), span=doc.span(path))]
    return [Diagnostic("KC-S004", f"{where}: {error.message}", span=doc.span(path))]


def _unknown_field(doc: Document, path: tuple, key: str, allowed: list[str]) -> Diagnostic:
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    lowered = [a for a in allowed if a.lower() == str(key).lower()]
    suggestion = (lowered or close or [None])[0]
    hints = (f"did you mean '{suggestion}'?",) if suggestion else (f"known fields: {', '.join(allowed)}",)
    return Diagnostic("KC-S001", f"{_path_text(path)}: unknown field '{key}'",
                      span=doc.span((*path, key), key=True), hints=hints)


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}
    if value is None:
        return "null"
    text = names.get(type(value), type(value).__name__)
    if isinstance(value, (str, int, float, bool)):
        return f"{text} {value!r}"
    return text
