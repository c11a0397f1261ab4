"""The runtime images hold what their containers import, and nothing of the compiler (issue 12).

The extras of pyproject.toml are the images' package lists (runtime/Dockerfile.<extra> installs extra <extra>): every
third-party module the image's entry points import must come from that extra or its dependencies (the adapter puller
once died with ``ModuleNotFoundError: httpx``), and the inference image must not carry the training stack or the
compiler. The engine build itself is exercised by ``make images`` and ``make e2e``.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kaito_runtime.layout import HF_HOME, SCRATCH_DIR

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime" / "kaito_runtime"
EXTRAS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
COMPILER_DEPENDENCIES = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
IMAGE_ENTRY_POINTS = {  # what the image's containers run; the kaito_runtime modules they import are followed
    "inference": ["inference", "artifact.py"],  # the server and the adapter puller
    "tuning": ["tuning", "fetch.py", "artifact.py"],  # the runner, the data fetcher, puller and pusher
}


def _names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


@functools.cache
def _closure(name: str) -> frozenset[str]:
    """``name`` and every distribution it needs unconditionally here (extras and foreign markers skipped)."""
    found = {name}
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        found |= _closure(canonicalize_name(requirement.name))
    return frozenset(found)


def _imports(path: Path) -> set[str]:
    """Dotted names of every module ``path`` imports (absolute imports; relative ones resolved)."""
    package = ".".join(path.relative_to(RUNTIME.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def _source_of(module: str) -> Path | None:
    parts = module.split(".")[1:]
    if not parts:
        return RUNTIME / "__init__.py"
    for candidate in (RUNTIME.joinpath(*parts).with_suffix(".py"), RUNTIME.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _image_sources(entries: list[str]) -> list[Path]:
    """The entry points' files and every kaito_runtime module they import, transitively."""
    todo = [p for entry in entries for p in ([RUNTIME / entry] if entry.endswith(".py") else
                                             sorted((RUNTIME / entry).rglob("*.py")))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [s for name in _imports(path) if name.startswith("kaito_runtime") for s in [_source_of(name)] if s]
    return sorted(seen)


def _imported_top_level_modules(paths: list[Path]) -> set[str]:
    modules = {name.split(".")[0] for path in paths for name in _imports(path)}
    return modules - set(sys.stdlib_module_names) - {"kaito_runtime", "__future__", ""}


@pytest.mark.parametrize("extra", sorted(IMAGE_ENTRY_POINTS))
def test_every_module_an_image_imports_comes_with_its_extra(extra: str) -> None:
    installed = _image_distributions(extra)
    providers = metadata.packages_distributions()
    missing = {}
    sources = _image_sources(IMAGE_ENTRY_POINTS[extra])
    assert RUNTIME / "layout.py" in sources and RUNTIME / "hub.py" in sources  # imports are followed
    for module in sorted(_imported_top_level_modules(sources)):
        distributions = {canonicalize_name(d) for d in providers.get(module, [module])}
        if not distributions & installed:
            missing[module] = sorted(distributions)
    assert not missing, f"imported by the {extra} image but not in its extra: {missing}"


# The compiler's own stack (rich and click also come with transformers and huggingface-hub, so they are not here).
COMPILER_ONLY = {"cdk8s", "constructs", "jsii", "ruamel-yaml", "jsonschema"}


def _image_distributions(extra: str) -> frozenset[str]:
    return frozenset().union(*(_closure(name) for name in _names(EXTRAS[extra])))


def test_the_inference_image_has_no_compiler_and_no_training_stack() -> None:
    inference = _image_distributions("inference")
    assert not inference & {"trl", "datasets", "bitsandbytes", "pyarrow"}
    assert not inference & COMPILER_ONLY
    assert COMPILER_ONLY <= frozenset().union(*(_closure(n) for n in _names(COMPILER_DEPENDENCIES)))


def test_the_tuning_image_has_no_server_and_no_compiler() -> None:
    tuning = _image_distributions("tuning")
    assert not tuning & {"fastapi", "uvicorn", "prometheus-client", "starlette"}
    assert not tuning & COMPILER_ONLY


def test_the_runtime_package_never_imports_the_compiler() -> None:
    """The images do not install kaito_compile; the compiler may import kaito_runtime, never the reverse."""
    assert "kaito_compile" not in _imported_top_level_modules(sorted(RUNTIME.rglob("*.py")))
    assert "kaito_compile" not in {name.split(".")[0] for path in RUNTIME.rglob("*.py") for name in _imports(path)}


def _instructions(name: str) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (REPO / "runtime" / f"Dockerfile.{name}").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("extra", sorted(IMAGE_ENTRY_POINTS))
def test_the_dockerfile_installs_its_extra_and_only_the_runtime_package(extra: str) -> None:
    instructions = _instructions(extra)
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    copies = [arg for op, arg in instructions if op == "COPY"]
    assert f"/src/pyproject.toml {extra} > /src/requirements.txt" in runs
    assert "-r /src/requirements.txt" in runs
    assert not [c for c in copies if "kaito_compile" in c] and "pip install ." not in runs


@pytest.mark.parametrize("extra", sorted(IMAGE_ENTRY_POINTS))
def test_the_dockerfile_calls_python3_and_takes_the_torch_source_from_build_args(extra: str) -> None:
    instructions = _instructions(extra)
    commands = " ".join(arg for op, arg in instructions if op in ("RUN", "ENTRYPOINT", "CMD"))
    assert not re.search(r"(?<![\w/.-])python(?![\w.-])", commands), "plain Debian has python3 only"
    args = [arg.split("=", 1)[0] for op, arg in instructions if op == "ARG"]
    assert {"PYTHON_IMAGE", "TORCH_VARIANT", "TORCH_INDEX_URL"} <= set(args)
    assert "download.pytorch.org" not in commands  # only as the TORCH_INDEX_URL default
    assert "--mount=type=bind,from=wheels" in commands and "--mount=type=secret,id=pipconf" in commands


@pytest.mark.parametrize("extra", sorted(IMAGE_ENTRY_POINTS))
def test_home_and_hf_home_are_writable_under_a_read_only_root(extra: str) -> None:
    instructions = _instructions(extra)
    final_stage = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    env = " ".join(arg for op, arg in final_stage if op == "ENV").split()
    assert f"HOME={SCRATCH_DIR}" in env and f"HF_HOME={HF_HOME}" in env


def test_the_build_context_leaves_out_virtualenvs_and_history() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".tools", "**/__pycache__"} <= set(ignored)
