"""Compiler ↔ runtime: every command the compiler emits is accepted by the runtime's own parser.

A flag renamed on one side breaks this test, not a pod (docs/runtime-contract.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out"

PARSERS = {
    ("python3", "-m", "kaito_runtime.inference"): "kaito_runtime.inference.cli",
    ("python3", "-m", "kaito_runtime.tuning"): "kaito_runtime.tuning.cli",
    ("python3", "-m", "kaito_runtime.fetch"): "kaito_runtime.fetch",
    ("python3", "-m", "kaito_runtime.artifact", "pull"): "kaito_runtime.artifact",
    ("python3", "-m", "kaito_runtime.artifact", "push"): "kaito_runtime.artifact",
}


def _containers():
    for path in sorted(OUT.rglob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        if obj.get("kind") not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield f"{path.relative_to(OUT)}:{container['name']}", container


OUR_CONTAINERS = [(where, c) for where, c in _containers() if tuple(c.get("command", ())[:3]) in
                  {k[:3] for k in PARSERS}]


def test_examples_exercise_every_runtime_entry_point():
    used = {tuple(c["command"]) for _, c in OUR_CONTAINERS}
    assert used == set(PARSERS)


@pytest.mark.parametrize("where,container", OUR_CONTAINERS, ids=[w for w, _ in OUR_CONTAINERS])
def test_runtime_parser_accepts_the_emitted_arguments(where, container):
    command = tuple(container["command"])
    module = importlib.import_module(PARSERS[command])
    parser = module.build_parser()
    argv = list(command[3:]) + list(container.get("args", []))
    parsed = parser.parse_args(argv)  # argparse exits (SystemExit) on an unknown or malformed flag
    assert parsed is not None


def test_runtime_parsers_reject_unknown_flags():
    parser = importlib.import_module("kaito_runtime.inference.cli").build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--model=x", "--no-such-flag=1"])
