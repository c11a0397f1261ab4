"""``kaito-compile diff``: the per-object semantic diff a pull-request reviewer reads."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli_support import EXIT_INVALID, EXIT_OK, format_option, run_guarded

OUTPUT_FORMATS = ("text", "markdown", "json")


@click.command("diff")
@click.argument("paths", nargs=-1)
@click.option("--base", "base", metavar="REV",
              help="Compile PATHs (default: .) at git revision REV and in the working tree, and compare.")
@click.option("--output-format", type=click.Choice(OUTPUT_FORMATS),
              help="text, markdown (a pull-request comment) or json; default: json with --format json, else text.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when something changed, as `git diff --exit-code` does.")
@format_option
@click.pass_obj
def diff(opts, paths: tuple[str, ...], base: str | None, output_format: str | None, exit_code: bool) -> None:
    """Compare two compiled trees object by object: GPUs and nodes per workspace, replacements, images, fields.

    \b
    kaito-compile diff --base origin/main examples     specs at a revision vs. the working tree
    kaito-compile diff OLD_OUT NEW_OUT                 two output directories
    """
    if base is None and len(paths) != 2:
        raise click.UsageError("give --base REV [PATH...], or two output directories OLD_TREE NEW_TREE")
    chosen = output_format or ("json" if opts.format == "json" else "text")

    def action() -> int:
        result = _diff_against_revision(opts, base, list(paths) or ["."]) if base else _diff_directories(*paths)
        click.echo(_render(result, chosen), nl=False)
        return EXIT_INVALID if exit_code and result.changed else EXIT_OK

    sys.exit(run_guarded(opts, action))


def _diff_against_revision(opts, revision: str, paths: list[str]):
    from ..compiler import Catalogs, compile_paths
    from ..diagnostics import SpecError
    from .sources import compile_at_revision

    try:
        old = compile_at_revision(revision, paths, opts.config_path)
    except SpecError:
        click.echo(f"kaito-compile: the specs at {revision} do not compile:", err=True)
        raise
    report, new = compile_paths(paths, opts.configs, Catalogs())
    if report.errors:
        raise SpecError(report.errors)
    return _compare(old, new, base=revision, head="working tree")


def _diff_directories(old_dir: str, new_dir: str):
    from .sources import read_tree

    return _compare(read_tree(Path(old_dir)), read_tree(Path(new_dir)), base=old_dir, head=new_dir)


def _compare(old: dict[str, bytes], new: dict[str, bytes], *, base: str, head: str):
    from ..diagnostics import ToolError
    from .diff import TreeError, diff_trees

    try:
        return diff_trees(old, new, gpu_models(), base=base, head=head)
    except TreeError as exc:
        raise ToolError(str(exc), code="KC-E002") from None


def gpu_models() -> dict[str, str]:
    """Instance type (lower case) → GPU model, from the built-in SKU catalog of every cloud."""
    from ..catalog.loader import load_sku_catalog

    catalog = load_sku_catalog()
    return {sku.name.lower(): sku.gpuModel for cloud in sorted(catalog.clouds) for sku in catalog.clouds[cloud]}


def _render(result, output_format: str) -> str:
    from .render import render_json, render_markdown, render_text

    renderers = {"text": render_text, "markdown": render_markdown, "json": render_json}
    return renderers[output_format](result)
