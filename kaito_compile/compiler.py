"""The pipeline driver: load → validate → plan → emit → write, one stage after another.

Stages never call back into earlier ones; this module is the only place that knows their order.

``compile_paths`` can run against a :class:`~.cache.BuildCache`: a spec file whose bytes, project config and
catalogs are unchanged is not parsed, validated or planned again, and a workspace whose plan is unchanged is
not emitted or rendered again. Cached and fresh results go through the same assembly (the cross-file duplicate
check, the report, the tree), so a cached build is byte-identical to an uncached one.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .config_files import ConfigResolver
from .diagnostics import Diagnostic, Report, Severity, Span, SpecError, ToolError
from .source import Document, decode_source, discover, load_paths, parse_documents, read_source

if TYPE_CHECKING:  # the rules, the spec and config models are imported where used: a cached `check` needs none
    from .cache import BuildCache
    from .config import ProjectConfig
    from .emit.pipeline import Emitted
    from .rules import Validated
    from .spec import ParsedWorkspace
    from .spec.inferenceset import ParsedInferenceSet
    from .output import WorkspaceOutput
    from .output.validate import SchemaError
    from .plan import Plan
    from .plan.inferenceset import SetPlan, ValidatedSet

R4_MESSAGE = "{kind} {ns}/{name} is defined twice (first in {first})"
CHILD_NOTE = ("found in the Workspace each replica of InferenceSet {set} compiles to (Kaito's webhook validates that "
              "child too): its metadata is spec.template.metadata, its resource spec.template.resource and "
              "spec.labelSelector")
R5_MESSAGE = ("Workspace {ns}/{name} makes the cluster-scoped {object}, and so does {others}: cluster-scoped "
              "names must be unique across the compiled tree (rename one of the Workspaces)")
EMIT_BATCH = 100  # workspaces per cdk8s chart: one synthesis call each, a progress step each


class Catalogs:
    """One loaded catalog per project config (configs may add project-local catalogs)."""

    def __init__(self) -> None:
        self._loaded: dict[int, object] = {}

    def for_config(self, config: ProjectConfig, *, load: Callable[[ProjectConfig], object] | None = None):
        """The catalog of ``config``, loaded by ``load`` (default: :func:`~.catalog.load_catalog`) the first time."""
        if id(config) not in self._loaded:
            self._loaded[id(config)] = (load or _load_catalog)(config)
        return self._loaded[id(config)]


def _load_catalog(config: ProjectConfig):
    from .catalog import load_catalog

    return load_catalog(config)


class Progress(Protocol):
    """How a long compile reports progress (the CLI draws a bar on a terminal)."""

    def phase(self, description: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


@dataclass
class _Workspace:
    """One Workspace document after validation, before the cross-file duplicate check (R4)."""

    namespace: str
    name: str
    name_span: Span  # of metadata.name: where R4 points, and the "first in" of a later duplicate
    diagnostics: list[Diagnostic]
    validated: Validated | None = None  # fresh and without errors
    plan: Plan | None = None  # compile_paths: fresh and planned
    plan_diagnostics: list[Diagnostic] = field(default_factory=list)
    output_key: str | None = None  # compile_paths: cache key of its rendered files
    output: WorkspaceOutput | None = None  # compile_paths: its rendered files, once known
    kind: str = "Workspace"  # or InferenceSet: the set's own objects, its replicas are Workspace items
    set_validated: ValidatedSet | None = None  # an InferenceSet without errors
    children: list[_Workspace] = field(default_factory=list)  # an InferenceSet's replicas
    set_plan: SetPlan | None = None
    in_set: bool = False  # a replica: planned with its set
    cluster_names: tuple[str, ...] = ()  # "<Kind> <name>" of its cluster-scoped objects known at validation (R5)
    rejections: list[Diagnostic] = field(default_factory=list)  # its emitted objects the strict schemas refuse

    @property
    def ok(self) -> bool:
        return not _has_errors(self.diagnostics)

    @property
    def planned(self) -> bool:
        return self.plan is not None or self.output is not None


@dataclass
class _SpecFile:
    """What loading and validating one spec file found: file problems, then per document its problems and
    its Workspace (None for documents that are not one)."""

    file: str
    problems: list[Diagnostic]
    documents: list[tuple[list[Diagnostic], _Workspace | None]]

    def workspaces(self) -> list[_Workspace]:
        return [item for _, item in self.documents if item is not None]


def load_and_validate(paths: list[str], configs: ConfigResolver, catalogs: Catalogs, *,
                      against: str | None = None) -> tuple[Report, list[Validated]]:
    specs = []
    for file, docs, problems in load_paths(paths):
        config = configs.for_file(file)
        catalog = catalogs.for_config(config)
        old_workspaces = _workspaces_at(file, against, config) if against else {}
        spec = _validate_file(file, docs, problems, config, catalog, old_workspaces)
        for item in spec.workspaces():
            if item.set_validated is not None:
                plan_inference_set(item)
                item.diagnostics += item.plan_diagnostics  # a set's checks against its plan (nodes, autoscaling)
        specs.append(spec)
    report = Report()
    valid = _collect(specs, report)
    return report, [item.validated for item in valid if item.validated is not None]


def _validate_file(file: str, docs: list[Document], problems: list[Diagnostic], config: ProjectConfig, catalog,
                   old_workspaces: dict[tuple[str, str], ParsedWorkspace]) -> _SpecFile:
    from .rules import Validated, validate_workspace
    from .spec import parse_document
    from .spec.inferenceset import is_inference_set

    documents: list[tuple[list[Diagnostic], _Workspace | None]] = []
    if not problems and all(doc.data is None for doc in docs):
        problems = [Diagnostic("KC-N003", "file holds no YAML documents (empty, or comments only)", Severity.WARNING,
                               file=file)]
    for doc in docs:
        if is_inference_set(doc):
            documents += _validate_set_document(doc, config, catalog, old_workspaces)
            continue
        ws, doc_problems = parse_document(doc, byo=not config.node_auto_provisioning)
        if ws is None:
            documents.append((doc_problems, None))
            continue
        namespace = ws.spec.metadata.namespace or config.defaultNamespace
        diags, facts = validate_workspace(ws, config, catalog, old=old_workspaces.get((namespace, ws.name)))
        item = _Workspace(namespace, ws.name, ws.doc.span(("metadata", "name")), diags,
                          cluster_names=_cluster_names(namespace, ws.name, config))
        if item.ok:
            item.validated = Validated(ws, namespace, config, catalog, facts)
        documents.append((doc_problems, item))
    return _SpecFile(file, list(problems), documents)


def _validate_set_document(doc: Document, config: ProjectConfig, catalog, old_workspaces: dict
                           ) -> list[tuple[list[Diagnostic], _Workspace | None]]:
    """An InferenceSet document: the set's own findings, then one Workspace item per replica it compiles to.

    Every replica is validated by the Workspace rules (Kaito's webhook validates the child it would create); the
    replicas differ only in their names, so a finding shared by several replicas is reported once, on the set."""
    from .plan.inferenceset import ValidatedSet, child_count
    from .rules import Validated, validate_workspace
    from .rules.inferenceset import validate_inference_set
    from .spec import parse_document
    from .spec.inferenceset import parse_inference_set, project_child

    iset, problems = parse_inference_set(doc)
    if iset is None:
        return [(problems, None)]
    namespace = iset.model.metadata.namespace or config.defaultNamespace
    found = validate_inference_set(iset, config, old=old_workspaces.get(("InferenceSet", namespace, iset.name)))
    item = _Workspace(namespace, iset.name, doc.span(("metadata", "name")), found.diagnostics, kind="InferenceSet")
    if not item.ok:
        return [(problems, item)]
    byo = not config.node_auto_provisioning
    validated_set = ValidatedSet(iset, namespace, config, found.autoscaling)
    children, seen = [], {(d.code, d.span and d.span.line, d.span and d.span.col) for d in item.diagnostics}
    count = child_count(validated_set)
    for index in range(max(1, count)):  # Kaito validates the child it would create even at replicas: 0
        ws, child_problems = parse_document(project_child(iset, index, byo=byo), byo=byo)
        diags = child_problems
        if ws is not None:
            diags, facts = validate_workspace(ws, config, catalog)
            if index < count:
                children.append(_Workspace(namespace, ws.name, item.name_span, [], in_set=True,
                                           validated=Validated(ws, namespace, config, catalog, facts),
                                           cluster_names=_cluster_names(namespace, ws.name, config)))
        for diag in diags:
            if (key := (diag.code, diag.span and diag.span.line, diag.span and diag.span.col)) not in seen:
                seen.add(key)
                item.diagnostics.append(dataclasses.replace(diag, notes=(*diag.notes, CHILD_NOTE.format(
                    set=iset.name))))
    if not item.ok:
        return [(problems, item)]
    item.set_validated, item.children = validated_set, children
    return [(problems, item), *(([], child) for child in children)]


def _collect(specs: Iterable[_SpecFile], report: Report) -> list[_Workspace]:
    """Fill ``report`` with what ``specs`` found plus the checks across files (R4 duplicates, R5 cluster-scoped
    names); the Workspaces without errors."""
    checked: list[tuple[_Workspace, list[Diagnostic]]] = []
    seen: dict[tuple[str, str], str] = {}
    duplicate_set = False
    for spec in specs:
        report.files_checked.add(spec.file)
        report.extend(spec.problems)
        for problems, item in spec.documents:
            report.extend(problems)
            if item is None:
                continue
            report.workspaces_checked += item.kind == "Workspace"
            report.inference_sets_checked += item.kind == "InferenceSet"
            key = (item.namespace, item.name)
            diags = list(item.diagnostics)
            if not item.in_set:  # a set's replicas follow it: a set defined twice is said once, on the set
                duplicate_set = item.kind == "InferenceSet" and key in seen
            if key in seen and item.name and not (item.in_set and duplicate_set):
                from .rules.workspace import R4

                diags.append(Diagnostic(R4, R4_MESSAGE.format(kind=item.kind, ns=item.namespace, name=item.name,
                                                              first=seen[key]), span=item.name_span))
            seen.setdefault(key, f"{spec.file}:{item.name_span.line}")
            checked.append((item, diags))
    _cluster_name_collisions(checked)
    valid: list[_Workspace] = []
    for item, diags in checked:
        report.extend(diags)
        if not _has_errors(diags):
            valid.append(item)
    return valid


def _cluster_names(namespace: str, name: str, config: ProjectConfig) -> tuple[str, ...]:
    """The cluster-scoped objects a Workspace's name alone decides: the karpenter provisioner's NodePool
    ``<ns>-<ws>``, which ``team-a/coder`` and ``team/a-coder`` share. (NodeClaim and Machine names hash the
    namespace, name, instance type and index; ``_compile`` checks those on the rendered files.)"""
    from .plan.names import node_pool_name

    return (f"NodePool {node_pool_name(namespace, name)}",) if config.provisioner == "karpenter" and name else ()


def _cluster_name_collisions(checked: list[tuple[_Workspace, list[Diagnostic]]]) -> None:
    """R5 on every Workspace whose cluster-scoped object another Workspace of the tree also makes: applied
    together, one would silently replace the other's nodes."""
    owners: dict[str, list[_Workspace]] = {}
    for item, _ in checked:
        for object_name in item.cluster_names:
            owners.setdefault(object_name, [])
            if all((other.namespace, other.name) != (item.namespace, item.name) for other in owners[object_name]):
                owners[object_name].append(item)
    for item, diags in checked:
        for object_name in item.cluster_names:
            others = [other for other in owners[object_name] if other is not item]
            if others:
                from .rules.workspace import R5  # only now: a cached run imports no rules

                diags.append(Diagnostic(R5, R5_MESSAGE.format(
                    object=object_name, ns=item.namespace, name=item.name,
                    others=", ".join(f"{o.namespace}/{o.name} ({o.name_span.file}:{o.name_span.line})"
                                     for o in others)), span=item.name_span))


def _has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


def _workspaces_at(file: str, revision: str, config: ProjectConfig
                   ) -> dict[tuple[str, ...], ParsedWorkspace | ParsedInferenceSet]:
    """The Workspaces ``file`` held at git ``revision`` by (namespace, name), and its InferenceSets by
    ("InferenceSet", namespace, name) (none when the file did not exist then)."""
    from .spec import parse_document
    from .spec.inferenceset import is_inference_set, parse_inference_set

    raw = read_at_revision(file, revision)
    if raw is None:
        return {}
    text, problems = decode_source(raw, f"{revision}:{file}")
    if text is None:
        return {}
    docs, _ = parse_documents(text, f"{revision}:{file}")
    found = {}
    for doc in docs:
        if is_inference_set(doc):
            iset, _ = parse_inference_set(doc)
            if iset is not None and iset.name:
                found[("InferenceSet", iset.model.metadata.namespace or config.defaultNamespace, iset.name)] = iset
            continue
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


def compile_paths(paths: list[str], configs: ConfigResolver, catalogs: Catalogs, *, cache: BuildCache | None = None,
                  progress: Progress | None = None) -> tuple[Report, dict[str, bytes]]:
    """Everything up to the rendered tree, in memory: nothing is written here (except the ``cache``)."""
    report, complete = Report(), False
    run = _CompileRun(configs, catalogs, cache, progress)
    try:
        tree = _compile(paths, run, report)
        complete = not report.errors
    finally:
        run.stop_emitting()
        if cache is not None:  # a complete run used every entry its inputs need: the others can go
            cache.save(keep_unused=not complete)
    if cache is not None:
        report.extend(cache_warnings(cache))
    return report, tree


def cache_warnings(cache: BuildCache) -> list[Diagnostic]:
    """Why this run ignored (part of) the build cache: a planted, foreign or damaged cache is said, not trusted."""
    from .cache import IGNORED_CODE

    return [Diagnostic(IGNORED_CODE, warning, Severity.WARNING, file=str(cache.path)) for warning in cache.warnings]


def _compile(paths: list[str], run: _CompileRun, report: Report) -> dict[str, bytes]:
    from . import __version__
    from .output import render_tree

    valid = _collect(run.spec_files(discover(paths)), report)
    if report.errors:
        return {}
    for item in valid:
        report.extend(item.plan_diagnostics)
    if report.errors:
        return {}
    outputs = run.outputs(valid, report)
    if report.errors:  # an emitted object the schemas refuse (KC-S020): nothing rendered to compare
        return {}
    report.extend(_rendered_name_collisions([item for item in valid if item.planned and item.output is not None]))
    if report.errors:
        return {}
    return render_tree(outputs, tool_version=__version__)


CLUSTER_SCOPED_FILES = {"nodeclaim": "NodeClaim", "machine": "Machine", "nodepool": "NodePool"}


def _rendered_name_collisions(planned: list[_Workspace]) -> list[Diagnostic]:
    """R5 over every cluster-scoped object the planned Workspaces render, read from their file names
    (``<kind>-<name>.yaml``): hashed NodeClaim and Machine names included."""
    checked = []
    for item in planned:
        output = item.output
        names = [(obj["kind"], obj["metadata"]["name"]) for obj in output.objects] if output.files is None else \
            [(CLUSTER_SCOPED_FILES.get(base.partition("-")[0], ""), base.partition("-")[2].removesuffix(".yaml"))
             for base in (path.rsplit("/", 1)[-1] for path in output.files)]
        rendered = {f"{kind} {name}" for kind, name in names if kind in CLUSTER_SCOPED_FILES.values()}
        if rendered:  # a Workspace without cluster-scoped objects collides with none
            checked.append((dataclasses.replace(item, cluster_names=tuple(sorted(rendered))), []))
    _cluster_name_collisions(checked)
    return [diagnostic for _, diags in checked for diagnostic in diags]


class _Pending(NamedTuple):
    """A spec file the cache does not hold: read, not yet parsed."""

    name: str
    raw: bytes
    key: str | None


class _CompileRun:
    """One ``compile_paths`` call: spec files and workspaces from the cache where it has them, fresh otherwise."""

    def __init__(self, configs: ConfigResolver, catalogs: Catalogs, cache: BuildCache | None,
                 progress: Progress | None):
        from .emit.pipeline import Emission

        self.configs, self.catalogs, self.cache, self.progress = configs, catalogs, cache, progress
        self._config_digests: dict[str | None, str] = {}
        self._sources_by_directory: dict[str, str | None] = {}
        self._emitter = Emission(EMIT_BATCH)
        self._emitting: list[_Workspace] = []  # submitted to the emitter, by key

    def spec_files(self, paths: list[str]) -> list[_SpecFile]:
        """Every spec file's findings, in ``paths`` order: first everything the cache holds, then the rest."""
        found: list[_SpecFile | _Pending] = []
        for path in paths:
            name, raw = read_source(path)
            key = self._spec_key(name, raw)
            found.append(self._cached_spec(name, key) or _Pending(name, raw, key))
        fresh = sum(1 for item in found if isinstance(item, _Pending))
        self._phase("Validating", fresh)
        self._emitter.expect(fresh)  # a spec file holds at least one workspace to emit, as a rule
        return [self._fresh_spec(item) if isinstance(item, _Pending) else item for item in found]

    def outputs(self, valid: list[_Workspace], report: Report) -> list[WorkspaceOutput]:
        """The rendered files of every planned workspace in ``valid``, waiting for the emitter where the cache
        lacked them; an emitted object the strict schemas reject is a diagnostic in ``report`` instead."""
        self._phase("Emitting", sum(1 for item in self._emitting if item.output is None and not item.rejections))
        for emitted in self._emitter.finish():
            self._take_emitted(emitted)
            self._advance(len(emitted))
        planned = [item for item in valid if item.planned]
        for item in planned:
            report.extend(item.rejections)
        return [item.output for item in planned if item.output is not None]

    def stop_emitting(self) -> None:
        """Stop the emission of a build that ended before it took every workspace (a spec error)."""
        self._emitter.cancel()

    # --- spec files -----------------------------------------------------------------------------------------

    def _config_source(self, name: str) -> str | None:
        """``configs.source_for_file`` once per directory (resolving a path costs a system call per component); a
        symlinked spec file is looked up itself, its config is the one beside its target."""
        if name == "<stdin>" or os.path.islink(name):
            return self.configs.source_for_file(name)
        directory = os.path.dirname(name)
        if directory not in self._sources_by_directory:
            self._sources_by_directory[directory] = self.configs.source_for_file(name)
        return self._sources_by_directory[directory]

    def _config_for(self, name: str) -> ProjectConfig:
        return self.configs.load(self._config_source(name))

    def _spec_key(self, name: str, raw: bytes) -> str | None:
        from .cache import spec_key

        if self.cache is None:
            return None
        source = self._config_source(name)
        if source not in self._config_digests:
            self._config_digests[source] = self._config_digest(source)
        return spec_key(name, _posix(name), raw, self._config_digests[source])

    def _config_digest(self, source: str | None) -> str:
        """The :func:`~.cache.config_digest` of the config at ``source``. The files it names come from the cache
        while its bytes are unchanged, so a run whose specs are all cached never loads a config (nor imports the
        config models); otherwise the config is loaded here, which reports an invalid one."""
        from .cache import catalog_key_for, config_digest, config_entry_key, config_references, valid_references

        raw = _config_bytes(source)
        entry = None if raw is None else config_entry_key(source, raw)
        references = {"files": [], "catalogs": []} if source is None else \
            None if entry is None else self.cache.get("config", entry)  # the defaults name no file
        if not valid_references(references):
            references = config_references(self.configs.load(source))
            if entry is not None and _config_bytes(source) == raw:  # not changed while it was loaded
                self.cache.put("config", entry, references)
        base = Path(source).parent if source else Path(".")
        # the next edit of a spec under this config needs its catalog
        self.cache.keep("catalog", catalog_key_for([base / rel for rel in references["catalogs"]]))
        return config_digest(source, raw, references)

    def _cached_spec(self, name: str, key: str | None) -> _SpecFile | None:
        """The findings stored for ``key``, when every workspace they name has its rendered files cached too."""
        if key is None or (payload := self.cache.get("spec", key)) is None:
            return None
        spec = _spec_from_payload(payload, name)
        if spec is None or not all(self._cached_output(item) for item in spec.workspaces() if item.output_key):
            return None
        return spec

    def _fresh_spec(self, pending: _Pending) -> _SpecFile:
        name, config = pending.name, self._config_for(pending.name)
        text, problems = decode_source(pending.raw, name)
        docs: list[Document] = []
        if text is not None:
            docs, problems = parse_documents(text, name)
        catalog = self.catalogs.for_config(config, load=self._load_catalog)
        spec = _validate_file(name, docs, problems, config, catalog, {})
        for item in spec.workspaces():
            if item.validated is not None and not item.in_set:
                self._plan(item)
            elif item.set_validated is not None:
                self._plan_set(item)
        if pending.key is not None and not any(item.kind == "InferenceSet" for item in spec.workspaces()):
            self.cache.put("spec", pending.key, _spec_payload(spec))  # a set's own findings are not cached
        for emitted in self._emitter.ready():  # render what the emitter finished meanwhile
            self._take_emitted(emitted)
        self._advance()
        return spec

    def _load_catalog(self, config: ProjectConfig):
        """The catalog from the cache (parsing the catalogs' YAML with positions is most of a one-spec rebuild),
        else loaded and cached."""
        from .cache import catalog_from_payload, catalog_key, catalog_payload

        if self.cache is None:
            return _load_catalog(config)
        key = catalog_key(config)
        payload = self.cache.get("catalog", key)
        catalog = None if payload is None else catalog_from_payload(payload)
        if catalog is None:
            catalog = _load_catalog(config)
            self.cache.put("catalog", key, catalog_payload(catalog))
        return catalog

    def _plan(self, item: _Workspace) -> None:
        from .plan import build_plan

        try:
            item.plan = build_plan(item.validated)
        except SpecError as exc:
            item.plan_diagnostics = exc.diagnostics
            return
        self._find_output(item)

    def _plan_set(self, item: _Workspace) -> None:
        """Plan an InferenceSet with its replicas; render the set's own objects (they need no cdk8s)."""
        if plan_inference_set(item):
            for child in item.children:
                self._find_output(child)
            _render_set(item)

    def _find_output(self, item: _Workspace) -> None:
        """Its cache key and its rendered files when the cache has them; otherwise it goes to the emitter."""
        from .cache import workspace_key

        if self.cache is not None:
            item.output_key = workspace_key(item.plan, _emit_settings(item.validated.config),
                                            _posix(item.plan.source_file))
            self._cached_output(item)
        if item.output is None:
            self._emitter.submit(len(self._emitting), item.plan, _emit_settings(item.validated.config))
            self._emitting.append(item)

    def _cached_output(self, item: _Workspace) -> bool:
        payload = self.cache.get("workspace", item.output_key)
        item.output = None if payload is None else _output_from_payload(payload)
        return item.output is not None

    # --- workspaces -----------------------------------------------------------------------------------------

    def _take_emitted(self, emitted: Emitted) -> None:
        """Validate a batch of emitted workspaces' objects (all at once: see ``errors_kind_by_kind``), then
        render and cache each workspace's."""
        from .output.validate import errors_kind_by_kind

        taken = [(self._emitting[key], objects) for key, objects in emitted]
        errors = iter(errors_kind_by_kind([obj for _, objects in taken for obj in objects]))
        for item, objects in taken:
            self._take_workspace(item, objects, [next(errors) for _ in objects])

    def _take_workspace(self, item: _Workspace, objects: list[dict], errors: list[list[SchemaError]]) -> None:
        """Render ``item``'s emitted ``objects`` and cache them; when the strict schemas found ``errors`` in them,
        those become its ``rejections`` instead."""
        from . import __version__
        from .output import WorkspaceOutput, render_workspace
        from .output.validate import rejection_diagnostics

        item.rejections = rejection_diagnostics(objects, errors, item.validated.ws.doc)
        if item.rejections:
            return
        plan = item.plan
        item.output = render_workspace(WorkspaceOutput(plan.namespace, plan.workspace, _posix(plan.source_file),
                                                       plan.source_hash, objects), tool_version=__version__)
        if self.cache is not None:
            self.cache.put("workspace", item.output_key, _output_payload(item.output))

    def _phase(self, description: str, total: int) -> None:
        if self.progress is not None:
            self.progress.phase(description, total)

    def _advance(self, amount: int = 1) -> None:
        if self.progress is not None:
            self.progress.advance(amount)


# --- cache payloads: what a spec file's findings and a workspace's files look like as JSON --------------------

def _spec_payload(spec: _SpecFile) -> dict:
    from .cache import diagnostics_payload, span_payload

    def workspace(item: _Workspace | None) -> dict | None:
        if item is None:
            return None
        return {"namespace": item.namespace, "name": item.name, "name_span": span_payload(item.name_span),
                "diagnostics": diagnostics_payload(item.diagnostics),
                "plan_diagnostics": diagnostics_payload(item.plan_diagnostics), "output_key": item.output_key,
                "cluster_names": list(item.cluster_names)}

    return {"problems": diagnostics_payload(spec.problems),
            "documents": [[diagnostics_payload(problems), workspace(item)] for problems, item in spec.documents]}


def _spec_from_payload(payload: dict, file: str) -> _SpecFile | None:
    """The findings of a ``_spec_payload``; None when it is not one."""
    from .cache import diagnostics_from_payload, span_from_payload

    def workspace(data: dict | None) -> _Workspace | None:
        if data is None:
            return None
        return _Workspace(data["namespace"], data["name"], span_from_payload(data["name_span"]),
                          diagnostics_from_payload(data["diagnostics"]),
                          plan_diagnostics=diagnostics_from_payload(data["plan_diagnostics"]),
                          output_key=data["output_key"], cluster_names=tuple(data["cluster_names"]))

    try:
        documents = [(diagnostics_from_payload(problems), workspace(item)) for problems, item in payload["documents"]]
        return _SpecFile(file, diagnostics_from_payload(payload["problems"]), documents)
    except (KeyError, TypeError, ValueError):
        return None


def _output_payload(output: WorkspaceOutput) -> dict:
    return {"namespace": output.namespace, "workspace": output.workspace, "source_file": output.source_file,
            "source_hash": output.source_hash, "files": {path: data.decode() for path, data in output.files.items()}}


def _output_from_payload(payload: dict) -> WorkspaceOutput | None:
    """The rendered workspace of an ``_output_payload``; None when it is not one."""
    from .output import WorkspaceOutput

    try:
        files = {path: text.encode() for path, text in payload["files"].items()}
        return WorkspaceOutput(payload["namespace"], payload["workspace"], payload["source_file"],
                               payload["source_hash"], [], files)
    except (KeyError, TypeError, AttributeError):
        return None


def _config_bytes(source: str | None) -> bytes | None:
    """The bytes of the config file ``source`` (None for the defaults, or when it cannot be read: loading it then
    says why)."""
    from .files import UnsafeFile, read_regular
    from .source import MAX_FILE_BYTES

    if source is None:
        return None
    try:
        return read_regular(source, limit=MAX_FILE_BYTES)
    except (OSError, UnsafeFile):
        return None


def _emit_settings(config: ProjectConfig) -> dict[str, Any]:
    """What the emitter reads from the project config besides the plan."""
    return {"nvme_storage_class": config.nvmeStorageClass, "node_class_group": config.karpenter.nodeClassGroup,
            "node_class_kind": config.karpenter.nodeClassKind}


def plan_paths(paths: list[str], configs: ConfigResolver, catalogs: Catalogs):
    """Validated workspaces with their plans, and the plans of the InferenceSets (for ``plan``)."""
    from .plan import build_plan

    specs = []
    for file, docs, problems in load_paths(paths):
        config = configs.for_file(file)
        specs.append(_validate_file(file, docs, problems, config, catalogs.for_config(config), {}))
    report = Report()
    plans, set_plans = [], []
    for item in _collect(specs, report):
        if item.set_validated is not None:
            if plan_inference_set(item):
                set_plans.append(item.set_plan)
                plans += [child.plan for child in item.children]
            report.extend(item.plan_diagnostics)
        elif item.validated is not None and not item.in_set:
            try:
                plans.append(build_plan(item.validated))
            except SpecError as exc:
                report.extend(exc.diagnostics)
    return report, plans, set_plans


def plan_inference_set(item: _Workspace) -> bool:
    """Plan the replicas of an InferenceSet item, then the set; False (with ``plan_diagnostics``) when it fails.

    A failure shared by the replicas is reported once, on the set."""
    from .plan import build_plan
    from .plan.inferenceset import plan_set

    failures: dict[tuple, Diagnostic] = {}
    for child in item.children:
        try:
            child.plan = build_plan(child.validated)
        except SpecError as exc:
            for diag in exc.diagnostics:
                failures.setdefault((diag.code, diag.span and diag.span.line, diag.span and diag.span.col), diag)
    if failures:
        item.plan_diagnostics = list(failures.values())
        return False
    try:
        item.set_plan, plans, item.plan_diagnostics = plan_set(item.set_validated, [c.plan for c in item.children])
    except SpecError as exc:
        item.plan_diagnostics = exc.diagnostics
        for child in item.children:
            child.plan = None
        return False
    for child, plan in zip(item.children, plans):
        child.plan = plan
    return True


def _render_set(item: _Workspace) -> None:
    """The set's own objects as its output directory ``<namespace>/<set>/`` (none when it needs no objects)."""
    from . import __version__
    from .emit.inferenceset import emit_set
    from .output import WorkspaceOutput, render_workspace

    plan = item.set_plan
    objects = emit_set(plan)
    if objects:
        item.output = render_workspace(WorkspaceOutput(plan.namespace, plan.name, _posix(plan.source_file),
                                                       plan.source_hash, objects), tool_version=__version__)


def _posix(file: str) -> str:
    """The source path as written into file headers: relative to the working directory, posix, spelt as pathlib
    spells it (no empty or "." components; string operations: this runs for every spec file of a cached run)."""
    if file == "<stdin>":
        return "stdin"
    relative = os.path.relpath(file) if file.startswith("/") else file
    return "/".join(part for part in relative.split("/") if part not in ("", ".")) or "."
