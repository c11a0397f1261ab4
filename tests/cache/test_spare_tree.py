"""``write_tree(keep_spare=True)`` (what ``build`` uses for incremental writes) gives exactly the ``out/`` and the
results of a plain write, whatever state the spare tree is in."""

from __future__ import annotations

import dataclasses

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from kaito_compile.output import sidecar_dir, write_tree
from kaito_compile.output.write import SPARE
from tests.output.helpers import falcon, phi3, render, snapshot

Action = Callable[[Path], None]


def nothing(out: Path) -> None:
    pass


def user_files(out: Path) -> None:
    (out / "README.md").write_text("ours\n")
    (out / "kept-empty").mkdir()
    (out / "default" / "link").symlink_to("phi-3")
    (out / "default" / "phi-3").chmod(0o750)


def hand_edit(out: Path) -> None:
    path = out / "default/phi-3/service-phi-3.yaml"
    path.write_text(path.read_text().replace("port: 80", "port: 81"))


def junk_in_the_spare(out: Path) -> None:
    """Whatever a killed writer or a curious user may leave: extra files, a directory where a file goes, a file
    that is no longer a hard link of out's, a directory of the wrong mode."""
    spare = sidecar_dir(out) / SPARE
    if not spare.is_dir():
        return
    (spare / "stray.yaml").write_text("stray\n")
    (spare / "default/phi-3/deployment-phi-3.yaml").unlink()
    (spare / "default/phi-3/deployment-phi-3.yaml").mkdir()
    service = spare / "default/phi-3/service-phi-3.yaml"
    data = service.read_bytes() if service.exists() else b""
    service.unlink(missing_ok=True)
    service.write_bytes(data + b"# changed\n")
    (spare / "default").chmod(0o700)


STEPS: list[tuple[str, Action, dict[str, bytes]]] = [
    ("first write", nothing, render(phi3(), falcon())),
    ("update", nothing, render(phi3(image_tag="0.0.9"), falcon())),
    ("a workspace removed", nothing, render(phi3(image_tag="0.0.9"))),
    ("user files around it", user_files, render(phi3(), falcon())),
    ("a generated file edited by hand", hand_edit, render(phi3(image_tag="0.1.0"), falcon())),
    ("junk in the spare", junk_in_the_spare, render(phi3(), falcon())),
    ("nothing changed", nothing, render(phi3(), falcon())),
    ("back again", nothing, render(phi3(image_tag="0.0.9"), falcon())),
]


def modes(directory: Path) -> dict[str, int]:
    return {path.relative_to(directory).as_posix(): stat.S_IMODE(path.lstat().st_mode)
            for path in sorted(directory.rglob("*")) if path.is_dir() and not path.is_symlink()}


def test_writes_through_a_spare_equal_plain_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    plain, spared = tmp_path / "a" / "out", tmp_path / "b" / "out"
    for name, action, tree in STEPS:
        for out in (plain, spared):
            if out.exists():
                action(out)
        expected = write_tree(tree, plain)
        result = write_tree(tree, spared, keep_spare=True)
        assert result == dataclasses.replace(  # the warnings name each tree's own paths
            expected, warnings=[w.replace(str(plain), str(spared)) for w in expected.warnings]), name
        assert snapshot(spared) == snapshot(plain), name
        assert modes(spared) == modes(plain), name
    assert (sidecar_dir(spared) / SPARE).is_dir()


def test_a_write_through_the_spare_only_touches_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    for tree in (render(phi3(), falcon()), render(phi3(image_tag="0.0.9"), falcon())):
        write_tree(tree, out, keep_spare=True)  # the second write leaves the first tree as the spare
    links = {path: os.lstat(out / path).st_ino for path in render(phi3(), falcon())}
    created = []
    original_open = open

    def recording_open(file, mode="r", *args, **kwargs):
        if "x" in mode:
            created.append(Path(file).name)
        return original_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", recording_open)
    write_tree(render(phi3(image_tag="0.1.0"), falcon()), out, keep_spare=True)
    assert sorted(created) == [".kaito-compile-lock.json", "deployment-phi-3.yaml"]
    unchanged = [path for path in links if "deployment-phi-3" not in path and "lock" not in path]
    assert all(os.lstat(out / path).st_ino == links[path] for path in unchanged)


def test_a_plain_write_removes_a_spare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    write_tree(render(phi3()), out, keep_spare=True)
    write_tree(render(phi3(image_tag="0.0.9")), out, keep_spare=True)
    assert (sidecar_dir(out) / SPARE).is_dir()
    write_tree(render(phi3()), out)
    assert sorted(p.name for p in sidecar_dir(out).iterdir()) == [".gitignore", "writer.lock"]
