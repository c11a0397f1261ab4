"""Generate docs/rules.md from the rule table (``make docs``); a test keeps it fresh."""

from __future__ import annotations

from pathlib import Path

from .rules import RULES

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"

OTHER_CODES = [
    ("KC-Y001", "YAML syntax error"), ("KC-Y002", "duplicate key"),
    ("KC-Y003", "document too large or too deep (alias bombs)"), ("KC-Y004", "not UTF-8 text / binary file"),
    ("KC-Y005", "file larger than the limit"), ("KC-S001", "unknown field (with a \"did you mean\" hint)"),
    ("KC-S002", "missing required field"), ("KC-S003", "wrong type"), ("KC-S004", "invalid value"),
    ("KC-S005", "project config refers to a missing file"), ("KC-S010", "unsupported apiVersion / not a Workspace"),
    ("KC-N001", "note: document ignored (not a kaito.sh Workspace)"),
    ("KC-N002", "note: kaito.sh object other than Workspace ignored"),
    ("KC-N003", "warning: a file with no YAML documents (empty, or comments only)"),
    ("KC-E001…E010", "tool errors (exit code 2): unreadable paths, bad git revisions, output directory problems, "
                     "registry errors (KC-E005)"),
]


def render() -> str:
    lines = [
        "# Rule codes",
        "",
        "Generated from `kaito_compile/rules` by `make docs`; do not edit by hand.",
        "Every code has a negative example under `tests/cases/invalid/`.",
        "",
        "| Code | Family | Rule | Kaito's meaning |",
        "|---|---|---|---|",
    ]
    for info in sorted(RULES.values(), key=lambda r: _order(r.code)):
        lines.append(f"| `{info.code}` | {info.family} | {info.title} | {info.kaito.replace('|', '/')} |")
    lines += ["", "## Input and tool codes", "", "| Code | Meaning |", "|---|---|"]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in OTHER_CODES]
    return "\n".join(lines) + "\n"


def _order(code: str) -> tuple:
    family = code[3:].rstrip("0123456789")
    number = code[3 + len(family):]
    return ("RCVIAPTU".find(family[0]) if family else 99, family, int(number or 0))


def main() -> None:
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(DOC.parent.parent)}")


if __name__ == "__main__":
    main()
