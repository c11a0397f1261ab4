"""Generated files in the repository are fresh: JSON schemas and the rule table in docs/."""

from __future__ import annotations

import json

from kaito_compile import docs
from kaito_compile.config import SCHEMA_FILE, render_config_schema
from kaito_compile.spec.schema import SCHEMA_DIR, SCHEMA_FILES, render_schema


def test_workspace_schemas_are_fresh():
    for api_version, name in SCHEMA_FILES.items():
        committed = (SCHEMA_DIR / name).read_text()
        assert committed == render_schema(api_version), f"schemas/{name} is stale: run `make schemas`"


def test_config_schema_is_fresh():
    assert SCHEMA_FILE.read_text() == render_config_schema(), "schemas/config.schema.json is stale: `make schemas`"


def test_rule_docs_are_fresh():
    assert docs.DOC.read_text() == docs.render(), "docs/rules.md is stale: run `make docs`"


def test_schema_marks_deprecated_fields():
    schema = json.loads((SCHEMA_DIR / SCHEMA_FILES["kaito.sh/v1beta1"]).read_text())
    resource = schema["$defs"]["ResourceSpecBeta"]["properties"]
    assert resource["count"].get("deprecated") is True
    assert resource["preferredNodes"].get("deprecated") is True
    assert schema["$defs"]["ResourceSpecBeta"]["additionalProperties"] is False


def test_inferenceset_schemas_are_fresh():
    from kaito_compile.spec import inferenceset

    for api_version, name in inferenceset.SCHEMA_FILES.items():
        committed = (SCHEMA_DIR / name).read_text()
        assert committed == inferenceset.render_schema(api_version), f"schemas/{name} is stale: run `make schemas`"
