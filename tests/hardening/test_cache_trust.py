"""The build cache is data, never code, and never trusted unless this user wrote it (issue #13, item 1).

Each test attacks the cache in out/'s sidecar the way a hostile or careless user could: a pickle payload that
would run code, a cache forged with correct plain checksums, a cache written by another user or committed from
another machine, a symlink, a FIFO, garbage. Every time the build ignores what it cannot trust with a KC-N004
warning, writes exactly what a build without a cache writes, and leaves a cache of its own for the next run.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import pickle
import subprocess
from pathlib import Path

import pytest

from kaito_compile.cache import CACHE_FILE
from kaito_compile.output import sidecar_dir

from .cli import cli_env, run_cli, tree_bytes

REPO = Path(__file__).resolve().parents[2]
SPECS = "examples/seeds"
FORBIDDEN_MODULES = {"pickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle", "_pickle"}


def build(tmp_path: Path, out: Path, *, user: str = "me", logs: str = "build"):
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "keys" / user))
    return run_cli(["build", SPECS, "-o", str(out)], cwd=REPO, logs=tmp_path / "logs" / logs, env=env)


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """out/ as a build without any cache writes it."""
    tmp = tmp_path_factory.mktemp("clean")
    env = cli_env(KAITO_COMPILE_NO_CACHE="1")
    result = run_cli(["build", SPECS, "-o", str(tmp / "out")], cwd=REPO, logs=tmp / "logs", env=env)
    assert result.exit_code == 0, result.output
    return tree_bytes(tmp / "out")


def cache_of(out: Path) -> Path:
    return sidecar_dir(out) / CACHE_FILE


def assert_rebuilt(result, out: Path, clean_tree: dict[str, bytes], why: str) -> None:
    assert result.exit_code == 0, result.output
    assert "[KC-N004]" in result.stdout and why in result.stdout, result.output
    assert tree_bytes(out) == clean_tree
    assert "Traceback" not in result.output and "KC-E999" not in result.output


def test_no_module_of_the_compiler_imports_a_deserialiser_that_can_run_code():
    offenders = []
    for path in sorted((REPO / "kaito_compile").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(REPO)}: {name}" for name in names
                          if name.split(".")[0] in FORBIDDEN_MODULES]
    assert offenders == []


def test_every_entry_is_plain_json_behind_a_mac(tmp_path: Path):
    out = tmp_path / "out"
    assert build(tmp_path, out).exit_code == 0
    header, *entries = cache_of(out).read_bytes().splitlines()
    assert json.loads(header)["format"] == 2
    assert {line.split(b" ", 1)[0] for line in entries} == {b"spec", b"workspace", b"catalog", b"config"}
    for line in entries:
        kind, key, mac, body = line.split(b" ", 3)
        json.loads(body)
        assert len(mac) == 64 and mac != hashlib.sha256(body).hexdigest().encode()  # keyed, not a plain checksum
    assert oct(cache_of(out).stat().st_mode & 0o777) == "0o600"
    key = tmp_path / "keys" / "me" / "kaito-compile" / "cache-key"
    assert oct(key.stat().st_mode & 0o777) == "0o600" and len(key.read_bytes()) == 32


def test_a_pickle_planted_in_an_old_format_cache_never_runs(tmp_path: Path, clean_tree: dict[str, bytes]):
    out, marker = tmp_path / "out", tmp_path / "pwned"
    sidecar_dir(out).mkdir(parents=True)

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    body = json.dumps({"pickle": base64.b64encode(pickle.dumps(Exploit())).decode()}).encode()
    header = json.dumps({"format": 1, "generator": "kaito-compile"}).encode()
    lines = [header] + [b"catalog %064x %s %s" % (n, hashlib.sha256(body).hexdigest().encode(), body)
                        for n in range(3)]
    cache_of(out).write_bytes(b"\n".join(lines) + b"\n")
    result = build(tmp_path, out)
    assert_rebuilt(result, out, clean_tree, "it has format 1")
    assert not marker.exists()


def test_entries_forged_with_correct_checksums_are_refused(tmp_path: Path, clean_tree: dict[str, bytes]):
    """The attack a plain checksum cannot stop: rewrite a cached workspace's files and fix the checksum."""
    out = tmp_path / "out"
    assert build(tmp_path, out, logs="first").exit_code == 0
    path = cache_of(out)
    header, *entries = path.read_bytes().splitlines()
    forged = []
    for line in entries:
        kind, key, _, body = line.split(b" ", 3)
        if kind == b"workspace":
            body = body.replace(b"image: ", b"image: evil.example/backdoor@sha256:" + b"0" * 64 + b" #")
            line = b" ".join([kind, key, hashlib.sha256(body).hexdigest().encode(), body])
        forged.append(line)
    path.write_bytes(b"\n".join([header, *forged]) + b"\n")
    (out / "default").rename(tmp_path / "moved")  # make the build write the workspaces again
    result = build(tmp_path, out, logs="forged")
    assert_rebuilt(result, out, {k: v for k, v in clean_tree.items()}, "damaged or forged entries")
    assert b"evil.example" not in path.read_bytes()


