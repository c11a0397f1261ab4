"""``presets import``: turn a HuggingFace model (hub id or local folder) into a catalog entry.

Kaito reads a non-catalog model's metadata from HuggingFace when a Workspace names it
(``Generator.FetchModelMetadata`` + ``ParseModelMetadata``); this does the same once, ahead of
time, and writes the result to a project catalog so compiling stays offline:

* weights: every ``*.safetensors`` file, only ``consolidated*.safetensors`` in a Mistral-format
  repo (which also switches load/config/tokenizer format to ``mistral``), ``*.bin`` only without
  safetensors; sized as their sum in GiB with two decimals. Names are matched as Kaito's
  unanchored regexes match them, so an ``*.safetensors.index.json`` counts too.
* ``config.json`` (``params.json`` for a Mistral repo without one), with ``text_config`` /
  ``llm_config`` merged in for keys the top level lacks.
* context limit: the first of Kaito's keys holding an integer, else 2048.
* the vLLM architecture check and the static vLLM flags Kaito derives (``presets/vllm.yaml``).

``HF_HUB_OFFLINE`` restricts a hub id to the local HuggingFace cache; ``HF_TOKEN`` is used by
huggingface-hub for gated and private repos.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from ..diagnostics import ToolError
from ..goregex import go_regex
from .derive import VllmFile, derive_vllm_flags, unsupported_architecture
from .models import HF_ID_PATTERN, Attention, ModelEntry, Quantization
from .quantity import GIB

DEFAULT_MODEL_TOKEN_LIMIT = 2048
CONTEXT_KEYS = ("max_position_embeddings", "n_ctx", "seq_length", "max_seq_len", "max_sequence_length",
                "model_max_length")
HIDDEN_SIZE_KEYS = ("hidden_size", "n_embd", "d_model", "dim")
LAYER_KEYS = ("num_hidden_layers", "n_layer", "n_layers")
HEAD_KEYS = ("num_attention_heads", "n_head", "n_heads")
KV_HEAD_KEYS = ("num_key_value_heads", "n_head_kv", "n_kv_heads")
HEAD_DIM_KEYS = ("head_dim", "attention_head_dim")
QUANT_METHOD_KEYS = ("format", "quant_algo", "quant_method")
ARCHITECTURE_BY_NAME_PREFIX = {"mistral-large-3": "MistralLarge3ForCausalLM",
                               "ministral-3": "Mistral3ForConditionalGeneration"}

_MISTRAL_WEIGHTS = go_regex(r"consolidated.*\.safetensors")
_SAFETENSORS = go_regex(r".*\.safetensors")
_BIN = go_regex(r".*\.bin")
_CACHE_SNAPSHOT = go_regex(r"^models--(?P<org>[^/]+?)--(?P<name>.+)$")
_GO_INT = go_regex(r"^[+-]?[0-9]+$")


PROJECT_CATALOG_HEADER = """\
Project preset catalog (schema: schemas/catalog-models.schema.json), merged over kaito-compile's
built-in catalog when listed under `catalogs:` in kaito-compile.yaml. Written by
`kaito-compile presets import`; entries may be edited by hand.
"""
FLOW_FIELDS = ("architectures", "attention", "quantization", "vllm")


class ImportFailure(Exception):
    """The model cannot be served: the message says why (Kaito's wording where it has one)."""


@dataclass(frozen=True)
class ModelFiles:
    """What an import reads: the repo id, its files with sizes, and a way to read a small file."""

    hf_id: str
    sizes: Mapping[str, int]
    folder: Path | None = None
    revision: str | None = None
    token: str | None = None

    def read_json(self, name: str) -> dict | None:
        if name not in self.sizes:
            return None
        path = self.folder / name if self.folder else _hub_download(self.hf_id, name, self.revision, self.token)
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ImportFailure(f"error parsing config: {name}: {exc}") from exc
        if not isinstance(data, dict):
            raise ImportFailure(f"error parsing config: {name} is not a JSON object")
        return data


def local_files(folder: Path, hf_id: str | None = None) -> ModelFiles:
    """A model folder on disk: a ``save_pretrained`` directory or a hub cache snapshot."""
    sizes = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            sizes[rel.as_posix()] = path.stat().st_size
    return ModelFiles(hf_id or _id_from_folder(folder), sizes, folder=folder)


def _id_from_folder(folder: Path) -> str:
    folder = folder.resolve()
    if folder.parent.name == "snapshots" and (cached := _CACHE_SNAPSHOT.match(folder.parent.parent.name)):
        return f"{cached['org']}/{cached['name']}"
    return f"{folder.parent.name}/{folder.name}"


def hub_files(repo_id: str, *, revision: str | None = None, token: str | None = None) -> ModelFiles:
    """A hub repo's file list; under ``HF_HUB_OFFLINE`` the cached snapshot instead."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return local_files(_cached_snapshot(repo_id, revision), repo_id)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = HfApi(token=token).model_info(repo_id, revision=revision, files_metadata=True)
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise ToolError(f"authentication required for accessing {repo_id} (or it does not exist): set HF_TOKEN "
                        "to a token that can read it") from exc
    except Exception as exc:  # transport errors: their classes differ between huggingface-hub versions
        raise ToolError(f"error listing files of {repo_id}: {exc}") from exc
    sizes = {s.rfilename: s.size or 0 for s in info.siblings or ()}
    return ModelFiles(info.id or repo_id, sizes, revision=revision, token=token)


def _cached_snapshot(repo_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError as exc:
        raise ToolError(f"HF_HUB_OFFLINE is set and {repo_id} is not in the local HuggingFace cache") from exc


def _hub_download(repo_id: str, name: str, revision: str | None, token: str | None) -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, name, revision=revision, token=token)
    except Exception as exc:  # transport errors: their classes differ between huggingface-hub versions
        raise ToolError(f"error fetching config: {repo_id}/{name}: {exc}") from exc


def select_weight_files(names: Sequence[str]) -> tuple[list[str], bool]:
    """Kaito's choice of weight files, and whether the repo is in Mistral format."""
    mistral = [n for n in names if _MISTRAL_WEIGHTS.search(n)]
    if mistral:
        return mistral, True
    safetensors = [n for n in names if _SAFETENSORS.search(n)]
    return (safetensors or [n for n in names if _BIN.search(n)]), False


def file_size_text(n_bytes: int) -> str:
    return f"{n_bytes / GIB:.2f}Gi"


def model_config(files: ModelFiles, mistral_format: bool) -> dict[str, Any]:
    config = files.read_json("config.json")
    if config is None and mistral_format:
        config = files.read_json("params.json")
    if config is None:
        raise ImportFailure(f"error fetching config: {files.hf_id} has no config.json")
    nested = config.get("text_config") if isinstance(config.get("text_config"), dict) else config.get("llm_config")
    if isinstance(nested, dict):
        config = {**nested, **config}
    return config


def get_int(config: Mapping[str, Any], keys: Sequence[str], default: int) -> int:
    """Kaito's ``getInt``: the first key holding a number or an integer string."""
    for key in keys:
        value = config.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            return int(value)
        if isinstance(value, str) and _GO_INT.match(value):
            return int(value)
    return default


def _get_string(config: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    return next((config[k] for k in keys if isinstance(config.get(k), str) and config[k]), None)


def attention_of(config: Mapping[str, Any]) -> Attention:
    hidden = get_int(config, HIDDEN_SIZE_KEYS, 0)
    heads = get_int(config, HEAD_KEYS, 0)
    head_dim = get_int(config, HEAD_DIM_KEYS, 0)
    kv_lora_rank = get_int(config, ("kv_lora_rank",), -1)
    return Attention(
        hiddenSize=hidden,
        numHiddenLayers=get_int(config, LAYER_KEYS, 0),
        numAttentionHeads=heads,
        numKeyValueHeads=get_int(config, KV_HEAD_KEYS, 0),
        headDim=head_dim if head_dim > 0 and not (heads and head_dim == hidden // heads) else None,
        kvLoraRank=kv_lora_rank if kv_lora_rank >= 0 else None,
        qkRopeHeadDim=get_int(config, ("qk_rope_head_dim",), 0) or None,
        multiQuery=config.get("multi_query") is True,
    )


def quantization_of(config: Mapping[str, Any]) -> Quantization | None:
    qc = config.get("quantization_config")
    if not isinstance(qc, dict) or not (method := _get_string(qc, QUANT_METHOD_KEYS)):
        return None
    return Quantization(method=method, bits=get_int(qc, ("bits",), 0) or None)


def architectures_of(config: Mapping[str, Any], short_name: str) -> list[str]:
    declared = config.get("architectures")
    found = [a for a in declared if isinstance(a, str)] if isinstance(declared, list) else []
    if not found:
        found = [arch for prefix, arch in ARCHITECTURE_BY_NAME_PREFIX.items() if short_name.startswith(prefix)]
    return found


def weights_dtype_of(config: Mapping[str, Any]) -> str | None:
    dtype = config.get("torch_dtype") or config.get("dtype")
    return dtype if dtype in ("bfloat16", "float16", "float32") else None


def build_entry(files: ModelFiles, vllm: VllmFile) -> ModelEntry:
    if not go_regex(HF_ID_PATTERN).match(files.hf_id):
        raise ImportFailure(f"{files.hf_id!r} is not a HuggingFace model id (org/model)")
    weights, mistral_format = select_weight_files(list(files.sizes))
    if not weights:
        raise ImportFailure("no .safetensors or .bin files found")
    config = model_config(files, mistral_format)
    short_name = files.hf_id.rsplit("/", 1)[-1].lower()
    architectures = architectures_of(config, short_name)
    refusal = unsupported_architecture(vllm.architectures, files.hf_id.lower(), architectures)
    if refusal:
        raise ImportFailure(refusal)
    quantization = quantization_of(config)
    return ModelEntry(
        hfId=files.hf_id,
        fileSize=file_size_text(sum(files.sizes[name] for name in weights)),
        weightsDtype=weights_dtype_of(config),
        contextLimit=get_int(config, CONTEXT_KEYS, DEFAULT_MODEL_TOKEN_LIMIT),
        architectures=architectures,
        attention=attention_of(config),
        quantization=quantization,
        vllm=derive_vllm_flags(vllm.derivation, short_name, architectures, quantized=quantization is not None,
                               mistral_format=mistral_format),
    )


def model_files(source: str, *, revision: str | None = None, hf_id: str | None = None) -> ModelFiles:
    """A local folder when ``source`` is a directory, else a hub repo id."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return local_files(folder, hf_id)
    if not go_regex(HF_ID_PATTERN).match(source):
        raise ImportFailure(f"{source!r} is neither a model folder nor a HuggingFace model id (org/model)")
    return hub_files(source, revision=revision, token=os.environ.get("HF_TOKEN") or None)


def save_entry(path: Path, entry: ModelEntry) -> bool:
    """Add ``entry`` to the project catalog at ``path`` or replace the entry of the same HF id
    (comments and other entries are kept). Returns whether an entry was replaced."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    data = yaml.load(path.read_text()) if path.exists() else None
    if data is None:
        data = CommentedMap()
        data.yaml_set_start_comment(PROJECT_CATALOG_HEADER)
    models = data.setdefault("models", CommentedSeq())
    node = _entry_node(entry)
    index = next((i for i, m in enumerate(models) if str(m.get("hfId", "")).lower() == entry.model_id), None)
    if index is None:
        models.append(node)
    else:
        models[index] = node
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        yaml.dump(data, fh)
    return index is not None


def _entry_node(entry: ModelEntry) -> CommentedMap:
    node = CommentedMap()
    for key, value in entry.model_dump(mode="json", exclude_defaults=True).items():
        node[key] = _flow(value) if key in FLOW_FIELDS else value
    return node


def _flow(value: dict | list) -> CommentedMap | CommentedSeq:
    if isinstance(value, list):
        node: CommentedMap | CommentedSeq = CommentedSeq(value)
    else:
        node = CommentedMap((k, _flow(v) if isinstance(v, dict) else v) for k, v in value.items())
    node.fa.set_flow_style()
    return node
