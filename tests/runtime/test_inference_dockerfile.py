"""runtime/Dockerfile.inference keeps its promises (no Docker engine on CI, so its text is checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "runtime" / "Dockerfile.inference"


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _build_args(instructions) -> dict[str, str]:
    return dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)


def test_every_base_image_is_pinned_to_a_version_not_latest(instructions):
    args = _build_args(instructions)
    images = [arg.split()[0] for op, arg in instructions if op == "FROM" and arg.split()[0] != "scratch"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image) for image in images]

    assert resolved
    for image in resolved:
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", image
        assert re.search(r"\d+\.\d+\.\d+", tag), f"{image}: pin an exact version"


def test_the_final_stage_runs_as_a_non_root_user(instructions):
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    users = [arg for op, arg in final_stage if op == "USER"]

    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_entrypoint_is_the_contract_command_and_torch_is_installed(instructions):
    entrypoint = [json.loads(arg) for op, arg in instructions if op == "ENTRYPOINT"]
    runs = " ".join(arg for op, arg in instructions if op == "RUN")

    assert entrypoint == [["python3", "-m", "kaito_runtime.inference"]]
    assert '"torch==2.13.0"' in runs  # the extra it installs: tests/runtime/test_images.py
    assert ("EXPOSE", "5000") in instructions
