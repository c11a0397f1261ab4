"""How many threads torch may use: the container's CPU limit, not the node's core count.

torch sizes its intra-op pool from the cores it sees, and a container limited to 2 CPUs on a 64-core node sees
64: the threads then spin against the CFS quota and generation slows several-fold (measured: 48 streamed tokens
took 0.7-3.5 s with the default, 0.17-0.26 s with one thread, on a loaded 2-core machine).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``), ``None`` when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def default_thread_count(root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may run on (affinity), capped by the cgroup quota rounded down, at least 1."""
    count = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        count = min(count, int(limit))
    return max(1, count)


def apply_thread_limit(requested: int | None) -> int:
    """Set ``OMP_NUM_THREADS`` before torch is imported: ``--threads``, else an inherited ``OMP_NUM_THREADS``,
    else the smaller of ``KAITO_CPU_LIMIT`` (the compiled Deployment's limits.cpu) and what the cgroup and CPU
    affinity allow. Returns the count; ``torch.set_num_threads`` is called with it at load time."""
    if requested is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        requested = max(1, int(os.environ["OMP_NUM_THREADS"]))
    count = requested if requested is not None else default_thread_count()
    if requested is None and os.environ.get("KAITO_CPU_LIMIT", "").isdigit():
        count = max(1, min(count, int(os.environ["KAITO_CPU_LIMIT"])))
    os.environ["OMP_NUM_THREADS"] = str(count)
    log.info("torch threads: %d", count)
    return count
