"""Spec files are read with libyaml first and with ruamel only when a position is needed: both readings must give
the same data and the same positions, and whatever libyaml might read differently goes the ruamel way."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from kaito_compile import source
from tests.output.helpers import GO_NON_STRINGS

ROOT = Path(__file__).resolve().parents[1]
YAML_FILES = sorted([*ROOT.glob("tests/cases/**/*.yaml"), *ROOT.glob("examples/**/*.yaml")])
SCALARS = [*GO_NON_STRINGS, "0o17", "0b101", "+0x1F", "1:20", "-1:20", "1.5e+3", "1e+3", "1e-3", "Yes", "yEs", "On",
           "Null", "0.", "-.5", "+.5", "12e03", "0_7", "-0b1", "0x_1F", "_1", "1.2.3", "685_230.15", "190:20:30.15",
           "-.inf", ".NaN", "-0", "00", "08", "0888", "1e", "0b", "0x", "'1'", '"y"', "!!str 1", "!!int '3'",
           "!!float 1", "!!bool y", "! 1", "1:60", "1_000.5"]


def ruamel_documents(text: str) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(source._yaml().load_all(text))


@pytest.mark.parametrize("scalar", SCALARS)
def test_scalars_resolve_as_ruamel_resolves_them(scalar: str):
    for text in (f"a: {scalar}\n", f"a: [{scalar}]\n", f"{scalar}: 1\n"):
        fast = source._parse_fast(text, "x.yaml", text.splitlines())
        if fast is not None:
            assert repr([source.to_plain(doc.data) for doc in fast]) == \
                repr([source.to_plain(doc) for doc in ruamel_documents(text)]), text  # repr: nan == nan


def test_every_case_and_example_reads_alike_with_the_same_positions():
    fast_files = 0
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8", errors="replace")
        docs, problems = source.parse_documents(text, str(path))
        if problems or not docs or docs[0]._positioned is None:
            continue
        fast_files += 1
        for doc, slow in zip(docs, ruamel_documents(text), strict=True):
            reference = source.Document(str(path), doc.index, slow, doc.lines)
            try:
                assert doc.plain == reference.plain, path
            except source.DocumentTooLarge:
                continue
            for field_path in [("metadata", "name"), ("metadata", "namespace"), ("resource", "labelSelector"),
                               ("resource", "instanceType"), ("inference", "preset"), ("inference", "adapters"),
                               ("tuning", "preset"), ("tuning", "input"), ("inference", "preset", "name"), ("spec",),
                               ()]:
                assert doc.span(field_path) == reference.span(field_path), (path, field_path)
                assert doc.span(field_path, key=True) == reference.span(field_path, key=True), (path, field_path)
    assert fast_files > 200


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # a duplicate key: ruamel reports it
    "base: &b {x: 1}\nother:\n  <<: *b\n",  # merge keys
    "when: 2001-12-14\n",  # timestamps
    "data: !!binary aGVsbG8=\n",
    "tagged: !custom x\n",
    "%YAML 1.2\n---\nflag: yes\n",  # a directive: ruamel decides which YAML it is
    "x: " + "[1, " * 30 + "1" + "]" * 30 + "\n" + "# pad\n" * (source.FAST_PARSE_MAX_BYTES // 6),  # too large
])
def test_what_libyaml_might_read_differently_goes_to_ruamel(text: str):
    assert source._parse_fast(text, "x.yaml", text.splitlines()) is None


@pytest.mark.parametrize("text", [
    # a quoted scalar whose second line looks like the key: only ruamel knows where the real key is
    'inference:\n  note: "a\n  preset: b"\n  preset:\n    name: phi-4\n',
    "inference:\n  note: |\n    x\n  preset:\n    name: phi-4\n",
    "inference:\n  note: {a: 1,\n  preset: 2}\n  preset:\n    name: phi-4\n",
    "inference:\n    preset:\n      name: phi-4\n",
    "inference:\n  adapters:\n  - name: x\n  preset: # trailing comment\n    name: phi-4\n",
])
def test_key_positions_found_without_ruamel_are_ruamels(text: str):
    (doc,) = source.parse_documents(text, "x.yaml")[0]
    reference = source.Document("x.yaml", 0, ruamel_documents(text)[0], doc.lines)
    assert doc.span(("inference", "preset"), key=True) == reference.span(("inference", "preset"), key=True)


def test_a_plain_key_position_needs_no_ruamel_parse():
    text = "kind: Workspace\ninference:\n  adapters:\n  - name: x\n  preset:\n    name: phi-4\n"
    (doc,) = source.parse_documents(text, "x.yaml")[0]
    span = doc.span(("inference", "preset"), key=True)
    assert (span.line, span.col) == (5, 3) and doc._positioned._documents is None


def test_positions_are_parsed_only_when_asked_for():
    text = "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata:\n  name: ws  # the name\n  labels: {a: b}\n"
    (doc,) = source.parse_documents(text, "x.yaml")[0]
    assert doc.span(("metadata", "name")).line == 4 and doc._positioned._documents is None
    assert (doc.span(("metadata", "labels", "a")).line, doc.span(("metadata", "labels", "a")).col) == (5, 15)
    assert doc._positioned._documents is not None
