"""runtime/Dockerfile.tuning keeps its promises (no Docker engine on CI, so its text is checked)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "runtime" / "Dockerfile.tuning"


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_base_images_are_pinned_to_an_exact_version(instructions) -> None:
    args = dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)
    images = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], arg.split()[0])
              for op, arg in instructions if op == "FROM" and arg.split()[0] != "scratch"]
    assert len(images) == 2
    for image in images:
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and re.fullmatch(r"\d+\.\d+\.\d+[\w.-]*", tag), image


def test_the_image_runs_as_a_non_root_user(instructions) -> None:
    """Its HOME and HF_HOME: tests/runtime/test_images.py."""
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    users = [arg for op, arg in final_stage if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_entrypoint_is_the_contract_command_with_torch_installed(instructions) -> None:
    assert [json.loads(arg) for op, arg in instructions if op == "ENTRYPOINT"] == [
        ["python3", "-m", "kaito_runtime.tuning"]
    ]
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert '"torch==2.13.0"' in runs  # the extra it installs: tests/runtime/test_images.py
