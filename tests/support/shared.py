"""The shared reference data beside the checkout (``<project root>/../shared``), which CI provides and a bare
clone may lack. Suites that need it skip with :func:`requires_shared`, and tests/conftest.py prints one loud
summary line naming every suite that did not run for lack of it."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
SKIP_PREFIX = "needs ../shared:"


def requires_shared(path: Path, what: str) -> pytest.MarkDecorator:
    """Skip unless ``path`` (under :data:`SHARED`) is a directory; the reason names it."""
    return pytest.mark.skipif(not path.is_dir(), reason=f"{SKIP_PREFIX} {what} ({path}) is absent")
