"""YAML serialisation: fixed layout, quoting that survives go-yaml v2, and byte-stable round trips."""

from __future__ import annotations

import datetime
import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kaito_compile.output import ManifestValueError, dump_manifest
from tests.output.helpers import GO_NON_STRINGS, deployment, tricky_configmap


def reparse(text: str):
    return yaml.load(text, Loader=yaml.CSafeLoader)


def test_layout_orders_top_level_keys_sorts_the_rest_and_keeps_lists():
    obj = {
        "spec": {"zeta": 1, "alpha": [{"name": "b", "image": "x"}, {"name": "a"}], "mid": {"y": 1, "x": 2}},
        "metadata": {"namespace": "default", "name": "demo"},
        "data": {"b": "1", "a": "2"},
        "kind": "Demo",
        "apiVersion": "example.com/v1",
    }
    assert dump_manifest(obj) == (
        "apiVersion: example.com/v1\n"
        "kind: Demo\n"
        "metadata:\n"
        "  name: demo\n"
        "  namespace: default\n"
        "data:\n"
        '  a: "2"\n'
        '  b: "1"\n'
        "spec:\n"
        "  alpha:\n"
        "  - image: x\n"
        "    name: b\n"
        "  - name: a\n"
        "  mid:\n"
        "    x: 2\n"
        '    "y": 1\n'
        "  zeta: 1\n"
    )


@pytest.mark.parametrize("value", GO_NON_STRINGS)
def test_strings_go_yaml_would_retype_are_double_quoted(value: str):
    text = dump_manifest({"value": value, value: "key"})
    assert f'value: "{value}"\n' in text
    assert f'"{value}": key\n' in text
    assert reparse(text) == {"value": value, value: "key"}


@pytest.mark.parametrize("value", ["phi-3", "nvidia.com/gpu", "/dev/shm", "--port=5000", "1.10.0", "v1", "0.0.8a"])
def test_ordinary_strings_stay_plain(value: str):
    assert dump_manifest({"value": value}) == f"value: {value}\n"


def test_multi_line_strings_are_literal_blocks():
    text = dump_manifest({"script": "set -e\necho hi\n", "inline": "a\nb"})
    assert text == "inline: |-\n  a\n  b\nscript: |\n  set -e\n  echo hi\n"


def test_long_strings_are_never_wrapped():
    sentence = "word " * 400 + "end"
    assert dump_manifest({"long": sentence}) == f"long: {sentence}\n"


def test_a_dict_used_twice_is_written_out_twice_without_anchors():
    text = dump_manifest(deployment("phi-3"))
    assert "&" not in text and "*" not in text
    assert text.count("kaito.sh/workspace: phi-3") == 3


@pytest.mark.parametrize(
    "value", [1.0e-5, 1e20, 0.1, -2.5, 0, -3, 2**40, True, False, None], ids=repr
)
def test_numbers_booleans_and_null_keep_their_types(value):
    text = dump_manifest({"v": value})
    parsed = reparse(text)["v"]
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    "bad",
    [{"when": datetime.date(2026, 1, 1)}, {"raw": b"x"}, {"set": {1}}, {"nan": math.nan}, {1: "int key"}, ["list"]],
    ids=["date", "bytes", "set", "nan", "int-key", "not-a-mapping"],
)
def test_values_without_a_json_equivalent_are_refused(bad):
    with pytest.raises(ManifestValueError):
        dump_manifest(bad)


def test_rendering_a_reparsed_document_gives_the_same_bytes():
    first = dump_manifest(tricky_configmap("params"))
    assert dump_manifest(reparse(first)) == first


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_json_document_round_trips_to_equal_data_and_identical_bytes(document):
    text = dump_manifest(document)
    parsed = reparse(text)
    assert parsed == document
    assert dump_manifest(parsed) == text
