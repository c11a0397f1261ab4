"""Where the model and adapters are on disk; huggingface-hub only, so a bad reference fails before torch loads."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from kaito_runtime.hub import snapshot_folder
from kaito_runtime.paths import resolve

# Weight formats transformers does not load into a PyTorch model; skipping them can halve a download.
_IGNORED_WEIGHT_PATTERNS = ["*.pth", "*.pt", "original/*", "*.gguf", "*.onnx", "onnx/*", "*.msgpack", "*.h5",
                            "*.tflite", "*.ot"]


def model_folder(options: argparse.Namespace) -> Path:
    """A local folder holding the model: ``--model`` itself, or its snapshot in the hub cache ``--download-dir``.

    Raises ``kaito_runtime.hub.ModelUnavailable`` when the model is neither cached nor downloadable.
    """
    if options.model.startswith("/"):
        folder = resolve(options.model)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: no config.json, not a model folder")
        return folder
    code = [] if options.trust_remote_code else ["*.py"]  # remote code is not even fetched unless trusted
    return snapshot_folder(options.model, options.download_dir, options.revision,
                           ignore_patterns=_IGNORED_WEIGHT_PATTERNS + code)


def discover_adapters(adapters_dir: str) -> dict[str, Path]:
    """Sub-directories of ``--adapters-dir`` that hold an ``adapter_config.json``, by name."""
    root = resolve(adapters_dir)
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir()) if (d / "adapter_config.json").is_file()}


def adapter_strengths(found: dict[str, Path], requested: list[tuple[str, float]]) -> dict[str, float]:
    """Strength of every adapter found: 1.0 unless ``--adapter-strength`` says otherwise."""
    strengths = dict.fromkeys(found, 1.0)
    for name, strength in requested:
        if name not in found:
            raise ValueError(f"--adapter-strength {name}: no adapter directory {name!r} (found {sorted(found)})")
        strengths[name] = strength
    return strengths


@dataclass(frozen=True)
class Located:
    model_folder: Path
    adapters: dict[str, Path]
    strengths: dict[str, float]


def locate(options: argparse.Namespace) -> Located:
    """Resolve (and download) the model and check the adapters against the flags."""
    adapters = discover_adapters(options.adapters_dir)
    if options.served_model_name in adapters:
        raise ValueError(f"adapter {options.served_model_name!r} has the served model's name")
    strengths = adapter_strengths(adapters, options.adapter_strength)
    return Located(model_folder(options), adapters, strengths)
