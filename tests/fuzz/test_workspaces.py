"""Property-based fuzzing of the whole compiler: generated Workspaces and project configs, compiled from files.

1. Nothing crashes: whatever the Workspace (``wild``: random text, wrong types, unknown fields, every
   combination the rules refuse), ``compile_paths`` returns a report; the only exception allowed is the
   project's own ``SpecError`` (diagnostics). Every diagnostic is well formed, and a refused build yields no tree.
2. What is accepted is valid: for ``realistic`` Workspaces that compile, every emitted object passes the strict
   schema check (Kubernetes core kinds, and the upstream CRDs for NodeClaim, NodePool and Machine), each
   workspace directory's kustomization lists exactly its objects, and the ownership lock lists every file.

The profile comes from ``KAITO_FUZZ_PROFILE``: ``fast`` (default, CI: 50 examples per property, derandomized so
every run draws the same examples) or ``full`` (``make fuzz``: 10,000 per property, fresh examples each run;
a failure prints the blob to reproduce it with ``@reproduce_failure``).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver
from kaito_compile.diagnostics import Report, SpecError
from kaito_compile.output.ownership import LOCK_FILE
from tests.support import kube

from . import strategies

PROFILES = {
    "fast": settings(max_examples=50, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]),
    "full": settings(max_examples=10_000, deadline=None, print_blob=True,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]),
}
PROFILE = os.environ.get("KAITO_FUZZ_PROFILE", "fast")
if PROFILE not in PROFILES:
    raise ValueError(f"KAITO_FUZZ_PROFILE={PROFILE!r}: use one of {sorted(PROFILES)}")
FUZZ = PROFILES[PROFILE]
CODE = re.compile(r"^KC-[A-Z]+\d+$")

class YamlDumper(yaml.SafeDumper):
    """PyYAML writes ``n``/``y`` unquoted, which YAML 1.1 (ruamel, go-yaml v2: what Kubernetes reads) takes for
    booleans; knowing them as booleans makes the dumper quote such strings."""


YamlDumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))


def dump(data: dict) -> str:
    return yaml.dump(data, Dumper=YamlDumper, sort_keys=False, allow_unicode=False)


class SharedCatalogs(Catalogs):
    """One catalog load for every example: the generated configs add no project catalogs."""

    def for_config(self, config, **_options):
        assert not config.catalogs
        return strategies.catalog()


def compile_example(workspace: dict, config: dict) -> tuple[Report, dict[str, bytes], Path]:
    """Write the Workspace and its kaito-compile.yaml into a fresh repository directory and compile them."""
    with tempfile.TemporaryDirectory(prefix="kaito-fuzz-") as tmp:
        root = Path(tmp)
        (root / ".git").mkdir()  # a repository root: no kaito-compile.yaml above it is picked up
        (root / "kaito-compile.yaml").write_text(dump(config))
        spec = root / "workspace.yaml"
        spec.write_text(dump(workspace))
        try:
            report, tree = compile_paths([str(spec)], ConfigResolver(), SharedCatalogs())
        except SpecError as exc:  # the project config refused as a whole: diagnostics, not a crash
            report, tree = Report(diagnostics=exc.diagnostics), {}
        return report, tree, spec


def assert_well_formed(report: Report, spec: Path) -> None:
    for diag in report.diagnostics:
        assert CODE.match(diag.code), diag
        assert diag.message.strip(), diag
        span = diag.span
        if span is not None:
            assert span.line >= 1 and span.col >= 1, diag
            assert Path(span.file).name in (spec.name, "kaito-compile.yaml"), diag


def tally(report: Report) -> None:
    codes = sorted({d.code for d in report.errors})
    event("accepted" if not codes else f"refused: {' '.join(codes[:3])}")
    from . import conftest

    conftest.record(report)


@FUZZ
@given(workspace=strategies.workspaces(wild=True), config=strategies.project_configs(wild=True))
def test_compiling_never_crashes(workspace: dict, config: dict):
    report, tree, spec = compile_example(workspace, config)
    tally(report)
    assert_well_formed(report, spec)
    assert (tree == {}) == bool(report.errors), "a refused build must yield no tree, an accepted one a tree"


def workspace_objects(tree: dict[str, bytes]) -> dict[str, list[tuple[str, dict]]]:
    """Workspace directory → its (file name, object) pairs, kustomization included."""
    found: dict[str, list[tuple[str, dict]]] = {}
    for path, data in tree.items():
        if path == LOCK_FILE:
            continue
        directory, name = path.rsplit("/", 1)
        found.setdefault(directory, []).append((name, yaml.safe_load(data)))
    return found


@FUZZ
@given(example=strategies.fitted_examples())
def test_accepted_workspaces_emit_valid_objects(example: tuple[dict, dict]):
    report, tree, _ = compile_example(*example)
    tally(report)
    if report.errors:
        return
    lock = yaml.safe_load(tree[LOCK_FILE])
    assert sorted(lock["files"]) == sorted(path for path in tree if path != LOCK_FILE)
    for directory, files in workspace_objects(tree).items():
        objects = {name: obj for name, obj in files if name != "kustomization.yaml"}
        kustomization = dict(files)["kustomization.yaml"]
        assert sorted(kustomization["resources"]) == sorted(objects), directory
        for name, obj in objects.items():
            errors = kube.validate_manifest(obj)
            assert not errors, f"{directory}/{name}:\n" + "\n".join(errors) + "\n" + yaml.safe_dump(obj)


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 200))
@given(st.data())
def test_strategies_draw_both_api_versions_and_kinds(data):
    """The generators reach what the properties need: both apiVersions, inference and tuning (a check of the
    generators, not of the compiler: 200 examples at most, whatever the profile)."""
    workspace = data.draw(strategies.workspaces())
    assert workspace["apiVersion"] in ("kaito.sh/v1beta1", "kaito.sh/v1alpha1")
    assert ("inference" in workspace) != ("tuning" in workspace)
    if "inference" in workspace:
        assert ("preset" in workspace["inference"]) != ("template" in workspace["inference"])
