"""Kaito's ``training_config.yaml``: sections, defaults, default templates and validation.

Pure Python on purpose: the compiler imports this module (rules TC1–TC4 of the admission webhook) without
torch or transformers installed, and the tuning runner imports the same code, so a config the compiler
accepts is a config the runner accepts.

The file has one top-level key, ``training_config``, holding up to six sections. Four are defined here as
data (``ModelConfig``, ``QuantizationConfig``, ``DataCollator``, ``DatasetConfig``): unknown keys and wrong
types in them are reported, because Kaito's runner rejects them at pod start (its ``HfArgumentParser`` does).
``LoraConfig`` (peft ``LoraConfig``) and ``TrainingArguments`` (trl ``SFTConfig``) are passed through to
those libraries, which check them when the runner starts; only ``output_dir`` is checked here (TC4).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import posixpath
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml

ROOT_KEY = "training_config"
CONFIG_FILE_NAME = "training_config.yaml"
COMPLETION_MARKER = "fine_tuning_completed.txt"
METHODS = ("lora", "qlora")
DEFAULT_TEMPLATE_CONFIGMAP_NAMES = {"lora": "lora-params-template", "qlora": "qlora-params-template"}
OUTPUT_BASE_DIR = "/mnt"
DEFAULT_OUTPUT_DIR = "/mnt/output"
DATASET_EXTENSIONS = ("parquet", "json", "jsonl", "csv", "arrow")
TORCH_DTYPES = ("auto", "bfloat16", "float16", "float32")
BNB_COMPUTE_DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class ConfigProblem:
    """One reason a training config is rejected.

    ``code`` names Kaito's webhook rule ("TC1".."TC4"); ``path`` is the key path into the YAML document
    (e.g. ``("training_config", "QuantizationConfig", "load_in_4bit")``) so callers can point at a line.
    """

    code: str
    path: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return f"{self.code} {'.'.join(self.path) or '<document>'}: {self.message}"


class TrainingConfigError(ValueError):
    """A training config with at least one :class:`ConfigProblem`."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("invalid training_config.yaml:\n" + "\n".join(f"  {p}" for p in self.problems))


# --- sections defined as data ------------------------------------------------------------------------
# Field metadata: "choices" (allowed values), "check" ((predicate, message)), "code" (rule if not the
# section's), "hint" (extra words for an unknown or unsupported key).


@dataclass(frozen=True)
class ModelConfig:
    """How the base model and tokenizer load (Kaito's ``ModelConfig`` plus ``allow_cpu_qlora``).

    The weights source is decided by the runner's ``--model``/``--download-dir`` flags (the compiler's
    choice), so ``pretrained_model_name_or_path``, ``cache_dir``, ``local_files_only`` and the other
    download knobs are accepted for compatibility with Kaito configs but superseded (the runner logs it).
    """

    pretrained_model_name_or_path: Optional[str] = "/workspace/tfs/weights"
    state_dict: Optional[dict] = None
    cache_dir: Optional[str] = None
    from_tf: bool = False
    force_download: bool = False
    resume_download: bool = False
    proxies: Optional[str] = None
    output_loading_info: bool = False
    local_files_only: bool = False
    revision: str = "main"
    trust_remote_code: bool = False
    torch_dtype: Optional[str] = field(default=None, metadata={"choices": TORCH_DTYPES})
    device_map: str = "auto"
    chat_template: Optional[str] = None
    allow_cpu_qlora: bool = field(default=False, metadata={"code": "TC3"})  # ours: QLoRA without a GPU


SUPERSEDED_MODEL_KEYS = (
    "pretrained_model_name_or_path",
    "state_dict",
    "cache_dir",
    "from_tf",
    "force_download",
    "resume_download",
    "proxies",
    "output_loading_info",
    "local_files_only",
)

_MOVED_MODEL_KEYS = {
    "load_in_4bit": "set QuantizationConfig.load_in_4bit instead",
    "load_in_8bit": "set QuantizationConfig.load_in_8bit instead",
}


