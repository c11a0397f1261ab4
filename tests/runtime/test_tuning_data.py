"""Training data: every file format and dataset shape the runner accepts, and the clear errors it gives."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaito_runtime.tuning.config import DatasetConfig
from kaito_runtime.tuning.data import DatasetFormatError, find_data_files, load_training_data

NO_SPLIT = DatasetConfig(train_test_split=1, shuffle_dataset=False)

DOLLY_OAI_ROWS = [
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": f"What is item {i}?"},
            {"role": "assistant", "content": f"Item {i} is a thing."},
        ]
    }
    for i in range(5)
]


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_parquet_messages_in_the_dolly_oai_shape(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "train-00000-of-00001.parquet", DOLLY_OAI_ROWS)
    data = load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)
    assert data.shape.kind == "messages" and data.eval is None
    assert data.train.column_names == ["messages"]
    assert data.train[2]["messages"] == DOLLY_OAI_ROWS[2]["messages"]


def test_json_array_of_dolly_instruction_context_response_becomes_chat_turns(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Summarise", "context": "Kaito runs models.", "response": "It runs models.", "category": "x"},
        {"instruction": "Say hi", "context": "", "response": "Hi!", "category": "y"},
    ]
    (tmp_path / "dolly.json").write_text(json.dumps(rows))
    data = load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)
    assert (data.shape.prompt, data.shape.context, data.shape.response) == ("instruction", "context", "response")
    assert data.train[0] == {
        "prompt": [{"role": "user", "content": "Summarise\n\nKaito runs models."}],
        "completion": [{"role": "assistant", "content": "It runs models."}],
    }
    assert data.train[1]["prompt"] == [{"role": "user", "content": "Say hi"}]


def test_jsonl_alpaca_pairs_become_plain_prompt_completion_without_a_chat_template(tmp_path: Path) -> None:
    rows = [{"instruction": "Add", "input": "1 and 2", "output": "3"}, {"instruction": "Name it", "output": "Kaito"}]
    _write_jsonl(tmp_path / "alpaca.jsonl", rows)
    data = load_training_data(str(tmp_path), NO_SPLIT, chat_template=False)
    assert data.train.to_list() == [
        {"prompt": "Add\n\n1 and 2\n", "completion": "3"},
        {"prompt": "Name it\n", "completion": "Kaito"},
    ]


def test_jsonl_prompt_completion_columns(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "pc.jsonl", [{"prompt": "2+2=", "completion": "4"}])
    data = load_training_data(str(tmp_path), NO_SPLIT, chat_template=False)
    assert data.train.to_list() == [{"prompt": "2+2=\n", "completion": "4"}]


def test_csv_plain_text_and_empty_rows_dropped(tmp_path: Path) -> None:
    _write_csv(tmp_path / "corpus.csv", [{"text": "first line"}, {"text": ""}, {"text": "third line"}])
    data = load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)
    assert data.shape.kind == "text"
    assert data.train.to_list() == [{"text": "first line"}, {"text": "third line"}]


def test_configured_columns_win_over_detection(tmp_path: Path) -> None:
    rows = [{"question": "q?", "body": "some text", "dialog": [{"role": "user", "content": "hey"}]}]
    _write_jsonl(tmp_path / "x.jsonl", rows)
    text_config = DatasetConfig(response_column="body", train_test_split=1)
    assert load_training_data(str(tmp_path), text_config, chat_template=True).train.to_list() == [{"text": "some text"}]
    chat = load_training_data(str(tmp_path), DatasetConfig(messages_column="dialog", train_test_split=1),
                              chat_template=True)
    assert chat.train.to_list() == [{"messages": [{"role": "user", "content": "hey"}]}]
    pair = DatasetConfig(context_column="question", response_column="body", train_test_split=1)
    assert load_training_data(str(tmp_path), pair, chat_template=False).train.to_list() == [
        {"prompt": "q?\n", "completion": "some text"}
    ]


def test_configured_column_missing_names_what_exists(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "x.jsonl", [{"text": "a"}])
    with pytest.raises(DatasetFormatError, match=r"column\(s\) convo .*found columns: text"):
        load_training_data(str(tmp_path), DatasetConfig(messages_column="convo"), chat_template=True)


def test_no_usable_column_names_the_columns_found(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "odd.parquet", [{"title": "t", "body": "b"}])
    with pytest.raises(DatasetFormatError, match="found columns: title, body") as raised:
        load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)
    assert "messages" in str(raised.value) and "response_column" in str(raised.value)


def test_unparseable_files_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"text": broken\n')
    with pytest.raises(DatasetFormatError, match=r"cannot read bad.jsonl as json: .*JSON parse error"):
        load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)


def test_malformed_messages_are_rejected(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "bad.jsonl", [{"messages": ["just a string"]}])
    with pytest.raises(DatasetFormatError, match="lists of {role, content}"):
        load_training_data(str(tmp_path), NO_SPLIT, chat_template=True)


def test_train_test_split_and_shuffle_follow_dataset_config(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "t.jsonl", [{"text": f"row {i}"} for i in range(10)])
    data = load_training_data(str(tmp_path), DatasetConfig(train_test_split=0.8, shuffle_seed=7), chat_template=False)
    assert (data.train.num_rows, data.eval.num_rows) == (8, 2)
    texts = sorted([*data.train["text"], *data.eval["text"]])
    assert texts == sorted(f"row {i}" for i in range(10))
    unshuffled = load_training_data(str(tmp_path), NO_SPLIT, chat_template=False)
    assert list(unshuffled.train["text"]) == [f"row {i}" for i in range(10)]


def test_every_file_of_one_format_in_the_folder_is_used(tmp_path: Path) -> None:
    _write_jsonl(tmp_path / "a.jsonl", [{"text": "a"}])
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "b.json").write_text(json.dumps([{"text": "b"}]))
    (tmp_path / "README.md").write_text("not data")
    builder, files = find_data_files(str(tmp_path), NO_SPLIT)
    assert builder == "json" and [f.name for f in files] == ["a.jsonl", "b.json"]
    assert list(load_training_data(str(tmp_path), NO_SPLIT, chat_template=False).train["text"]) == ["a", "b"]


def test_mixed_formats_and_empty_folders_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetFormatError, match=r"no data file .*found: notes.txt"):
        find_data_files(str(tmp_path), NO_SPLIT)
    _write_jsonl(tmp_path / "a.jsonl", [{"text": "a"}])
    _write_csv(tmp_path / "b.csv", [{"text": "b"}])
    with pytest.raises(DatasetFormatError, match="different formats"):
        find_data_files(str(tmp_path), NO_SPLIT)
    assert find_data_files(str(tmp_path), DatasetConfig(dataset_extension="csv"))[1] == [tmp_path / "b.csv"]


def test_dataset_path_is_relative_to_mnt_under_the_runtime_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    target = _write_parquet(tmp_path / "mnt" / "data" / "sub" / "chat.parquet", DOLLY_OAI_ROWS)
    _write_jsonl(tmp_path / "mnt" / "data" / "other.jsonl", [{"text": "ignored"}])
    assert find_data_files("/mnt/data", DatasetConfig(dataset_path="data/sub/chat.parquet")) == ("parquet", [target])
    with pytest.raises(DatasetFormatError, match="does not exist"):
        find_data_files("/mnt/data", DatasetConfig(dataset_path="/data/missing.parquet"))
