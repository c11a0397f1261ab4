"""Training data: find the files, recognise their shape, convert to trl's dataset formats, split.

Accepted files: parquet, JSON, JSONL, CSV (and arrow). Accepted shapes, first match wins:

* conversational: a ``messages`` column of ``[{role, content}, ...]`` (the dolly-15k-oai-style shape);
* prompt/completion: ``prompt`` + ``completion`` columns, or instruction-style pairs such as dolly's
  ``instruction``/``context``/``response`` or alpaca's ``instruction``/``input``/``output``;
* plain text: the ``DatasetConfig.response_column`` column (``text`` by default).

``DatasetConfig.messages_column`` or ``context_column`` (+ ``response_column``) pin the columns instead.
Pairs become chat turns when the tokenizer has a chat template, so trl applies the model's template.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets.exceptions import DatasetsError

from kaito_runtime.paths import resolve
from kaito_runtime.tuning.config import OUTPUT_BASE_DIR, DatasetConfig
from kaito_runtime.tuning.preflight import TuningSetupError

log = logging.getLogger(__name__)

_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}
_EXTENSION_BUILDERS = {"parquet": "parquet", "json": "json", "jsonl": "json", "csv": "csv", "arrow": "arrow"}
PROMPT_COLUMNS = ("instruction", "prompt", "question")
CONTEXT_COLUMNS = ("context", "input")
RESPONSE_COLUMNS = ("response", "completion", "output", "answer")


class DatasetFormatError(TuningSetupError):
    """The data cannot be used for training; the message says what was found and what is expected."""


@dataclass(frozen=True)
class DataShape:
    """Which columns feed training: ``kind`` is ``messages``, ``pair`` or ``text``."""

    kind: str
    prompt: str | None = None
    context: str | None = None
    response: str | None = None
    messages: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class TrainingData:
    """Train and optional eval split, already in a format trl's SFTTrainer understands."""

    train: datasets.Dataset
    eval: datasets.Dataset | None
    shape: DataShape
    files: tuple[Path, ...]


def load_training_data(data_dir: str, config: DatasetConfig, *, chat_template: bool) -> TrainingData:
    """Read, recognise, convert, shuffle and split the data as ``config`` says."""
    builder, files = find_data_files(data_dir, config)
    raw = _read(builder, files)
    shape = detect_shape(raw.column_names, config)
    log.info("training data: %d rows from %s, shape %s", raw.num_rows, ", ".join(f.name for f in files), shape)
    converted = to_trl_format(raw, shape, chat_template=chat_template)
    if converted.num_rows == 0:
        raise DatasetFormatError(f"no usable rows in {', '.join(str(f) for f in files)} (all empty)")
    if config.shuffle_dataset:
        converted = converted.shuffle(seed=config.shuffle_seed)
    train, evaluation = split(converted, config)
    return TrainingData(train=train, eval=evaluation, shape=shape, files=tuple(files))


def _read(builder: str, files: list[Path]) -> datasets.Dataset:
    try:
        return datasets.load_dataset(builder, data_files=[str(f) for f in files], split="train")
    except DatasetsError as error:
        cause = error.__cause__ or error  # datasets wraps the parser's message
        names = ", ".join(f.name for f in files)
        raise DatasetFormatError(f"cannot read {names} as {builder}: {cause}") from error


def find_data_files(data_dir: str, config: DatasetConfig) -> tuple[str, list[Path]]:
    """The ``datasets`` builder name and the files to load.

    ``dataset_path`` (relative to ``/mnt``, as in Kaito) names one file or folder; otherwise every data file
    under ``data_dir`` is used, and they must all have the same format.
    """
    root = resolve(f"{OUTPUT_BASE_DIR}/{config.dataset_path.strip('/')}") if config.dataset_path else resolve(data_dir)
    if not root.exists():
        raise DatasetFormatError(f"data path {root} does not exist")
    if root.is_file():
        builder = _EXTENSION_BUILDERS.get(config.dataset_extension or "") or _BUILDERS.get(root.suffix.lower())
        if builder is None:
            raise DatasetFormatError(f"cannot tell the format of {root}; set DatasetConfig.dataset_extension")
        return builder, [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _BUILDERS)
    if config.dataset_extension:
        wanted = _EXTENSION_BUILDERS[config.dataset_extension]
        files = [p for p in files if _BUILDERS[p.suffix.lower()] == wanted]
    if not files:
        found = ", ".join(sorted(p.name for p in root.iterdir())) or "nothing"
        expected = ", ".join(sorted(_BUILDERS))
        raise DatasetFormatError(f"no data file in {root} (found: {found}); expected {expected} files")
    builders = {_BUILDERS[p.suffix.lower()] for p in files}
    if len(builders) > 1:
        raise DatasetFormatError(
            f"data files of different formats in {root}: {', '.join(p.name for p in files)}; "
            "keep one format or set DatasetConfig.dataset_path"
        )
    return builders.pop(), files