@dataclass(frozen=True)
class QuantizationConfig:
    """bitsandbytes quantization (Kaito's ``QuantizationConfig``, a ``BitsAndBytesConfig``)."""

    quant_method: str = field(default="bitsandbytes", metadata={"choices": ("bitsandbytes",)})
    load_in_8bit: Optional[bool] = False
    load_in_4bit: Optional[bool] = False
    llm_int8_threshold: float = 6.0
    llm_int8_skip_modules: Optional[list[str]] = None
    llm_int8_enable_fp32_cpu_offload: bool = False
    llm_int8_has_fp16_weight: bool = False
    bnb_4bit_compute_dtype: str = field(default="float32", metadata={"choices": BNB_COMPUTE_DTYPES})
    bnb_4bit_quant_type: str = field(default="fp4", metadata={"choices": ("fp4", "nf4")})
    bnb_4bit_use_double_quant: bool = False
    bnb_4bit_quant_storage: Optional[str] = None

    @property
    def quantized(self) -> bool:
        return bool(self.load_in_4bit or self.load_in_8bit)

    def bitsandbytes_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.BitsAndBytesConfig``."""
        kwargs = dataclasses.asdict(self)
        del kwargs["quant_method"]
        kwargs["load_in_4bit"] = bool(self.load_in_4bit)
        kwargs["load_in_8bit"] = bool(self.load_in_8bit)
        return {key: value for key, value in kwargs.items() if value is not None}


@dataclass(frozen=True)
class DataCollatorConfig:
    """Kaito's ``DataCollator`` section (a ``DataCollatorForLanguageModeling``).

    Kaito forces ``mlm`` off for causal LMs (no mask token), so the masked-LM keys are accepted but have
    no effect; ``pad_to_multiple_of`` is honoured.
    """

    mlm: bool = True
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: Optional[int] = field(
        default=None, metadata={"check": (lambda v: v is None or v > 0, "must be a positive integer")}
    )
    return_tensors: str = field(default="pt", metadata={"choices": ("pt",)})
    seed: Optional[int] = None
    tf_experimental_compile: bool = False


@dataclass(frozen=True)
class DatasetConfig:
    """Where the data is and how it is split (Kaito's ``DatasetConfig``).

    ``dataset_path`` is relative to ``/mnt`` as in Kaito. Unlike Kaito (which declares them unused),
    ``messages_column``, ``context_column`` and ``response_column`` pick the columns when set.
    """

    dataset_path: Optional[str] = None
    dataset_extension: Optional[str] = field(default=None, metadata={"choices": (*DATASET_EXTENSIONS, None)})
    shuffle_dataset: bool = True
    shuffle_seed: int = 42
    context_column: Optional[str] = None
    response_column: str = "text"
    messages_column: Optional[str] = None
    train_test_split: float = field(
        default=0.8,
        metadata={"check": (lambda v: 0 < v <= 1, "must be greater than 0 and at most 1 (1 means no eval split)")},
    )


_KAITO_LORA_DEFAULTS = {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0}

_DATA_SECTIONS: dict[str, type] = {
    "ModelConfig": ModelConfig,
    "QuantizationConfig": QuantizationConfig,
    "DataCollator": DataCollatorConfig,
    "DatasetConfig": DatasetConfig,
}
_PASS_THROUGH_SECTIONS = ("LoraConfig", "TrainingArguments")
SECTIONS = ("ModelConfig", "QuantizationConfig", "LoraConfig", "TrainingArguments", "DatasetConfig", "DataCollator")
_SECTION_CODES = {"QuantizationConfig": "TC3"}


@dataclass(frozen=True)
class TrainingConfig:
    """A validated ``training_config.yaml``: the four data sections plus peft/trl keyword arguments."""

    method: str
    model: ModelConfig
    quantization: QuantizationConfig
    lora: Mapping[str, Any]
    training_arguments: Mapping[str, Any]
    data_collator: DataCollatorConfig
    dataset: DatasetConfig
    output_dir: str


# --- default templates (the chart's lora-params-template / qlora-params-template) ---------------------

_LORA_TEMPLATE: dict[str, Any] = {
    ROOT_KEY: {
        "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
        "QuantizationConfig": {"load_in_4bit": False},
        "LoraConfig": {"r": 8, "lora_alpha": 8, "lora_dropout": 0.0},
        "TrainingArguments": {
            "output_dir": "/mnt/results",
            "ddp_find_unused_parameters": False,
            "save_strategy": "no",
            "per_device_train_batch_size": 1,
        },
        "DataCollator": {"mlm": True},
        "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
    }
}
_QLORA_QUANTIZATION = {
    "load_in_4bit": True,
    "bnb_4bit_quant_type": "nf4",
    "bnb_4bit_compute_dtype": "bfloat16",
    "bnb_4bit_use_double_quant": True,
}


def default_training_config_mapping(method: str) -> dict[str, Any]:
    """A fresh copy of Kaito's default template for ``method`` as a mapping."""
    _require_method(method)
    template = copy.deepcopy(_LORA_TEMPLATE)
    if method == "qlora":
        template[ROOT_KEY]["QuantizationConfig"] = dict(_QLORA_QUANTIZATION)
    return template


@functools.cache
def default_training_config(method: str) -> str:
    """YAML text of Kaito's default template for ``method`` (what ``training_config.yaml`` holds); made once per
    method (the compiler asks for it once per tuning workspace without a config of its own)."""
    return yaml.safe_dump(default_training_config_mapping(method), sort_keys=False, default_flow_style=False)


# --- validation --------------------------------------------------------------------------------------


def validate_training_config(config: str | Mapping[str, Any] | None, method: str) -> list[ConfigProblem]:
    """Every problem with a ``training_config.yaml`` (YAML text or parsed document) for ``method``.

    ``None`` means the ConfigMap has no ``training_config.yaml`` key (TC1). An empty list means valid.
    """
    return _analyse(config, method)[1]


def load_training_config(config: str | Mapping[str, Any] | None, method: str) -> TrainingConfig:
    """The validated config with defaults applied; raises :class:`TrainingConfigError`."""
    parsed, problems = _analyse(config, method)
    if problems:
        raise TrainingConfigError(problems)
    assert parsed is not None
    return parsed


def resolve_output_dir(config: str | Mapping[str, Any]) -> str:
    """The training output directory exactly as Kaito's controller derives it, or ``ValueError``.

    Empty or absent ``TrainingArguments.output_dir`` gives ``/mnt/output``; a path not under ``/mnt`` is
    joined onto ``/mnt``; the result is cleaned and must be a directory strictly below ``/mnt``. (Kaito
    compares string prefixes, so it would keep ``/mntx``; here ``/mntx`` is a sibling and becomes
    ``/mnt/mntx``.)
    """
    if isinstance(config, str):
        return _output_dir_of_text(config)
    return _output_dir_of(config)


@functools.lru_cache(maxsize=256)
def _output_dir_of_text(text: str) -> str:
    """:func:`resolve_output_dir` of YAML text, parsed once per distinct text: every tuning workspace that names
    the same ConfigMap has the same text (a failure is not cached: it raises)."""
    return _output_dir_of(text)


def _output_dir_of(config: str | Mapping[str, Any]) -> str:
    problems: list[ConfigProblem] = []
    document = _load_document(config, problems)
    if problems:
        raise TrainingConfigError(problems)
    present, value = _output_dir_setting(document)
    return _clean_output_dir(value if present else "")


def _require_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"tuning method must be one of {', '.join(METHODS)}, got {method!r}")


