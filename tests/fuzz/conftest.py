"""Tallies of what the fuzzer drew, printed at the end of the run (the README's Reliability figures)."""

from __future__ import annotations

import time
from collections import Counter

_outcomes: Counter = Counter()
_codes: Counter = Counter()
_started = time.monotonic()


def record(report) -> None:
    """Count one compiled example: accepted, or refused with these error codes."""
    codes = {d.code for d in report.errors}
    _outcomes["refused" if codes else "accepted"] += 1
    _codes.update(codes)


def pytest_terminal_summary(terminalreporter) -> None:
    total = sum(_outcomes.values())
    if not total:
        return
    top = ", ".join(f"{code} {count}" for code, count in _codes.most_common(12))
    terminalreporter.write_line(
        f"fuzz: {total} Workspaces compiled in {time.monotonic() - _started:.0f} s: {_outcomes['accepted']} accepted "
        f"(schema-checked), {_outcomes['refused']} refused; most frequent error codes: {top}")
