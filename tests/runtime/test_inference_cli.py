"""The inference command line: the contract's flags, value validation, the config file, and path remapping."""

from __future__ import annotations

import logging

import pytest
from kaito_runtime.inference.cli import build_parser, parse_options
from kaito_runtime.paths import resolve


def test_the_seed_command_line_parses_into_the_contract_values(seed_argv):
    assert seed_argv[:3] == ["python3", "-m", "kaito_runtime.inference"]

    options = build_parser().parse_args(seed_argv[3:])

    assert options.model.startswith("microsoft/phi-3-mini-") and options.model == options.model.lower()
    assert options.served_model_name == options.model.split("/")[1]
    assert (options.download_dir, options.port, options.adapters_dir) == ("/workspace/weights", 5000, "/mnt/adapter")
    assert [name for name, _ in options.adapter_strength] == ["phi-3-adapter"]


def test_optional_contract_flags_parse():
    options = build_parser().parse_args([
        "--model=/workspace/weights", "--served-model-name=x", "--download-dir=/w", "--dtype=float16",
        "--port=5000", "--adapters-dir=/mnt/adapter", "--adapter-strength=a=0.25", "--adapter-strength=b=1",
        "--trust-remote-code", "--config-file=/mnt/config/inference_config.yaml",
    ])

    assert options.adapter_strength == [("a", 0.25), ("b", 1.0)]
    assert options.trust_remote_code and options.config_file == "/mnt/config/inference_config.yaml"


@pytest.mark.parametrize("bad", [
    "--model=https://example.com/model",
    "--model=org/../etc",
    "--model=relative/path/too/deep",
    "--served-model-name=has space",
    "--adapter-strength=no-equals-sign",
    "--adapter-strength=a=1.5",
    "--adapter-strength=a=nan",
    "--adapter-strength=a=strong",
    "--dtype=float8",
    "--port=70000",
    "--max-batch-size=0",
])
def test_invalid_values_are_rejected_by_the_parser(bad, capsys):
    argv = [bad] if bad.startswith("--model") else ["--model=org/name", bad]

    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)

    assert exit_.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_served_name_defaults_to_the_lower_cased_last_segment_of_the_model():
    assert parse_options(["--model=microsoft/Phi-3-mini-4k-instruct"]).served_model_name == "phi-3-mini-4k-instruct"


def test_config_file_transformers_section_overrides_flags_and_vllm_keys_are_ignored(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    config = tmp_path / "mnt" / "config" / "inference_config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "vllm:\n  cpu-offload-gb: 0\n"
        "transformers:\n  max-batch-size: 4\n  request-timeout: 30\n  trust-remote-code: true\n"
        "  adapter-strength: [a=0.5]\n"
    )
    argv = ["--model=org/name", "--max-batch-size=16", "--config-file=/mnt/config/inference_config.yaml"]

    with caplog.at_level(logging.WARNING):
        options = parse_options(argv)

    assert (options.max_batch_size, options.request_timeout, options.trust_remote_code) == (4, 30.0, True)
    assert options.adapter_strength == [("a", 0.5)]
    assert "`vllm` configures the vLLM runtime and is ignored" in caplog.text


@pytest.mark.parametrize("content, message", [
    ("max-batch-size: 4\n", "unknown keys ['max-batch-size']"),
    ("transformers:\n  no-such-flag: 1\n", "unrecognized arguments: --no-such-flag=1"),
    ("transformers:\n  max-batch-size: many\n", "argument --max-batch-size"),
    ("[1, 2]\n", "expected a mapping"),
])
def test_config_file_mistakes_stop_the_server_with_a_clear_message(tmp_path, content, message, capsys):
    config = tmp_path / "inference_config.yaml"
    config.write_text(content)

    with pytest.raises(SystemExit):
        parse_options(["--model=org/name", f"--config-file={config}"])

    assert message in capsys.readouterr().err


def test_missing_config_file_is_reported(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_options(["--model=org/name", f"--config-file={tmp_path}/absent.yaml"])

    assert "absent.yaml" in capsys.readouterr().err


def test_resolve_remaps_absolute_paths_under_the_runtime_root(monkeypatch, tmp_path):
    monkeypatch.delenv("KAITO_RUNTIME_ROOT", raising=False)
    assert str(resolve("/workspace/weights")) == "/workspace/weights"

    monkeypatch.setenv("KAITO_RUNTIME_ROOT", str(tmp_path))
    assert resolve("/workspace/weights") == tmp_path / "workspace" / "weights"
    assert resolve("/mnt/../../etc/passwd") == tmp_path / "etc" / "passwd"  # cannot climb out of the root
    assert str(resolve("relative/file")) == "relative/file"
