"""The wheel is a complete compiler: built the way `python -m build` builds it (an sdist from the checkout, the
wheel from that sdist), it carries every module of both packages and the repository's presets/ and schemas/ byte
for byte, and the CLI run from it alone (outside the checkout) reads its own copies and answers as the checkout
does."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from kaito_compile.cache import DISABLE_ENV

REPO = Path(__file__).resolve().parents[1]
DATA = {"presets": "*.yaml", "schemas": "*.json"}  # repository directory -> the files the wheel carries
PACKAGES = {"kaito_compile": REPO / "kaito_compile", "kaito_runtime": REPO / "runtime" / "kaito_runtime"}
TIMEOUT = 300


def _not_sources(directory: str, names: list[str]) -> set[str]:
    """What a clean clone would not have: VCS data, virtualenvs, caches and build products."""
    return {name for name in names if name.startswith(".") or name.endswith(".egg-info")
            or name in {"build", "dist", "out", "__pycache__"}}


def _pep517(hook: str, source: Path, target: Path) -> Path:
    """Run setuptools' PEP 517 ``hook`` in ``source`` in a fresh interpreter; the file it wrote."""
    code = f"import sys; from setuptools import build_meta; print(build_meta.{hook}(sys.argv[1]))"
    result = subprocess.run([sys.executable, "-c", code, str(target)], cwd=source, capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return target / result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(REPO, work / "checkout", ignore=_not_sources)
    sdist = _pep517("build_sdist", work / "checkout", work / "dist")
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "sdist", filter="data")
    (unpacked,) = (work / "sdist").iterdir()
    return _pep517("build_wheel", unpacked, work / "dist")


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel unpacked as an installer lays out its purelib files (a pure-Python wheel is exactly that)."""
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _entries(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_the_data_directories_byte_for_byte(wheel):
    with zipfile.ZipFile(wheel) as archive:
        for directory, pattern in DATA.items():
            files = sorted((REPO / directory).glob(pattern))
            assert files, directory
            packaged = {name.rpartition("/")[2] for name in archive.namelist()
                        if name.startswith(f"kaito_compile/_data/{directory}/")}
            assert packaged == {path.name for path in files}
            for path in files:
                assert archive.read(f"kaito_compile/_data/{directory}/{path.name}") == path.read_bytes(), path


def test_the_wheel_carries_every_module_and_nothing_outside_its_packages(wheel):
    entries = _entries(wheel)
    modules = {f"{package}/{path.relative_to(root).as_posix()}" for package, root in PACKAGES.items()
               for path in root.rglob("*.py") if "__pycache__" not in path.parts}
    assert modules <= entries, sorted(modules - entries)
    top_level = {name.split("/", 1)[0] for name in entries}
    assert {name for name in top_level if not name.endswith(".dist-info")} == set(PACKAGES)


def _cli(pythonpath: Path | str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), DISABLE_ENV: "1"}  # both runs compile, neither reads a cache
    return subprocess.run([sys.executable, "-m", "kaito_compile.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def test_the_installed_compiler_reads_its_own_data_and_answers_as_the_checkout(installed, tmp_path):
    where = subprocess.run(
        [sys.executable, "-c", "import json, kaito_compile, kaito_compile.datadir as d; "
                               "print(json.dumps([kaito_compile.__file__, str(d.PRESETS_DIR), str(d.SCHEMA_DIR)]))"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True,
        timeout=TIMEOUT)
    assert where.returncode == 0, where.stderr
    package, presets, schemas = (Path(path) for path in json.loads(where.stdout))
    assert package.is_relative_to(installed)  # not the checkout (nor an editable install of it)
    assert presets == installed / "kaito_compile" / "_data" / "presets"
    assert schemas == installed / "kaito_compile" / "_data" / "schemas"

    shutil.copytree(REPO / "examples" / "byo", tmp_path / "specs")
    checkout = os.pathsep.join([str(REPO), str(REPO / "runtime")])
    for args in (["--format", "json", "presets", "list"], ["build", "specs", "-o", "out-wheel"]):
        from_wheel = _cli(installed, tmp_path, *args)
        assert from_wheel.returncode == 0, from_wheel.stdout + from_wheel.stderr
        from_checkout = _cli(checkout, tmp_path, *[arg.replace("out-wheel", "out-checkout") for arg in args])
        assert from_checkout.returncode == 0, from_checkout.stdout + from_checkout.stderr
        assert from_wheel.stdout.replace("out-wheel", "out-checkout") == from_checkout.stdout
    wheel_out = sorted(path.relative_to(tmp_path / "out-wheel") for path in (tmp_path / "out-wheel").rglob("*"))
    assert wheel_out and wheel_out == sorted(
        path.relative_to(tmp_path / "out-checkout") for path in (tmp_path / "out-checkout").rglob("*"))
    for relative in wheel_out:
        if (tmp_path / "out-wheel" / relative).is_file():
            assert (tmp_path / "out-wheel" / relative).read_bytes() == (
                tmp_path / "out-checkout" / relative).read_bytes(), relative
