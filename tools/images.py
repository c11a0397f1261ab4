#!/usr/bin/env python3
"""Build the runtime images: every ``runtime/Dockerfile.<name>`` becomes ``<images.registry>/kaito-<name>:<images.tag>``,
the references the compiled manifests in ``out/`` use (``images:`` of ``examples/kaito-compile.yaml``).

Usage: ``python tools/images.py [--config FILE] [--list] [--engine docker|podman|buildah] [--base-image IMAGE]
[--wheel-dir DIR] [--torch-variant cpu|cu128] [--torch-index-url URL] [--pip-conf FILE] [--pip-cert FILE] [NAME...]``

- Engine: docker when its daemon answers, else podman, else buildah.
- Base image (build arg ``PYTHON_IMAGE``): the Dockerfiles' default (Docker Hub's python) when the engine can pull
  it, else a Debian bookworm image built with mmdebstrap by ``tools/build_base_image.sh`` (root needed).
- Python packages: ``--wheel-dir`` (default: ``$PIP_FIND_LINKS`` when it is a local directory) becomes the build
  context ``wheels``, tried before any index. When it holds a torch 2.13.0 wheel, its flavour (``+cpu``) is the torch
  variant and the PyTorch index is not asked. ``--pip-conf`` (default ``$PIP_CONFIG_FILE``) and ``--pip-cert``
  (default ``$PIP_CERT``) reach pip as build secrets, never stored in a layer.
Prints the size of every image at the end. Exit status 2 with a one-line message when a tool fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"
DEFAULT_CONFIG = ROOT / "examples" / "kaito-compile.yaml"
LOCAL_BASE_IMAGE = "localhost/kaito-python-base:bookworm"
TORCH_WHEEL = re.compile(r"^torch-2\.13\.0\+(\w+)-.*\.whl$")


class ToolError(Exception):
    """A build step failed; the message says which."""


def dockerfiles(names: list[str]) -> dict[str, Path]:
    """``{name: runtime/Dockerfile.<name>}`` for every Dockerfile there, or the ``names`` asked for."""
    found = {path.name.split(".", 1)[1]: path for path in sorted(RUNTIME.glob("Dockerfile.*"))}
    missing = sorted(set(names) - set(found))
    if missing:
        raise ToolError(f"no runtime/Dockerfile.{missing[0]} (have: {', '.join(found)})")
    return {name: path for name, path in found.items() if not names or name in names}


def image_references(config_file: Path, names: list[str]) -> dict[str, str]:
    """``kaito-<name>`` in the registry and tag the compiler writes into the manifests, read by its own loader."""
    sys.path.insert(0, str(ROOT))
    from kaito_compile.config import load_config

    try:
        images = load_config(str(config_file)).images
    except Exception as error:  # noqa: BLE001 - SpecError, OSError: reported in one line
        raise ToolError(f"{config_file}: {error}") from None
    return {name: f"{images.registry}/kaito-{name}:{images.tag}" for name in names}


def choose_engine(requested: str | None) -> str:
    if requested:
        return requested
    if shutil.which("docker") and _quiet(["docker", "info"], timeout=20):
        return "docker"
    for engine in ("podman", "buildah"):
        if shutil.which(engine):
            return engine
    raise ToolError("no container engine: install docker, podman or buildah")


def _quiet(command: list[str], timeout: float) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _has_image(engine: str, image: str) -> bool:
    inspect = ["buildah", "inspect", "--type", "image"] if engine == "buildah" else [engine, "image", "inspect"]
    return _quiet([*inspect, image], timeout=30)


def base_image(engine: str, requested: str | None) -> str | None:
    """``None`` keeps the Dockerfiles' default base; else a local Debian bookworm base, built once."""
    if requested:
        return requested
    default = _default_base_image()
    if _has_image(engine, default) or _quiet([engine, "pull", default], timeout=300):
        return None
    if not _has_image(engine, LOCAL_BASE_IMAGE):
        print(f"images: {default} cannot be pulled; building {LOCAL_BASE_IMAGE} with mmdebstrap", flush=True)
        _run([str(ROOT / "tools" / "build_base_image.sh"), engine, LOCAL_BASE_IMAGE])
    return LOCAL_BASE_IMAGE


