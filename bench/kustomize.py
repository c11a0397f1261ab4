"""``make bench``: ``kubectl kustomize`` of every workspace directory of ``out/``, against a 0.2 s budget each.

    .venv/bin/python bench/kustomize.py

Each ``out/<namespace>/<workspace>/`` is one small kustomization that Argo CD or Flux builds on its own
(docs/gitops.md). This measures the real ``kubectl kustomize`` on each, as medians of a few runs after a warm-up,
wall-clock and CPU (user + system) time, beside kubectl's start-up alone (``kubectl version --client``), which is
most of it, and prints a table with the budget and the load average. That every directory builds, and to what, is
tested in tests/gitops/test_engines.py.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kaito_compile.gitops.layout import workspace_dirs  # noqa: E402
from tests.support import kube  # noqa: E402

BUDGET_S = 0.2
RUNS = 5


@dataclass(frozen=True)
class Timing:
    wall: float  # median seconds
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall * 1000:.0f} ms wall, {self.cpu * 1000:.0f} ms CPU"


def median_timing(command: list[str]) -> Timing:
    subprocess.run(command, capture_output=True, check=True)  # warm-up: page cache, first exec
    wall, cpu = [], []
    for _ in range(RUNS):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall.append(time.perf_counter() - start)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return Timing(statistics.median(wall), statistics.median(cpu))


def main() -> None:
    kubectl = kube.kubectl_path()
    load = os.getloadavg()[0]
    startup = median_timing([kubectl, "version", "--client"])
    builds = {d: median_timing([kubectl, "kustomize", str(REPO / "out" / d)]) for d in workspace_dirs(REPO / "out")}
    print(f"### `kubectl kustomize` of each workspace directory of out/ (median of {RUNS} runs; budget "
          f"{BUDGET_S * 1000:.0f} ms)\n")
    print("| Directory | Wall | CPU | Within budget |\n|---|---:|---:|:-:|")
    print(f"| (kubectl start-up alone) | {startup.wall * 1000:.0f} ms | {startup.cpu * 1000:.0f} ms | |")
    for directory, timing in builds.items():
        met = "yes" if timing.wall < BUDGET_S and timing.cpu < BUDGET_S else "**no**"
        print(f"| `{directory}` | {timing.wall * 1000:.0f} ms | {timing.cpu * 1000:.0f} ms | {met} |")
    print(f"\nLoad average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end, on "
          f"{len(os.sched_getaffinity(0))} CPUs.")


if __name__ == "__main__":
    main()
