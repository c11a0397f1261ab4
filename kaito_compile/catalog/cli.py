"""Catalog commands: ``presets list``, ``presets import`` and ``skus`` (registered on the main CLI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..cli_support import EXIT_INVALID, EXIT_OK, format_option, options, run_guarded
from . import Catalog, load_catalog, project_catalog_paths
from .hf_import import ImportFailure, build_entry, model_files, save_entry
from .loader import load_model_catalog, load_vllm_file
from .models import ModelEntry
from .skus import CLOUDS, Sku

DEFAULT_PROJECT_CATALOG = "kaito-presets.yaml"


def _project_config():
    """The project config of the current directory, through the main CLI's resolver when there is one."""
    return options().configs.for_file("-")


def _guarded(action) -> None:
    """Run ``action`` under the CLI's guard (exit codes, diagnostics in the chosen format); exit with its code."""

    def run() -> int:
        try:
            action()
        except ImportFailure as exc:
            click.echo(f"kaito-compile: cannot import: {exc}", err=True)
            return EXIT_INVALID
        return EXIT_OK

    sys.exit(run_guarded(options(), run))


@click.group("presets")
@format_option
def presets() -> None:
    """Model presets: list the catalog, import models from HuggingFace."""


@presets.command("list")
@click.option("--catalog", "catalogs", multiple=True, type=click.Path(dir_okay=False),
              help="Project catalog to merge (repeatable; default: the config's `catalogs`).")
@format_option
def list_presets(catalogs: tuple[str, ...]) -> None:
    """List every preset the compiler knows, with its derived sizes."""

    def action() -> None:
        catalog = load_catalog(paths=catalogs) if catalogs else load_catalog(_project_config())
        rows = [_preset_row(catalog, entry) for entry in catalog.models]
        if options().format == "json":
            click.echo(json.dumps(rows, indent=2, sort_keys=True))
        else:
            _print_presets(rows)

    _guarded(action)


def _preset_row(catalog: Catalog, entry: ModelEntry) -> dict:
    runtimes = ["vllm"] + (["transformers"] if entry.transformers else [])
    return {
        "hfId": entry.hfId,
        "aliases": entry.aliases,
        "servedName": entry.short_name,
        "fileSize": entry.fileSize,
        "diskStorageRequirement": entry.disk_storage_requirement,
        "contextLimit": entry.contextLimit,
        "architectures": entry.architectures,
        "attnType": entry.attn_type,
        "bytesPerToken": entry.bytes_per_token,
        "quantization": entry.quantization.method if entry.quantization else None,
        "runtimes": runtimes,
        "tunable": entry.tunable,
        "startupFailureThreshold": entry.startup_failure_threshold,
        "source": catalog.models.sources[entry.model_id],
    }


def _print_presets(rows: list[dict]) -> None:
    table = Table(title=f"{len(rows)} presets")
    for column in ("Preset", "Aliases", "Size", "Disk", "Context", "KV/token", "Quant", "Runtimes", "Tuning"):
        table.add_column(column, no_wrap=column != "Aliases")
    for r in rows:
        table.add_row(r["hfId"], ", ".join(r["aliases"]), r["fileSize"], r["diskStorageRequirement"],
                      str(r["contextLimit"]), f"{r['attnType']} {r['bytesPerToken']}", r["quantization"] or "-",
                      ", ".join(r["runtimes"]), "yes" if r["tunable"] else "-")
    Console(width=200).print(table)


@presets.command("import")
@click.argument("model")
@click.option("--catalog", "catalog_file", type=click.Path(dir_okay=False),
              help=f"Project catalog to write (default: the config's first catalog, else {DEFAULT_PROJECT_CATALOG}).")
@click.option("--revision", help="Hub revision (branch, tag or commit) to read the metadata from.")
@click.option("--id", "hf_id", metavar="ORG/MODEL", help="HF id of a local model folder (default: from its path).")
@format_option
def import_preset(model: str, catalog_file: str | None, revision: str | None, hf_id: str | None) -> None:
    """Add MODEL (a HuggingFace id or a local model folder) to a project catalog."""

    def action() -> None:
        config = _project_config()
        configured = project_catalog_paths(config)
        target = Path(catalog_file) if catalog_file else (configured[0] if configured else Path(DEFAULT_PROJECT_CATALOG))
        entry = build_entry(model_files(model, revision=revision, hf_id=hf_id), load_vllm_file())
        replaced = save_entry(target, entry)
        load_model_catalog([target])
        listed = target.resolve() in {p.resolve() for p in configured}
        if options().format == "json":
            click.echo(json.dumps({"action": "updated" if replaced else "added", "catalog": str(target),
                                   "inConfig": listed, "preset": _preset_row(load_catalog(paths=[target]), entry)},
                                  indent=2, sort_keys=True))
            return
        click.echo(f"{'updated' if replaced else 'added'} {entry.hfId} in {target}: {entry.fileSize}, context "
                   f"{entry.contextLimit}, {entry.attn_type} {entry.bytes_per_token} bytes/token, "
                   f"served as {entry.short_name}")
        if not listed:
            click.echo(f"note: add {target} to `catalogs:` in kaito-compile.yaml to use it")

    _guarded(action)


@click.command("skus")
@click.option("--cloud", type=click.Choice(CLOUDS), help="Only this cloud (default: all).")
@format_option
def skus(cloud: str | None) -> None:
    """List the GPU SKUs of the catalog (legacy ones are refused by the vllm runtime)."""

    def action() -> None:
        catalog = load_catalog()
        rows = [_sku_row(c, s) for c in ([cloud] if cloud else CLOUDS) for s in catalog.skus.skus(c)]
        if options().format == "json":
            click.echo(json.dumps(rows, indent=2, sort_keys=True))
        else:
            _print_skus(rows)

    _guarded(action)


def _sku_row(cloud: str, sku: Sku) -> dict:
    return {"cloud": cloud, **sku.model_dump(mode="json")}


def _print_skus(rows: list[dict]) -> None:
    table = Table(title=f"{len(rows)} SKUs")
    for column in ("Cloud", "SKU", "GPUs", "GPU model", "GiB/node", "GiB/GPU", "NVMe", "CC", "Legacy"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(r["cloud"], r["name"], str(r["gpus"]), r["gpuModel"], str(r["memoryGiB"]), str(r["perGpuGiB"]),
                      "yes" if r["nvme"] else "-", f"{r['computeCapability']:.1f}", "yes" if r["legacy"] else "-")
    Console(width=200).print(table)
