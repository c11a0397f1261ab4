"""Suite-wide hooks: a loud summary of the conformance suites that skipped for lack of ``../shared``."""

from __future__ import annotations

from tests.support.shared import SHARED, SKIP_PREFIX


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """One line a reader cannot miss when tests did not run because ``../shared`` is absent: a green run
    without it checked less than it seems to."""
    skipped = [report for report in terminalreporter.stats.get("skipped", [])
               if SKIP_PREFIX in _reason(report)]
    if not skipped:
        return
    files = sorted({report.nodeid.split("::", 1)[0] for report in skipped})
    terminalreporter.write_sep("!", f"CONFORMANCE NOT CHECKED: {len(skipped)} tests skipped, {SHARED} is absent",
                               red=True, bold=True)
    terminalreporter.write_line(f"  suites: {', '.join(files)}", red=True)


def _reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
