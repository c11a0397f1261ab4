"""A compiled tree as the OCI artifact Flux's ``OCIRepository`` pulls, byte-reproducible.

The layout is the one ``flux push artifact`` writes (fluxcd/website, ``flux/cheatsheets/oci-artifacts.md``): an OCI
image manifest whose config has the media type ``application/vnd.cncf.flux.config.v1+json`` and whose single layer
is a gzip tarball of the tree, ``application/vnd.cncf.flux.content.v1.tar+gzip``; source-controller extracts that
layer and Flux ``Kustomization``s apply paths inside it.

Reproducible: the same tree gives the same digest. Entries are sorted, directories come before what they hold,
every entry has mtime 0, uid/gid 0, no user or group name, mode 0755 (directories) or 0644 (files); gzip writes
mtime 0 and no file name; the config is ``{}``; annotations (``org.opencontainers.image.source`` and ``.revision``)
only when asked for, and never a creation time.

What is published is what ``build`` wrote: the files the tree's ownership lock lists, each checked against its
digest, and the lock itself. Symlinks, FIFOs, devices and sockets anywhere in the tree are refused; other files
(hand-written ones ``build`` leaves alone) are left out and reported.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..output import LOCK_FILE
from ..output.errors import InvalidTree
from ..output.ownership import parse_lock, verify_tree

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
FLUX_CONFIG = "application/vnd.cncf.flux.config.v1+json"
FLUX_CONTENT = "application/vnd.cncf.flux.content.v1.tar+gzip"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
FILE_MODE, DIRECTORY_MODE = 0o644, 0o755


class ArtifactError(ValueError):
    """The tree cannot be published as it is."""


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class Artifact:
    config: Blob
    layer: Blob
    manifest: Blob
    files: tuple[str, ...]  # what the layer holds
    left_out: tuple[str, ...]  # regular files of the tree the lock does not list


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (relative posix path → bytes); symlinks and special files refused."""
    if not root.is_dir():
        raise ArtifactError(f"{root} is not a directory: build it first (kaito-compile build SPECS -o {root})")
    tree: dict[str, bytes] = {}
    pending = [root]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = Path(entry.path)
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    pending.append(path)
                elif stat.S_ISREG(mode):
                    tree[path.relative_to(root).as_posix()] = path.read_bytes()
                else:
                    kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file (a FIFO, socket or device)"
                    raise ArtifactError(f"{path} is {kind}: refusing to publish it")
    return dict(sorted(tree.items()))


def published_files(tree: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
    """(the lock and the files it lists, each matching its digest; the other files, left out)."""
    if LOCK_FILE not in tree:
        raise ArtifactError(f"no {LOCK_FILE}: not a tree kaito-compile build wrote")
    try:
        listed = set(parse_lock(tree[LOCK_FILE]).files)
    except ValueError as error:
        raise ArtifactError(f"{LOCK_FILE} is invalid: {error}") from None
    missing = sorted(listed - set(tree))
    if missing:
        raise ArtifactError(f"{missing[0]} is listed in {LOCK_FILE} but missing: run kaito-compile build again")
    selected = {path: data for path, data in tree.items() if path in listed or path == LOCK_FILE}
    try:
        verify_tree(selected)
    except InvalidTree as error:
        raise ArtifactError(f"the tree differs from what kaito-compile build wrote ({error}): run build "
                            "again, or check why a generated file was edited") from None
    return selected, sorted(set(tree) - set(selected))


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzip tarball of ``files`` that depends on nothing but their paths and bytes."""
    directories = {"/".join(path.split("/")[:depth]) for path in files for depth in range(1, path.count("/") + 1)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(directories | set(files)):
            if name in files:
                archive.addfile(_entry(name, tarfile.REGTYPE, FILE_MODE, len(files[name])), io.BytesIO(files[name]))
            else:
                archive.addfile(_entry(name, tarfile.DIRTYPE, DIRECTORY_MODE, 0))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=9) as stream:
        stream.write(buffer.getvalue())
    return compressed.getvalue()


def _entry(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def build_artifact(root: Path, *, source: str | None = None, revision: str | None = None) -> Artifact:
    """The Flux artifact of the compiled tree ``root``."""
    files, left_out = published_files(read_tree(root))
    config = Blob(FLUX_CONFIG, b"{}")
    layer = Blob(FLUX_CONTENT, tarball(files))
    manifest: dict = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config.descriptor(),
                      "layers": [layer.descriptor()]}
    annotations = {key: value for key, value in ((SOURCE_ANNOTATION, source), (REVISION_ANNOTATION, revision))
                   if value}
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return Artifact(config, layer, Blob(OCI_MANIFEST, body), tuple(files), tuple(left_out))
