"""Untrusted layers are extracted safely with and without Python's tar filters (Debian bookworm's python3 is 3.11.2,
which has none: the adapter puller died there with ``AttributeError: tarfile.FilterError``, found by make e2e)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kaito_runtime import safe_tar


@pytest.fixture(params=["filters", "no filters"])
def python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "no filters":
        monkeypatch.delattr(tarfile, "data_filter")  # as on Python < 3.11.4
    return request.param


def _tar(members: dict[str, bytes | tuple[bytes, str]]) -> tarfile.TarFile:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = content
            else:
                info.size, info.mode = len(content), 0o6777
            tar.addfile(info, io.BytesIO(content) if isinstance(content, bytes) else None)
    buffer.seek(0)
    return tarfile.open(fileobj=buffer)


@pytest.mark.parametrize("members", [
    {"data/../../escaped.txt": b"x"},
    {"data/link": (tarfile.SYMTYPE, "/etc/passwd")},
    {"data/hardlink": (tarfile.LNKTYPE, "../../escaped.txt")},
    {"data/fifo": (tarfile.FIFOTYPE, "")},
])
def test_unsafe_members_are_refused(python: str, members: dict, tmp_path: Path) -> None:
    tar = _tar(members)
    with pytest.raises(safe_tar.FilterError):
        safe_tar.extractall(tar, tmp_path / "dest", tar.getmembers())
    assert not (tmp_path / "escaped.txt").exists()


def test_files_land_inside_without_special_mode_bits(python: str, tmp_path: Path) -> None:
    tar = _tar({"data/adapter_config.json": b"{}", "/data/absolute.txt": b"a"})
    safe_tar.extractall(tar, tmp_path, tar.getmembers())
    assert (tmp_path / "data" / "adapter_config.json").read_bytes() == b"{}"
    assert (tmp_path / "data" / "absolute.txt").read_bytes() == b"a"
    assert (tmp_path / "data" / "adapter_config.json").stat().st_mode & 0o7022 == 0