def detect_shape(columns: Sequence[str], config: DatasetConfig) -> DataShape:
    """Pick the training columns, or explain which columns were found and which are expected."""
    present = set(columns)
    if config.messages_column:
        _require_columns(columns, config.messages_column)
        return DataShape("messages", messages=config.messages_column)
    if config.context_column:
        _require_columns(columns, config.context_column, config.response_column)
        return DataShape("pair", prompt=config.context_column, response=config.response_column)
    if "messages" in present:
        return DataShape("messages", messages="messages")
    prompt = _first_present(PROMPT_COLUMNS, present)
    response = _first_present(RESPONSE_COLUMNS, present - {prompt})
    if prompt and response:
        return DataShape("pair", prompt=prompt, context=_first_present(CONTEXT_COLUMNS, present), response=response)
    if config.response_column in present:
        return DataShape("text", text=config.response_column)
    raise DatasetFormatError(
        f"no usable column in the dataset; found columns: {', '.join(columns) or 'none'}. Expected a 'messages' "
        f"column (conversational), a prompt column ({', '.join(PROMPT_COLUMNS)}) with a response column "
        f"({', '.join(RESPONSE_COLUMNS)}), or a '{config.response_column}' text column; or name the columns in "
        "DatasetConfig (messages_column, context_column + response_column)"
    )


def _first_present(names: Sequence[str], present: set[str]) -> str | None:
    return next((name for name in names if name in present), None)


def _require_columns(columns: Sequence[str], *wanted: str) -> None:
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise DatasetFormatError(
            f"DatasetConfig names column(s) {', '.join(missing)} that the dataset lacks; "
            f"found columns: {', '.join(columns)}"
        )


def to_trl_format(raw: datasets.Dataset, shape: DataShape, *, chat_template: bool) -> datasets.Dataset:
    """Rows as trl expects: ``messages``, ``prompt``/``completion`` or ``text``; empty rows dropped."""
    if shape.kind == "messages":
        _check_messages(raw[0][shape.messages] if raw.num_rows else [], shape.messages)
        return _only_column(raw, shape.messages, "messages")
    if shape.kind == "text":
        return _only_column(raw, shape.text, "text")
    as_pair = _pair_converter(shape, chat_template)
    kept = raw.filter(lambda row: bool(row[shape.prompt]) and bool(row[shape.response]))
    return kept.map(as_pair, remove_columns=raw.column_names)


def _only_column(raw: datasets.Dataset, column: str, name: str) -> datasets.Dataset:
    kept = raw.select_columns([column]).filter(lambda row: bool(row[column]))
    return kept.rename_column(column, name) if column != name else kept


def _pair_converter(shape: DataShape, chat_template: bool):
    def as_pair(row: dict) -> dict:
        prompt = str(row[shape.prompt])
        if shape.context and row.get(shape.context):
            prompt = f"{prompt}\n\n{row[shape.context]}"
        response = str(row[shape.response])
        if chat_template:
            return {
                "prompt": [{"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": response}],
            }
        return {"prompt": f"{prompt}\n", "completion": response}

    return as_pair


def _check_messages(first: object, column: str) -> None:
    valid = isinstance(first, list) and all(isinstance(m, dict) and {"role", "content"} <= m.keys() for m in first)
    if not valid:
        raise DatasetFormatError(
            f"column '{column}' must hold lists of {{role, content}} messages, got {str(first)[:200]!r}"
        )


def split(dataset: datasets.Dataset, config: DatasetConfig) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """Kaito's ``train_test_split``: the train fraction; 1 keeps everything for training."""
    if config.train_test_split >= 1:
        return dataset, None
    parts = dataset.train_test_split(test_size=1 - config.train_test_split, seed=config.shuffle_seed)
    return parts["train"], parts["test"]