def _analyse(
    config: str | Mapping[str, Any] | None, method: str
) -> tuple[TrainingConfig | None, list[ConfigProblem]]:
    _require_method(method)
    problems: list[ConfigProblem] = []
    if config is None:
        problems.append(ConfigProblem("TC1", (), f"the ConfigMap has no '{CONFIG_FILE_NAME}' key"))
        return None, problems
    document = _load_document(config, problems)
    if problems:
        return None, problems
    sections = _sections(document, problems)
    if sections is None:
        return None, problems
    data = {name: _data_section(name, cls, sections.get(name), problems) for name, cls in _DATA_SECTIONS.items()}
    passed = {name: _mapping_section(name, sections.get(name), problems) for name in _PASS_THROUGH_SECTIONS}
    _check_method_quantization(method, sections, data["QuantizationConfig"], problems)
    output_dir = _checked_output_dir(passed["TrainingArguments"], problems)
    if problems:
        return None, problems
    parsed = TrainingConfig(
        method=method,
        model=data["ModelConfig"],
        quantization=data["QuantizationConfig"],
        lora={**_KAITO_LORA_DEFAULTS, **passed["LoraConfig"]},
        training_arguments=dict(passed["TrainingArguments"]),
        data_collator=data["DataCollator"],
        dataset=data["DatasetConfig"],
        output_dir=output_dir,
    )
    return parsed, problems


def _load_document(config: str | Mapping[str, Any], problems: list[ConfigProblem]) -> Any:
    if not isinstance(config, str):
        return config
    try:
        return yaml.safe_load(config)
    except yaml.YAMLError as error:
        problems.append(ConfigProblem("TC2", (), f"'{CONFIG_FILE_NAME}' is not valid YAML: {error}"))
        return None


def _sections(document: Any, problems: list[ConfigProblem]) -> Mapping[str, Any] | None:
    root = document.get(ROOT_KEY) if isinstance(document, Mapping) else None
    if not isinstance(root, Mapping):
        where = (ROOT_KEY,) if isinstance(document, Mapping) and ROOT_KEY in document else ()
        message = f"expected a top-level '{ROOT_KEY}' key holding a map of sections"
        problems.append(ConfigProblem("TC2", where, message))
        return None
    for key in root:
        if not isinstance(key, str) or key not in SECTIONS:
            message = f"Unrecognized section: {key}; allowed sections are {', '.join(SECTIONS)}"
            problems.append(ConfigProblem("TC2", (ROOT_KEY, str(key)), message))
    return root


