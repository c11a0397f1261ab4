"""Regenerate the committed JSON schemas (``make schemas``)."""

from __future__ import annotations

from .catalog.schema import write_schemas as write_catalog_schemas
from .config import SCHEMA_FILE, render_config_schema
from .spec.inferenceset import write_schemas as write_set_schemas
from .spec.schema import SCHEMA_DIR, write_schemas


def main() -> None:
    for path in [*write_schemas(SCHEMA_DIR), *write_set_schemas(SCHEMA_DIR)]:
        print(f"wrote {path.relative_to(SCHEMA_DIR.parent)}")
    SCHEMA_FILE.write_text(render_config_schema())
    print(f"wrote {SCHEMA_FILE.relative_to(SCHEMA_DIR.parent)}")
    for path in write_catalog_schemas(SCHEMA_DIR):
        print(f"wrote {path.relative_to(SCHEMA_DIR.parent)}")


if __name__ == "__main__":
    main()
