"""The output folder: resumable checkpoints, the run fingerprint and the completion marker (no ML imports).

A restarted Job resumes from the newest complete checkpoint only if the run's inputs (config, model,
method, data files) are unchanged; checkpoints of a different run are discarded, and a stale completion
marker is removed before training so the pusher never ships an old adapter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any

from kaito_runtime.tuning.config import COMPLETION_MARKER
from kaito_runtime.tuning.preflight import TuningSetupError

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
RUN_FILE = ".kaito-tuning-run.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
CHECKPOINT_PREFIX = "checkpoint"  # transformers' Trainer names checkpoints checkpoint-<step>
_CHECKPOINT = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)$")


def run_fingerprint(model: str, method: str, config_text: str, data_files: tuple[Path, ...]) -> dict[str, Any]:
    """What must not change for a checkpoint to be resumable (data by name and size: URL inputs are
    downloaded again by every new pod)."""
    return {
        "model": model,
        "method": method,
        "config_sha256": hashlib.sha256(config_text.encode()).hexdigest(),
        "data_files": [[path.name, path.stat().st_size] for path in data_files],
    }


def prepare_output_dir(output_dir: Path, fingerprint: dict[str, Any]) -> Path | None:
    """Create the folder, drop a stale completion marker and return the checkpoint to resume from, if any."""
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / COMPLETION_MARKER).unlink(missing_ok=True)
    run_file = output_dir / RUN_FILE
    previous = json.loads(run_file.read_text()) if run_file.is_file() else None
    checkpoints = complete_checkpoints(output_dir)
    if checkpoints and previous == fingerprint:
        return checkpoints[-1]
    if checkpoints:
        log.warning("discarding %d checkpoint(s) of a run with other inputs", len(checkpoints))
        for checkpoint in checkpoints:
            shutil.rmtree(checkpoint)
    run_file.write_text(json.dumps(fingerprint))
    return None


def complete_checkpoints(output_dir: Path) -> list[Path]:
    """Checkpoint folders oldest first; ``trainer_state.json`` is written last, so it marks a complete one."""
    found = [
        (int(match.group(1)), path)
        for path in output_dir.iterdir()
        if (match := _CHECKPOINT.match(path.name)) and (path / "trainer_state.json").is_file()
    ]
    return [path for _, path in sorted(found)]


def write_completion_marker(output_dir: Path) -> None:
    """Written last and atomically: the pusher sidecar ships the adapter as soon as the marker appears."""
    missing = [name for name in ADAPTER_FILES if not (output_dir / name).is_file()]
    if missing:
        raise TuningSetupError(f"training finished but {', '.join(missing)} is missing in {output_dir}")
    partial = output_dir / f".{COMPLETION_MARKER}.partial"
    partial.write_text(f"fine-tuning completed at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
    partial.replace(output_dir / COMPLETION_MARKER)


def append_metrics(output_dir: Path, record: dict[str, Any]) -> None:
    with (output_dir / METRICS_FILE).open("a") as sink:
        sink.write(json.dumps({"time": round(time.time(), 3), **record}) + "\n")
