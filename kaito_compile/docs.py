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
    ("KC-S005", "project config names a file it may not use: missing, outside the config's directory, not a "
                "regular file, too large, not UTF-8, or (for catalogs) not *.yaml; the diagnostic never quotes it"),
    ("KC-S006", "project config ConfigMap Kubernetes would refuse: a key outside [-._a-zA-Z0-9]+ (or '.', '..'), "
                "a key in both data and files, more than 1 MiB of keys and values"),
    ("KC-S010", "unsupported apiVersion / not a Workspace"),
    ("KC-S020", "the compiled object would be rejected by the strict Kubernetes or CRD schema (`build`, `check`)"),
    ("KC-N001", "note: document ignored (not a kaito.sh Workspace)"),
    ("KC-N002", "note: kaito.sh object other than Workspace ignored"),
    ("KC-N003", "warning: a file with no YAML documents (empty, or comments only)"),
    ("KC-N004", "warning: the build cache (or some of its entries) was ignored and rebuilt: not this user's own "
                "file, another format or key, forged or damaged"),
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
