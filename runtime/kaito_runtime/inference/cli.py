"""Command line of ``python3 -m kaito_runtime.inference`` (docs/runtime-contract.md, "Inference server").

``build_parser()`` is imported by the compiler's tests, which feed it the args of compiled Deployments, so every
flag the compiler emits must parse here and values are validated by the parser itself.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from kaito_runtime.paths import resolve

log = logging.getLogger(__name__)

# Adapter and served names become `model` ids in the API and metric labels: keep them to a safe alphabet.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Keys of inference_config.yaml that configure Kaito's vLLM runtime; this server has no use for them.
_VLLM_ONLY_CONFIG_KEYS = frozenset({"vllm", "kv_cache_cpu_memory_utilization", "max_probe_steps"})
CONFIG_SECTION = "transformers"


def model_reference(value: str) -> str:
    """An absolute folder path, or a Hugging Face repo id such as ``microsoft/phi-3-mini-4k-instruct``."""
    if value.startswith("/"):
        return value
    try:
        validate_repo_id(value)
    except HFValidationError as error:
        raise argparse.ArgumentTypeError(f"not an absolute path nor a Hugging Face repo id: {error}") from None
    return value


def served_name(value: str) -> str:
    if not _NAME.match(value):
        raise argparse.ArgumentTypeError(f"{value!r}: use letters, digits, '.', '_' or '-' (at most 128)")
    return value


def adapter_strength(value: str) -> tuple[str, float]:
    """``<adapter name>=<float in [0, 1]>``, the weight of an adapter in the combined default model."""
    name, sep, number = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{value!r}: expected <adapter name>=<strength>")
    served_name(name)
    try:
        strength = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: strength {number!r} is not a number") from None
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise argparse.ArgumentTypeError(f"{value!r}: strength must be between 0 and 1")
    return name, strength


def _bounded(kind: type, low: float, high: float | None = None):
    def parse(value: str):
        number = kind(value)
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"{value} is outside [{low}, {high if high is not None else '∞'}]")
        return number

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m kaito_runtime.inference",
        description="OpenAI-compatible and Kaito /chat inference server for transformers causal LMs.",
    )
    model = parser.add_argument_group("model")
    model.add_argument("--model", required=True, type=model_reference,
                       help="Hugging Face repo id (downloaded into --download-dir) or absolute model folder")
    model.add_argument("--served-model-name", type=served_name,
                       help="`model` id of the base model in the API (default: last segment of --model)")
    model.add_argument("--download-dir", default="/workspace/weights", help="Hugging Face hub cache directory")
    model.add_argument("--revision", help="branch, tag or commit of the repo to download (default: main)")
    model.add_argument("--dtype", choices=("auto", "float16", "bfloat16", "float32"), default="auto")
    model.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="auto: spread over all visible GPUs when there are any, else CPU")
    model.add_argument("--trust-remote-code", action="store_true",
                       help="allow Python code shipped with the model repo to run")
    model.add_argument("--adapters-dir", default="/mnt/adapter",
                       help="every sub-directory holding adapter_config.json is a LoRA adapter")
    model.add_argument("--adapter-strength", action="append", type=adapter_strength, default=[],
                       metavar="NAME=STRENGTH", help="weight of an adapter in the default model (default 1.0)")
    model.add_argument("--config-file", help="inference_config.yaml; its `transformers:` map overrides flags")

    serving = parser.add_argument_group("serving")
    serving.add_argument("--host", default="0.0.0.0")
    serving.add_argument("--port", type=_bounded(int, 1, 65535), default=5000)
    serving.add_argument("--max-batch-size", type=_bounded(int, 1), default=16,
                         help="sequences generated together in one forward pass")
    serving.add_argument("--batch-window-ms", type=_bounded(float, 0, 1000), default=5.0,
                         help="how long a batch waits for more requests after the first one arrives")
    serving.add_argument("--max-queue-size", type=_bounded(int, 0), default=64,
                         help="waiting requests beyond this are answered 429 with Retry-After")
    serving.add_argument("--max-request-bytes", type=_bounded(int, 1), default=1 << 20,
                         help="larger request bodies are answered 413")
    serving.add_argument("--max-tokens-limit", type=_bounded(int, 1), default=4096,
                         help="largest max_tokens a request may ask for (400 above)")
    serving.add_argument("--default-max-tokens", type=_bounded(int, 1), default=256,
                         help="max_tokens of requests that do not set it")
    serving.add_argument("--request-timeout", type=_bounded(float, 0.001), default=300.0,
                         help="seconds a request may spend queued and generating (408 beyond)")
    serving.add_argument("--scheduler", choices=("continuous", "dynamic"), default="continuous",
                         help="continuous: requests join the running batch between decode steps; dynamic: "
                              "requests arriving together share one generate() call")
    serving.add_argument("--threads", type=_bounded(int, 1), default=None,
                         help="torch threads (default: OMP_NUM_THREADS if set, else the container's CPU limit)")

    connections = parser.add_argument_group("connections")
    connections.add_argument("--header-timeout", type=_bounded(float, 0.01), default=10.0,
                             help="seconds a connection may take to send a request's headers")
    connections.add_argument("--keep-alive-timeout", type=_bounded(float, 0.01), default=5.0,
                             help="seconds an idle keep-alive connection stays open")
    connections.add_argument("--max-connections", type=_bounded(int, 1), default=512,
                             help="open connections; beyond, the longest-idle one is closed")
    connections.add_argument("--max-header-bytes", type=_bounded(int, 1024), default=16384,
                             help="larger request headers are answered 431")
    return parser


def config_file_args(path: str) -> list[str]:
    """Flags from the ``transformers:`` map of an inference config file, in ``--key=value`` form."""
    document = yaml.safe_load(resolve(path).read_text()) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    unknown = set(document) - _VLLM_ONLY_CONFIG_KEYS - {CONFIG_SECTION}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}; put server flags under `{CONFIG_SECTION}:`")
    for key in sorted(set(document) & _VLLM_ONLY_CONFIG_KEYS):
        log.warning("%s: `%s` configures the vLLM runtime and is ignored by this server", path, key)
    section = document.get(CONFIG_SECTION) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: `{CONFIG_SECTION}` must be a mapping of flag names to values")
    return [arg for key, value in section.items() for arg in _flag(key, value)]


def _flag(key: str, value: Any) -> list[str]:
    option = f"--{key}"
    if value is True:
        return [option]
    if value is False or value is None:
        return []
    if isinstance(value, list):
        return [f"{option}={item}" for item in value]
    return [f"{option}={value}"]


def parse_options(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line, then again with the config file's flags appended so that they win (as in Kaito)."""
    parser = build_parser()
    args = list(sys.argv[1:] if argv is None else argv)
    options = parser.parse_args(args)
    if options.config_file:
        try:
            extra = config_file_args(options.config_file)
        except (OSError, ValueError, yaml.YAMLError) as error:
            parser.error(f"--config-file: {error}")
        options = parser.parse_args([*args, *extra])
    if options.served_model_name is None:
        default_name = options.model.rstrip("/").rsplit("/", 1)[-1].lower()
        if not _NAME.match(default_name):
            parser.error(f"--served-model-name is required: {default_name!r} is not a valid name")
        options.served_model_name = default_name
    return options
