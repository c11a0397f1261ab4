"""The compiled validators answer like jsonschema: the predicate accepts only what jsonschema accepts, and every
reported error is jsonschema's. Checked on the emitted examples and on thousands of seeded mutations of them."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from kaito_compile.output import validate
from tests.support import kube

SNAPSHOTS = Path(__file__).resolve().parents[1] / "emit" / "snapshots" / "examples"
MUTATIONS_PER_OBJECT = 60
JSONSCHEMA_ONLY = frozenset({"HTTPRoute"})
"""Kinds whose CRD the predicate compiler leaves to jsonschema alone: Gateway API's HTTPRoute has an enum of
non-strings (the predicate does not compile those, see output/validate.py); jsonschema still checks every object."""


def emitted_objects() -> list[dict]:
    return [yaml.load(path.read_text(), Loader=yaml.CSafeLoader) for path in sorted(SNAPSHOTS.rglob("*.yaml"))
            if path.name != "kustomization.yaml"]


def compiled(obj: dict) -> validate._Validator:
    key = (obj["apiVersion"], obj["kind"])
    if key in validate.CRD_FILES:
        return validate._crd_validator(kube.UPSTREAM, validate.DEFAULT_K8S_VERSION, *key)[0]
    return validate._core_validator(validate.DEFAULT_K8S_VERSION, *key)


def jsonschema_errors(validator: validate._Validator, obj: Any) -> list[str]:
    return sorted(validate._describe(error) for error in validator.jsonschema.iter_errors(obj))


def nodes(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into ``value`` (dict keys and list indexes)."""
    found = [path]
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found += nodes(child, (*path, key))
    return found


def mutate(obj: dict, rng: random.Random) -> dict:
    """One random change of the kinds an emitter bug would make: an unknown field, a wrong type, a missing field,
    an unknown enum value, a null, an empty container."""
    result = copy.deepcopy(obj)
    path = rng.choice(nodes(result)[1:])
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    key, value = path[-1], parent[path[-1]]
    kind = rng.choice(["unknown-field", "retype", "delete", "enum", "null", "empty"])
    if kind == "unknown-field" and isinstance(value, dict):
        value["bogusField"] = rng.choice([1, "x", {"a": 1}])
    elif kind == "delete" and isinstance(parent, dict):
        del parent[key]
    elif kind == "enum" and isinstance(value, str):
        parent[key] = value + "-bogus"
    elif kind == "null":
        parent[key] = None
    elif kind == "empty":
        parent[key] = [] if isinstance(value, dict) else {}
    else:
        parent[key] = {str: 7, int: "7", float: "7.5", bool: "true", type(None): 0, list: {"a": 1},
                       dict: ["a"]}[type(value)]
    return result


@pytest.mark.skipif(not kube.upstream_available(), reason=f"upstream CRDs not present at {kube.UPSTREAM}")
def test_every_emitted_example_is_accepted_by_a_compiled_predicate():
    objects = emitted_objects()
    assert len(objects) > 20
    for obj in objects:
        validator = compiled(obj)
        if obj["kind"] in JSONSCHEMA_ONLY:
            assert validator.accepts is None and jsonschema_errors(validator, obj) == [], obj["kind"]
            continue
        assert validator.accepts is not None, obj["kind"]
        assert validator.accepts(obj) and jsonschema_errors(validator, obj) == []


@pytest.mark.skipif(not kube.upstream_available(), reason=f"upstream CRDs not present at {kube.UPSTREAM}")
def test_mutated_objects_get_exactly_jsonschemas_verdict_and_errors():
    rng = random.Random(8)
    invalid = total = 0
    for obj in emitted_objects():
        validator = compiled(obj)
        for _ in range(MUTATIONS_PER_OBJECT):
            mutated = mutate(obj, rng)
            expected = jsonschema_errors(validator, mutated)
            if validator.accepts is not None and validator.accepts(mutated):
                assert expected == [], (obj["kind"], mutated)
            assert validator.errors(mutated) == expected
            invalid += bool(expected)
            total += 1
    assert invalid > total // 4, "the mutations should break a good share of the objects"


def test_a_schema_with_a_keyword_the_compiler_does_not_know_is_left_to_jsonschema():
    schema = {"type": "object", "properties": {"tags": {"type": "array", "uniqueItems": True}}}
    validator = validate._validator(schema, validate.DEFAULT_K8S_VERSION)
    assert validator.accepts is None
    assert validator.errors({"tags": ["a", "a"]}) == ["tags: ['a', 'a'] has non-unique elements"]
    assert validator.errors({"tags": ["a", "b"]}) == []


@pytest.mark.parametrize(("schema", "instance"), [
    ({"type": "integer"}, 3.0),  # jsonschema counts an integral float as an integer; the predicate defers
    ({"type": "string", "pattern": "^a"}, "ba"),
    ({"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}, None),  # IntOrString: null is both
    ({"type": "object", "patternProperties": {"^x-": {"type": "integer"}}, "additionalProperties": False},
     {"x-a": 1, "y": 2}),
    ({"type": "array", "items": {"enum": ["a", None]}, "maxItems": 2}, ["a", None, "a"]),
])
def test_edge_cases_agree_with_jsonschema(schema: dict, instance: Any):
    validator = validate._validator(schema, validate.DEFAULT_K8S_VERSION)
    assert validator.accepts is not None
    assert validator.errors(instance) == jsonschema_errors(validator, instance)
    assert not validator.accepts(instance) or validator.errors(instance) == []
