"""torch's thread count follows the container's CPU limit, not the node's core count (issue #16)."""

from __future__ import annotations

import os

import pytest

from kaito_runtime.inference.threads import apply_thread_limit, cgroup_cpu_limit, default_thread_count

AFFINITY = len(os.sched_getaffinity(0))


def write(root, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(("files", "limit"), [
    ({"cpu.max": "150000 100000\n"}, 1.5),
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 3.0),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ({"cpu.max": "garbage"}, None),
    ({}, None),
])
def test_cgroup_quota_v2_then_v1(tmp_path, files, limit):
    for relative, text in files.items():
        write(tmp_path, relative, text)

    assert cgroup_cpu_limit(tmp_path) == limit


def test_the_quota_caps_the_affinity_and_rounds_down_to_at_least_one(tmp_path):
    write(tmp_path, "cpu.max", "50000 100000")
    assert default_thread_count(tmp_path) == 1
    write(tmp_path, "cpu.max", "max 100000")
    assert default_thread_count(tmp_path) == AFFINITY


def test_the_flag_beats_the_environment_which_beats_the_limits(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("KAITO_CPU_LIMIT", "1")
    assert apply_thread_limit(5) == 5 and os.environ["OMP_NUM_THREADS"] == "5"
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert apply_thread_limit(None) == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert apply_thread_limit(None) == 1  # the Deployment's limits.cpu
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("KAITO_CPU_LIMIT")
    assert apply_thread_limit(None) == default_thread_count()
