"""Diagnostics: what every stage reports, and how the CLI prints it.

A diagnostic carries a stable code (``KC-I15``), a severity, a message and, when it concerns a
spot in a file, a :class:`Span`. Rendering follows mypy/yamllint conventions:
``file:line:col: error: message [code]`` followed by the source line and a caret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Span:
    """A 1-based position in a source file; ``length`` is how many characters to underline."""

    file: str
    line: int
    col: int
    length: int = 1
    source_line: str | None = None


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    severity: Severity = Severity.ERROR
    span: Span | None = None
    file: str | None = None
    hints: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def where(self) -> str | None:
        return self.span.file if self.span else self.file

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "severity": self.severity.value, "message": self.message}
        if self.where:
            out["file"] = self.where
        if self.span:
            out["line"], out["column"] = self.span.line, self.span.col
        if self.hints:
            out["hints"] = list(self.hints)
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class ToolError(Exception):
    """A failure of the tool or its environment, not of the user's specs (exit code 2)."""

    def __init__(self, message: str, code: str = "KC-E001"):
        super().__init__(message)
        self.code = code


class SpecError(Exception):
    """Raised by a stage that cannot go on because of invalid input (exit code 1)."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


@dataclass
class Report:
    """Everything one CLI run found, plus what it checked (for the summary line)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files_checked: set[str] = field(default_factory=set)
    workspaces_checked: int = 0
    inference_sets_checked: int = 0

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic):
            s = d.span
            return (d.where or "", s.line if s else 0, s.col if s else 0, d.code)

        return sorted(self.diagnostics, key=key)

    def summary(self) -> str:
        errors = self.errors
        files_with_errors = {d.where for d in errors if d.where}
        checked = f"checked {self.workspaces_checked} workspace{'s' if self.workspaces_checked != 1 else ''}"
        if self.inference_sets_checked:
            n = self.inference_sets_checked
            checked += f", {n} InferenceSet{'s' if n != 1 else ''}"
        if not errors:
            n = len(self.files_checked)
            return f"Success: no issues found in {n} file{'s' if n != 1 else ''} ({checked})"
        ne, nf = len(errors), len(files_with_errors)
        return (
            f"Found {ne} error{'s' if ne != 1 else ''} in {nf} file{'s' if nf != 1 else ''} ({checked})"
        )


def render_text(diag: Diagnostic, *, show_source: bool = True) -> str:
    head = f"{diag.severity.value}: {diag.message} [{diag.code}]"
    if diag.span:
        s = diag.span
        head = f"{s.file}:{s.line}:{s.col}: {head}"
    elif diag.file:
        head = f"{diag.file}: {head}"
    lines = [head]
    if show_source and diag.span and diag.span.source_line is not None:
        s = diag.span
        gutter = str(s.line)
        source, col, length = _window(s.source_line, s.col - 1, max(1, s.length))
        lines.append(f"  {gutter} | {source}")
        lines.append(f"  {' ' * len(gutter)} | {' ' * col}{'^' * length}")
    lines.extend(f"  hint: {h}" for h in diag.hints)
    lines.extend(f"  note: {n}" for n in diag.notes)
    return "\n".join(lines)


SOURCE_WIDTH = 100


def _window(line: str, col: int, length: int) -> tuple[str, int, int]:
    """At most SOURCE_WIDTH characters of a long source line around the caret, elided with "…"."""
    if len(line) <= SOURCE_WIDTH:
        return line, col, length
    start = max(0, min(col - SOURCE_WIDTH // 3, len(line) - SOURCE_WIDTH))
    shown = line[start:start + SOURCE_WIDTH]
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + SOURCE_WIDTH < len(line) else ""
    caret_col = col - start + len(prefix)
    return prefix + shown + suffix, caret_col, max(1, min(length, SOURCE_WIDTH - (col - start)))


def _github_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """Workflow-command property values also escape ``:`` and ``,`` (GitHub's toolkit rules)."""
    return _github_escape(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diag: Diagnostic) -> str:
    level = {"error": "error", "warning": "warning", "note": "notice"}[diag.severity.value]
    props = []
    if diag.where:
        props.append(f"file={_github_property(diag.where)}")
    if diag.span:
        props.append(f"line={diag.span.line}")
        props.append(f"col={diag.span.col}")
    props.append(f"title={diag.code}")
    message = diag.message + "".join(f"\nhint: {h}" for h in diag.hints)
    return f"::{level} {','.join(props)}::{_github_escape(message)}"


def render_json(report: Report) -> str:
    payload = {
        "diagnostics": [d.to_json() for d in report.sorted()],
        "summary": {
            "errors": len(report.errors),
            "warnings": sum(d.severity is Severity.WARNING for d in report.diagnostics),
            "files": len(report.files_checked),
            "workspaces": report.workspaces_checked,
            **({"inferenceSets": report.inference_sets_checked} if report.inference_sets_checked else {}),
        },
    }
    return json.dumps(payload, indent=2, sort_keys=True)
