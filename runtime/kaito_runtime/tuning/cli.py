"""Command line of the tuning runner: ``python3 -m kaito_runtime.tuning`` (docs/runtime-contract.md).

``build_parser`` imports nothing heavy: the compiler's tests parse the emitted Job arguments with it.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence

from kaito_runtime.hub import MODEL_UNAVAILABLE_EXIT_CODE, ModelUnavailable
from kaito_runtime.tuning.config import METHODS, TrainingConfigError, load_training_config
from kaito_runtime.tuning.preflight import TuningSetupError, check_quantization_device, read_config_text

_HF_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


def model_reference(value: str) -> str:
    """A Hugging Face repo id (``org/name``) or an absolute path; nothing else reaches the loader."""
    if value.startswith("/") or (_HF_REPO_ID.match(value) and ".." not in value):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is neither a Hugging Face repo id (org/name) nor an absolute path")


KNOWN_FAILURES = (TrainingConfigError, TuningSetupError)  # data errors are TuningSetupErrors too


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m kaito_runtime.tuning",
        description="Fine-tune a causal LM with LoRA or QLoRA from Kaito's training_config.yaml.",
    )
    parser.add_argument("--model", required=True, type=model_reference, help="HF repo id or absolute model folder")
    parser.add_argument("--download-dir", default="/workspace/weights", help="HF cache folder for --model")
    parser.add_argument("--method", required=True, choices=METHODS)
    parser.add_argument("--config-file", default="/mnt/config/training_config.yaml")
    parser.add_argument("--data-dir", default="/mnt/data", help="folder with parquet/JSON/JSONL/CSV files")
    parser.add_argument("--output-dir", default="/mnt/results", help="adapter, metrics.jsonl, completion marker")
    parser.add_argument("--trust-remote-code", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        output_dir = _run(args)
    except KNOWN_FAILURES as error:
        print(f"kaito-tuning: error: {error}", file=sys.stderr)
        return 2
    except ModelUnavailable as error:
        print(f"kaito-tuning: error: {error}", file=sys.stderr)
        return MODEL_UNAVAILABLE_EXIT_CODE
    logging.getLogger(__name__).info("fine-tuning completed: adapter in %s", output_dir)
    return 0


def _run(args: argparse.Namespace):
    """Config and GPU checks first (light), then the ML stack."""
    config_text = read_config_text(args.config_file)
    config = load_training_config(config_text, args.method)
    import torch

    check_quantization_device(config, torch.cuda.is_available())
    from kaito_runtime.tuning.runner import RunRequest, run

    request = RunRequest(
        model=args.model,
        download_dir=args.download_dir,
        method=args.method,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        trust_remote_code=args.trust_remote_code,
    )
    return run(request, config, config_text)
