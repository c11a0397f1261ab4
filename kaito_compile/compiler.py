"""The pipeline driver: load → validate → plan → emit → write, one stage after another.

Stages never call back into earlier ones; this module is the only place that knows their order.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .config import ConfigResolver, ProjectConfig
from .diagnostics import Diagnostic, Report, SpecError, ToolError
from .rules import Validated, validate_workspace
from .rules.workspace import R4
from .source import decode_source, load_paths, parse_documents
from .spec import ParsedWorkspace, parse_document

R4_MESSAGE = "Workspace {ns}/{name} is defined twice (first in {first})"


class Catalogs:
    """One loaded catalog per project config (configs may add project-local catalogs)."""

    def __init__(self) -> None:
        self._loaded: dict[int, object] = {}

    def for_config(self, config: ProjectConfig):
        from .catalog import load_catalog

        if id(config) not in self._loaded:
            self._loaded[id(config)] = load_catalog(config)
        return self._loaded[id(config)]


def load_and_validate(paths: list[str], configs: ConfigResolver, catalogs: Catalogs, *,
                      against: str | None = None) -> tuple[Report, list[Validated]]:
    report = Report()
    valid: list[Validated] = []
    seen: dict[tuple[str, str], str] = {}
    for file, docs, problems in load_paths(paths):
        report.files_checked.add(file)
        report.extend(problems)
        config = configs.for_file(file)
        catalog = catalogs.for_config(config)
        old_workspaces = _workspaces_at(file, against, config) if against else {}
        for doc in docs:
            ws, problems = parse_document(doc, byo=not config.node_auto_provisioning)
            report.extend(problems)
            if ws is None:
                continue
            report.workspaces_checked += 1
            namespace = ws.spec.metadata.namespace or config.defaultNamespace
            key = (namespace, ws.name)
            diags, facts = validate_workspace(ws, config, catalog, old=old_workspaces.get(key))
            if key in seen and ws.name:
                diags.append(Diagnostic(R4, R4_MESSAGE.format(ns=namespace, name=ws.name, first=seen[key]),
                                        span=ws.doc.span(("metadata", "name"))))
            seen.setdefault(key, f"{file}:{ws.doc.span(('metadata', 'name')).line}")
            report.extend(diags)
            if not any(d.severity.value == "error" for d in diags):
                valid.append(Validated(ws, namespace, config, catalog, facts))
    return report, valid


def _workspaces_at(file: str, revision: str, config: ProjectConfig) -> dict[tuple[str, str], ParsedWorkspace]:
    """The Workspaces ``file`` held at git ``revision`` (none when the file did not exist then)."""
    raw = read_at_revision(file, revision)
    if raw is None:
        return {}
    text, problems = decode_source(raw, f"{revision}:{file}")
    if text is None:
        return {}
    docs, _ = parse_documents(text, f"{revision}:{file}")
    found = {}
    for doc in docs:
        ws, _ = parse_document(doc, byo=not config.node_auto_provisioning)
        if ws is not None and ws.name:
            found[(ws.spec.metadata.namespace or config.defaultNamespace, ws.name)] = ws
    return found


def read_at_revision(file: str, revision: str) -> bytes | None:
    path = Path(file).resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path.parent, capture_output=True,
                             text=True, check=True).stdout.strip()
        subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=top,
                       capture_output=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        raise ToolError(f"--against {revision}: not a git revision of the repository holding {file}",
                        code="KC-E003") from exc
    relative = path.relative_to(Path(top).resolve()).as_posix()
    shown = subprocess.run(["git", "show", f"{revision}:{relative}"], cwd=top, capture_output=True)
    return shown.stdout if shown.returncode == 0 else None


def compile_paths(paths: list[str], configs: ConfigResolver, catalogs: Catalogs) -> tuple[Report, dict[str, bytes]]:
    """Everything up to the rendered tree, in memory: nothing is written here."""
    from . import __version__
    from .emit import Emitter
    from .output import WorkspaceOutput, render_tree
    from .plan import build_plan

    report, valid = load_and_validate(paths, configs, catalogs)
    if report.errors:
        return report, {}
    emitter = Emitter()
    outputs = []
    for item in valid:
        try:
            plan = build_plan(item)
        except SpecError as exc:
            report.extend(exc.diagnostics)
            continue
        objects = emitter.emit(plan, nvme_storage_class=item.config.nvmeStorageClass,
                               node_class_group=item.config.karpenter.nodeClassGroup,
                               node_class_kind=item.config.karpenter.nodeClassKind)
        outputs.append(WorkspaceOutput(plan.namespace, plan.workspace, _posix(plan.source_file), plan.source_hash,
                                       objects))
    if report.errors:
        return report, {}
    return report, render_tree(outputs, tool_version=__version__)


def plan_paths(paths: list[str], configs: ConfigResolver, catalogs: Catalogs):
    """Validated workspaces with their plans (for ``plan``)."""
    from .plan import build_plan

    report, valid = load_and_validate(paths, configs, catalogs)
    plans = []
    for item in valid:
        try:
            plans.append(build_plan(item))
        except SpecError as exc:
            report.extend(exc.diagnostics)
    return report, plans


def _posix(file: str) -> str:
    """The source path as written into file headers: relative to the working directory, posix."""
    if file == "<stdin>":
        return "stdin"
    return Path(os.path.relpath(file)).as_posix() if Path(file).is_absolute() else Path(file).as_posix()
