"""Run ``kaito-compile`` with the CPU time its strict-schema validation takes recorded (bench/compile.py runs it).

Usage: ``python bench/validation_in_build.py RESULT.json kaito-compile-arguments...``. The build runs unchanged in
this process; :func:`kaito_compile.output.validate.errors_kind_by_kind` (every batch a build validates) and the
construction of jsonschema-rs's validators are timed with the CPU clock of the calling thread, so the time the
build's other threads spend meanwhile is not counted. Writes ``{"objects", "validating_s", "constructing_s"}``:
``validating_s`` includes ``constructing_s``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    result, arguments = Path(sys.argv[1]), sys.argv[2:]
    from kaito_compile.cli import main as cli_main
    from kaito_compile.output import validate

    totals = {"objects": 0, "validating_s": 0.0, "constructing_s": 0.0}
    validate_batch, construct = validate.errors_kind_by_kind, validate.jsonschema_rs.Draft202012Validator

    def timed_batch(objects):
        start = time.thread_time()
        try:
            return validate_batch(objects)
        finally:
            totals["validating_s"] += time.thread_time() - start
            totals["objects"] += len(objects)

    def timed_construction(*args, **kwargs):
        start = time.thread_time()
        try:
            return construct(*args, **kwargs)
        finally:
            totals["constructing_s"] += time.thread_time() - start

    validate.errors_kind_by_kind = timed_batch
    validate.jsonschema_rs = type(sys)("jsonschema_rs_timed")
    validate.jsonschema_rs.Draft202012Validator = timed_construction
    sys.argv = ["kaito-compile", *arguments]
    try:
        cli_main()  # exits with the build's status
    finally:
        result.write_text(json.dumps(totals))


if __name__ == "__main__":
    main()