def test_a_cache_from_another_user_or_machine_is_ignored(tmp_path: Path, clean_tree: dict[str, bytes]):
    out = tmp_path / "out"
    assert build(tmp_path, out, user="someone-else", logs="theirs").exit_code == 0
    result = build(tmp_path, out, user="me", logs="mine")
    assert_rebuilt(result, out, clean_tree, "another user's or machine's key")
    again = build(tmp_path, out, user="me", logs="again")
    assert again.exit_code == 0 and "KC-N004" not in again.stdout  # rebuilt as ours
    checked = run_cli(["check", SPECS, "-o", str(out)], cwd=REPO, logs=tmp_path / "logs" / "check",
                      env=cli_env(XDG_CACHE_HOME=str(tmp_path / "keys" / "someone-else")))
    assert checked.exit_code == 0 and "another user's or machine's key" in checked.stdout, checked.output


@pytest.mark.parametrize("plant", ["other-owner", "group-writable", "symlink", "fifo", "garbage", "directory"])
def test_a_cache_file_that_is_not_ours_is_ignored_without_being_read(
        tmp_path: Path, clean_tree: dict[str, bytes], plant: str):
    out, secret = tmp_path / "out", tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY\n")
    assert build(tmp_path, out, logs="first").exit_code == 0
    path = cache_of(out)
    why = {"other-owner": "belongs to another user", "group-writable": "other users can write it",
           "symlink": "cannot open it", "fifo": "not a regular file", "garbage": "not a kaito-compile build cache",
           "directory": "not a regular file"}[plant]
    if plant == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        os.chown(path, 54321, 54321)
    elif plant == "group-writable":
        path.chmod(0o664)
    elif plant == "garbage":
        path.write_bytes(bytes(range(256)) * 16)
    else:
        path.unlink()
        {"symlink": lambda: path.symlink_to(secret), "fifo": lambda: os.mkfifo(path),
         "directory": lambda: path.mkdir()}[plant]()
    (out / "default").rename(tmp_path / "moved")
    result = build(tmp_path, out, logs="planted")
    assert_rebuilt(result, out, clean_tree, why)
    assert "TOP-SECRET-CANARY" not in result.output
    assert secret.read_text() == "TOP-SECRET-CANARY\n"  # a symlink is replaced, its target never written


def test_the_sidecar_is_git_ignored_by_its_own_gitignore(tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    assert build(tmp_path, project / "out").exit_code == 0
    sidecar = sidecar_dir(project / "out")
    assert (sidecar / ".gitignore").read_text().splitlines()[-1] == "*"
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project,
                            capture_output=True, text=True, check=True).stdout
    assert "out/" in status and sidecar.name not in status
