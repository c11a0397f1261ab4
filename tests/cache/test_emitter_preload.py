"""An incremental build with a few changed specs imports the emitter (cdk8s, node loading its assemblies) in a
thread while it validates them; a cold build does not; either way the tree is the one an uncached build makes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kaito_compile import compiler

from .conftest import workspace, write_yaml


@pytest.fixture
def preloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads the emitter preload ran in."""
    ran: list[str] = []
    preload = compiler._import_emitter

    def recorded() -> None:
        ran.append(threading.current_thread().name)
        preload()

    monkeypatch.setattr(compiler, "_import_emitter", recorded)
    return ran


def test_an_edit_preloads_the_emitter_and_builds_what_an_uncached_build_does(compile_repo, repo: Path,
                                                                              preloads: list[str]):
    compile_repo()
    preloads.clear()
    write_yaml(repo / "vllm" / "phi.yaml", workspace("phi", "phi-3-mini-4k-instruct",
                                                     labels={"apps": "phi", "tier": "gold"}))
    edited = compile_repo()
    assert preloads == ["kaito-compile emitter preload"]
    assert edited.emitted == ["team/phi"] and edited.tree == compile_repo(cache=False).tree
    assert not any(thread.name == preloads[0] for thread in threading.enumerate())  # joined, not left running


def test_a_cold_build_and_a_warm_one_do_not_preload(compile_repo, monkeypatch: pytest.MonkeyPatch,
                                                     preloads: list[str]):
    monkeypatch.setattr(compiler, "PRELOAD_MAX_SPECS", 3)  # the repository has seven spec files
    compile_repo()
    compile_repo()
    assert preloads == []
