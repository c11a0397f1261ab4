"""The schema set ``build`` validates against: fresh, accepting every emitted example, and rejecting what the
reference implementation (Python jsonschema, on the same schemas) rejects, on thousands of seeded mutations."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kaito_compile.output import schema_gen, validate
from tests.support import kube
from tests.support.shared import requires_shared

SNAPSHOTS = Path(__file__).resolve().parents[1] / "emit" / "snapshots" / "examples"
MUTATIONS_PER_OBJECT = 60


def emitted_objects() -> list[dict]:
    return [yaml.load(path.read_text(), Loader=yaml.CSafeLoader) for path in sorted(SNAPSHOTS.rglob("*.yaml"))
            if path.name != "kustomization.yaml"]


def reference_valid(obj: Any, kind: str) -> bool:
    """Python jsonschema's verdict on ``obj`` under the generated schema of ``kind`` (the namespace rule aside)."""
    schemas = validate._schemas()
    entry = schemas["kinds"][kind]
    return jsonschema.Draft202012Validator({**entry["schema"], "$defs": schemas["$defs"]}).is_valid(obj)


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


@requires_shared(kube.UPSTREAM, "the upstream CRDs")
def test_the_committed_schema_set_is_fresh():
    assert validate.SCHEMA_FILE.read_text() == schema_gen.render(kube.UPSTREAM), \
        "schemas/kubernetes-objects.json is stale: run `make schemas`"


def test_every_emitted_example_is_valid():
    objects = emitted_objects()
    assert len(objects) > 20
    for obj in objects:
        assert validate.validate_manifest(obj) == [], obj["kind"]


def test_mutated_objects_get_the_reference_verdict():
    rng = random.Random(8)
    invalid = total = 0
    for obj in emitted_objects():
        for _ in range(MUTATIONS_PER_OBJECT):
            mutated = mutate(obj, rng)
            rejected = any("cluster-scoped" not in error.message for error in validate.object_errors(mutated))
            if (mutated.get("apiVersion"), mutated.get("kind")) != (obj["apiVersion"], obj["kind"]):
                assert rejected, mutated  # stricter than the schemas, which allow a null apiVersion: no such kind
            else:
                assert rejected == (not reference_valid(mutated, f"{obj['apiVersion']} {obj['kind']}")), mutated
            invalid += rejected
            total += 1
    assert invalid > total // 4, "the mutations should break a good share of the objects"


def test_an_error_names_the_path_of_the_bad_value():
    deployment = next(obj for obj in emitted_objects() if obj["kind"] == "Deployment")
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["args"] = ["--port", 5000]
    assert validate.object_errors(bad) == [validate.SchemaError(
        ("spec", "template", "spec", "containers", 0, "args", 1), '5000 is not of types "null", "string"')]


def test_a_batch_checked_kind_by_kind_gives_each_object_its_own_errors():
    """``build`` validates a batch kind by kind: the errors still come back in the objects' order, on their object."""
    objects = list(reversed(emitted_objects()))  # kinds interleaved, not in the order they are checked
    kinds = [obj["kind"] for obj in objects]
    assert len(set(kinds)) > 3 and sorted(kinds) != kinds
    bad = next(index for index, obj in enumerate(objects) if obj["kind"] == "Deployment")
    objects[bad] = copy.deepcopy(objects[bad])
    objects[bad]["spec"]["template"]["spec"]["containers"][0]["args"] = ["--port", 5000]
    found = validate.errors_kind_by_kind(objects)
    assert found == [validate.object_errors(obj) for obj in objects]
    assert [index for index, errors in enumerate(found) if errors] == [bad]
