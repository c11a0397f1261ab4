"""A workload's model in the Hugging Face hub cache ``--download-dir``, shared by the inference server and the
tuning runner so that both fail the same way when the model can be neither found there nor downloaded."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, HfHubHTTPError, LocalEntryNotFoundError

from kaito_runtime.paths import resolve

MODEL_UNAVAILABLE_EXIT_CODE = 3  # docs/runtime-contract.md: the same for the server and the tuning runner


class ModelUnavailable(Exception):
    """The model is not in the cache and cannot be downloaded; the one-line message names both."""


def snapshot_folder(model: str, download_dir: str, revision: str | None, *, ignore_patterns: Sequence[str]) -> Path:
    """The snapshot of ``model`` in the hub cache ``download_dir``, downloaded first when it is missing.

    ``snapshot_download`` reuses a complete cache and honours ``HF_HUB_OFFLINE`` and ``HF_TOKEN``.
    """
    cache = resolve(download_dir)
    try:
        folder = snapshot_download(repo_id=model, revision=revision, cache_dir=str(cache),
                                   ignore_patterns=list(ignore_patterns))
    except (HFValidationError, LocalEntryNotFoundError, HfHubHTTPError) as error:
        raise ModelUnavailable(_unavailable_message(model, revision, download_dir, cache, error)) from None
    return Path(folder)


def _unavailable_message(model: str, revision: str | None, download_dir: str, cache: Path, error: Exception) -> str:
    where = download_dir if str(cache) == download_dir else f"{download_dir} (at {cache})"
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") else ""
    reason = " ".join(str(error).split())[:300]
    return (f"model {model!r} (revision {revision or 'main'}) is not in the Hugging Face cache {where} and cannot "
            f"be downloaded{offline}: {type(error).__name__}: {reason}")
