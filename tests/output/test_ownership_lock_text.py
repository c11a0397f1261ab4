"""The lock's text is assembled by hand for speed: it must stay exactly what ``json.dumps`` writes."""

from __future__ import annotations

import json

import pytest

from kaito_compile.output.ownership import GENERATOR, LOCK_FORMAT, lock_bytes, sha256_digest


@pytest.mark.parametrize("files", [
    {},
    {"ns/ws/kustomization.yaml": b"a"},
    {"b/x.yaml": b"1", "a/y.yaml": b"2", "a/\u00e9t\u00e9 \"q\"\\.yaml": b"3", "z/\u2028\t.yaml": b""},
])
@pytest.mark.parametrize("version", ["0.1.0", "1.0.0+g\u00e9\"x\""])
def test_the_lock_is_what_json_dumps_writes(files: dict[str, bytes], version: str):
    document = {"files": {path: sha256_digest(data) for path, data in files.items()}, "format": LOCK_FORMAT,
                "generator": GENERATOR, "tool_version": version}
    expected = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    assert lock_bytes(files, version) == expected
