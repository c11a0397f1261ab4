"""The Workspace schema check answers with jsonschema-rs first and asks Python jsonschema for messages only when
it fails: both must give the same verdict on every case, example and hostile spec, and on seeded mutations."""

from __future__ import annotations

import copy
import json
import random
import warnings
from pathlib import Path

import pytest
import yaml

from kaito_compile.spec.schema import SCHEMA_FILES, fast_validator_for, validator_for

ROOT = Path(__file__).resolve().parents[1]


def documents() -> list:
    found = []
    for path in sorted([*ROOT.glob("tests/cases/**/*.yaml"), *ROOT.glob("examples/**/*.yaml")]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found += [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
        except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
            continue
    return found


def mutations(doc: dict, rng: random.Random, count: int) -> list:
    """``count`` copies of ``doc``, each with one value somewhere replaced by a value of another shape."""
    out = []
    for _ in range(count):
        mutated = copy.deepcopy(doc)
        parent, key = None, None
        node = mutated
        while isinstance(node, (dict, list)) and node and (parent is None or rng.random() < 0.7):
            parent, key = node, rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
            node = parent[key]
        if parent is not None:
            parent[key] = rng.choice([None, 0, -1, 1.5, True, "x", "", [], {}, {"bogus": 1}, ["a"], 10**12])
            out.append(mutated)
    return out


@pytest.mark.parametrize("api_version", sorted(SCHEMA_FILES))
def test_both_validators_give_the_same_verdict(api_version: str):
    checked, rejected = compare_verdicts(fast_validator_for(api_version), validator_for(api_version), documents(), 20)
    assert checked > 2000 and rejected > checked // 4


def test_the_project_config_verdicts_agree():
    """A project config is checked the same way (jsonschema-rs on the committed schema, Python jsonschema on the
    generated one for the messages): same verdict on every config of the repository and on seeded mutations."""
    from kaito_compile.config import _fast_config_validator, config_schema
    from kaito_compile.goregex import schema_validator

    configs = []
    for path in sorted(ROOT.glob("**/kaito-compile.yaml")):
        try:
            config = yaml.safe_load(path.read_text())
            if json.loads(json.dumps(config)) != config:
                continue  # a non-string key: jsonschema-rs cannot take it, Python jsonschema words it
        except (yaml.YAMLError, TypeError):  # tags, binary values, dates: the config loader refuses them before the
            continue  # schema (KC-S003)
        configs.append(config)
    checked, rejected = compare_verdicts(_fast_config_validator(), schema_validator(config_schema()),
                                         [c for c in configs if isinstance(c, dict)], 40)
    assert checked > 500 and rejected > checked // 4


def compare_verdicts(fast, reference, documents: list, mutants: int) -> tuple[int, int]:
    """Assert both validators agree on every document and ``mutants`` seeded mutations of each; how many
    candidates were checked, and how many of them rejected."""
    rng = random.Random(15)
    checked = rejected = 0
    for doc in documents:
        for candidate in [doc, *mutations(doc, rng, mutants)]:
            verdict = fast.is_valid(candidate)
            assert verdict == reference.is_valid(candidate), candidate
            checked += 1
            rejected += not verdict
    return checked, rejected
