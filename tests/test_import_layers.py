"""The pipeline's modules import one way: no subcommand CLI imports the top-level ``cli.py`` (they share
``cli_support``), and the rule modules have no import loop (``facts`` and ``resource`` share ``labels``).
Imports inside functions count: a deferred import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kaito_compile"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every module of the package → the package modules it imports (anywhere in its body)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets.add(base)
                targets |= {f"{base}.{alias.name}" for alias in node.names}
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        found[name] = {target for target in targets if target.startswith("kaito_compile")}
    modules = set(found)
    return {name: {target for target in targets if target in modules and target != name}
            for name, targets in found.items()}


def test_nothing_imports_the_top_level_cli():
    importers = sorted(name for name, targets in imports().items() if "kaito_compile.cli" in targets)
    assert importers == []


def test_the_rule_modules_have_no_import_loop():
    graph = {name: {t for t in targets if t.startswith("kaito_compile.rules.")}
             for name, targets in imports().items() if name.startswith("kaito_compile.rules.")}
    visiting, done, loops = set(), set(), []

    def visit(node: str, trail: list[str]) -> None:
        if node in done:
            return
        if node in visiting:
            loops.append(trail[trail.index(node):] + [node])
            return
        visiting.add(node)
        for target in sorted(graph.get(node, ())):
            visit(target, [*trail, node])
        visiting.discard(node)
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert loops == []