def _mapping_section(name: str, value: Any, problems: list[ConfigProblem]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return value
    message = "must be a map of setting names to values"
    problems.append(ConfigProblem(_SECTION_CODES.get(name, "TC2"), (ROOT_KEY, name), message))
    return {}


def _data_section(name: str, cls: type, value: Any, problems: list[ConfigProblem]) -> Any:
    values = _mapping_section(name, value, problems)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    accepted = {}
    for key, setting in values.items():
        path = (ROOT_KEY, name, key)
        section_code = _SECTION_CODES.get(name, "TC2")
        if key not in known:
            problems.append(ConfigProblem(section_code, path, _unknown_key_message(name, key, known)))
            continue
        code = known[key].metadata.get("code", section_code)
        problem = _field_problem(known[key], hints[key], setting)
        if problem:
            problems.append(ConfigProblem(code, path, problem))
        else:
            accepted[key] = setting
    return cls(**accepted)


def _unknown_key_message(section: str, key: str, known: Mapping[str, Any]) -> str:
    if section == "ModelConfig" and key in _MOVED_MODEL_KEYS:
        return f"'{key}' is not a ModelConfig setting: {_MOVED_MODEL_KEYS[key]}"
    return f"unknown {section} setting '{key}'; known settings are {', '.join(sorted(known))}"


def _field_problem(spec: dataclasses.Field, hint: Any, value: Any) -> str | None:
    if not _value_matches(value, hint):
        return f"must be {_describe(hint)}, got {value!r}"
    choices = spec.metadata.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(str(c) for c in choices if c is not None)}, got {value!r}"
    check = spec.metadata.get("check")
    if check is not None and not check[0](value):
        return f"{check[1]}, got {value!r}"
    return None


def _value_matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_value_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_value_matches(v, item) for v in value)
    if hint is dict:
        return isinstance(value, Mapping)
    raise TypeError(f"unsupported field type {hint!r}")


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is list:
        return "a list of " + _describe(typing.get_args(hint)[0]).removeprefix("a ").removeprefix("an ") + "s"
    words = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return words.get(hint, "a map")


def _check_method_quantization(
    method: str, sections: Mapping[str, Any], quantization: QuantizationConfig, problems: list[ConfigProblem]
) -> None:
    """TC3: ``lora`` must not quantize; ``qlora`` must load in 4 or 8 bits, not both."""
    path = (ROOT_KEY, "QuantizationConfig")
    if quantization.load_in_4bit and quantization.load_in_8bit:
        problems.append(ConfigProblem("TC3", path, "Cannot set both 'load_in_4bit' and 'load_in_8bit' to true"))
    elif method == "lora" and quantization.quantized:
        message = "For method 'lora', 'load_in_4bit' or 'load_in_8bit' must not be true (quantized LoRA is 'qlora')"
        problems.append(ConfigProblem("TC3", path, message))
    elif method == "qlora" and not quantization.quantized and not _has_quantization_type_problem(problems):
        where = path if "QuantizationConfig" in sections else (ROOT_KEY,)
        message = "For method 'qlora', either 'load_in_4bit' or 'load_in_8bit' must be true"
        problems.append(ConfigProblem("TC3", where, message))


def _has_quantization_type_problem(problems: list[ConfigProblem]) -> bool:
    switches = {(ROOT_KEY, "QuantizationConfig", "load_in_4bit"), (ROOT_KEY, "QuantizationConfig", "load_in_8bit")}
    return any(problem.path in switches for problem in problems)


def _output_dir_setting(document: Any) -> tuple[bool, Any]:
    root = document.get(ROOT_KEY) if isinstance(document, Mapping) else None
    arguments = root.get("TrainingArguments") if isinstance(root, Mapping) else None
    if isinstance(arguments, Mapping) and "output_dir" in arguments:
        return True, arguments["output_dir"]
    return False, None


def _checked_output_dir(arguments: Mapping[str, Any], problems: list[ConfigProblem]) -> str:
    """TC4: ``TrainingArguments.output_dir`` must be a string naming a directory below ``/mnt``."""
    try:
        return _clean_output_dir(arguments.get("output_dir", ""))
    except ValueError as error:
        problems.append(ConfigProblem("TC4", (ROOT_KEY, "TrainingArguments", "output_dir"), str(error)))
        return DEFAULT_OUTPUT_DIR


def _clean_output_dir(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"output_dir must be a string, got {value!r}")
    if value == "":
        return DEFAULT_OUTPUT_DIR
    path = value if _is_under_base(value) else f"{OUTPUT_BASE_DIR}/{value}"
    cleaned = posixpath.normpath(path)
    if cleaned == OUTPUT_BASE_DIR or not _is_under_base(cleaned):
        raise ValueError(f"Invalid output_dir specified: '{value}', must be a directory under {OUTPUT_BASE_DIR}")
    return cleaned


def _is_under_base(path: str) -> bool:
    return path == OUTPUT_BASE_DIR or path.startswith(OUTPUT_BASE_DIR + "/")