def _default_base_image() -> str:
    """The Dockerfiles' PYTHON_IMAGE default, fully qualified (podman refuses ambiguous short names)."""
    text = (RUNTIME / "Dockerfile.inference").read_text()
    image = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)
    return image if "/" in image else f"docker.io/library/{image}"


def torch_variant(wheel_dir: Path | None) -> str | None:
    """The flavour of the torch wheel in ``wheel_dir`` (``cpu``, ``cu128``), if there is one."""
    for path in sorted(wheel_dir.iterdir()) if wheel_dir else ():
        match = TORCH_WHEEL.match(path.name)
        if match:
            return match.group(1)
    return None


def build_command(engine: str, dockerfile: Path, tag: str, options: argparse.Namespace) -> list[str]:
    command = [engine, "bud" if engine == "buildah" else "build", "-f", str(dockerfile), "-t", tag]
    args = {"PYTHON_IMAGE": options.base_image, "TORCH_VARIANT": options.torch_variant,
            "TORCH_INDEX_URL": options.torch_index_url}
    for key, value in args.items():
        if value is not None:
            command += ["--build-arg", f"{key}={value}"]
    if options.wheel_dir:
        command += ["--build-context", f"wheels={options.wheel_dir}"]
    for secret, path in (("pipconf", options.pip_conf), ("pipcert", options.pip_cert)):
        if path:
            command += ["--secret", f"id={secret},src={path}"]
    return [*command, str(ROOT)]


def _run(command: list[str]) -> None:
    try:
        result = subprocess.run(command)
    except OSError as error:
        raise ToolError(f"{command[0]}: {error.strerror}") from None
    if result.returncode:
        raise ToolError(f"{' '.join(command[:2])} … failed with exit status {result.returncode}")


def image_size(engine: str, tag: str) -> str:
    """Size of the local image as the engine reports it (docker and podman: bytes, shown in MB)."""
    if engine == "buildah":
        command = ["buildah", "images", "--format", "{{.Size}}", tag]
    else:
        command = [engine, "image", "inspect", "--format", "{{.Size}}", tag]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    return f"{int(output) / 1e6:.0f} MB" if output.isdigit() else output


def _existing_file(value: str | None) -> str | None:
    return value if value and Path(value).is_file() else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="build only runtime/Dockerfile.<name> for these names")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="kaito-compile.yaml with images:")
    parser.add_argument("--list", action="store_true", help="print the image references, build nothing")
    parser.add_argument("--engine", choices=("docker", "podman", "buildah"))
    parser.add_argument("--base-image", help="PYTHON_IMAGE build arg (default: see above)")
    parser.add_argument("--wheel-dir", default=os.environ.get("PIP_FIND_LINKS"))
    parser.add_argument("--torch-variant", help="cpu or a CUDA flavour such as cu128")
    parser.add_argument("--torch-index-url")
    parser.add_argument("--pip-conf", default=_existing_file(os.environ.get("PIP_CONFIG_FILE")))
    parser.add_argument("--pip-cert", default=_existing_file(os.environ.get("PIP_CERT")))
    options = parser.parse_args(argv)
    wheel_dir = Path(options.wheel_dir) if options.wheel_dir and Path(options.wheel_dir).is_dir() else None
    options.wheel_dir = str(wheel_dir) if wheel_dir else None
    local_torch = torch_variant(wheel_dir)
    if local_torch and options.torch_variant in (None, local_torch):
        options.torch_variant = local_torch
        if options.torch_index_url is None:
            options.torch_index_url = ""  # the local wheel serves; an unreachable index would only add retries
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    try:
        files = dockerfiles(options.names)
        tags = image_references(options.config, list(files))
        if options.list:
            print(*tags.values(), sep="\n")
            return 0
        engine = choose_engine(options.engine)
        options.base_image = base_image(engine, options.base_image)
        failed = {}
        for name, dockerfile in files.items():
            print(f"images: building {tags[name]} from {dockerfile.relative_to(ROOT)} with {engine}", flush=True)
            try:
                _run(build_command(engine, dockerfile, tags[name], options))
            except ToolError as error:
                failed[name] = error  # the other images are still built
        print("\nimage sizes:")
        for name in files:
            print(f"  {tags[name]:<55} {'FAILED' if name in failed else image_size(engine, tags[name]):>10}")
        if failed:
            raise ToolError("; ".join(f"{tags[name]}: {error}" for name, error in failed.items()))
    except ToolError as error:
        print(f"images: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
