"""The cyclic garbage collector's thresholds for a kaito-compile process: the CLI and the emit worker.

Python's defaults (700, 10, 10) suit long-running programs that free what they allocate. A kaito-compile process is
short and keeps most of what it allocates (cache entries, plans, rendered files; in the emit worker, jsii's proxy of
every object it created), so with the defaults the collector rescans a growing heap over and over. Measured on the
1,000-workspace bench (bench/PROFILE.md, round 4): 266 ms CPU of a one-edit build, 94 ms of it in one full
collection while planning the write (interleaved: an unchanged check 0.87 → 0.79 s CPU, a one-edit build 3.20 →
2.90 s); in the emit worker, 0.29–0.37 s of collections in 312 runs while emitting the 1,000 workspaces, 0.04 s
with these thresholds, at the same peak RSS (81 MB).
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)


def raise_thresholds() -> None:
    gc.set_threshold(*THRESHOLDS)
