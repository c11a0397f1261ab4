"""The ``kaito-compile`` command line.

Exit codes are fixed (:mod:`.cli_support`): 0 ok, 1 invalid input (or a stale tree for ``check``), 2 tool or
usage error. Every command prints diagnostics in the chosen ``--format`` and ends with a summary line.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .cli_support import EXIT_INVALID, EXIT_OK, EXIT_TOOL, Options, emit_report, format_option, options, run_guarded
from .diagnostics import ToolError
from .gc_tuning import raise_thresholds

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


class _LazyGroup(click.Group):
    """The subcommand CLIs (catalog, review, gitops) are imported only when one of them runs: ``build`` and
    ``check`` do not pay for rich tables or the Hugging Face importer."""

    LAZY = {"presets": "kaito_compile.catalog.cli:presets", "skus": "kaito_compile.catalog.cli:skus",
            "diff": "kaito_compile.review.cli:diff", "gitops": "kaito_compile.gitops.cli:gitops",
            "render": "kaito_compile.gitops.delivery_cli:render", "push": "kaito_compile.gitops.delivery_cli:push"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, _, attribute = self.LAZY[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kaito-compile")
@format_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Project config (default: ./kaito-compile.yaml when present).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors and the verdict only.")
@click.option("-v", "--verbose", is_flag=True, help="Also print notes (ignored documents, …).")
def cli(config_path: str | None, quiet: bool, verbose: bool) -> None:
    """Compile Kaito Workspaces into Kubernetes manifests ahead of time."""
    opts = options()  # --format, given before the subcommand, is already in it
    opts.config_path, opts.quiet, opts.verbose = config_path, quiet, verbose


@cli.command()
@format_option
@click.argument("paths", nargs=-1, required=True)
@click.option("--against", metavar="REF", help="Also check update rules against the specs at this git revision.")
@click.pass_obj
def validate(opts: Options, paths: tuple[str, ...], against: str | None) -> None:
    """Check Workspace specs against the schema and every Kaito admission rule."""
    from .compiler import Catalogs, load_and_validate

    def action() -> int:
        report, _ = load_and_validate(list(paths), opts.configs, Catalogs(), against=against)
        emit_report(opts, report)
        return report.exit_code

    sys.exit(run_guarded(opts, action))


def _compile(opts: Options, paths: tuple[str, ...], out_dir: str):
    from pathlib import Path

    from .cache import open_cache
    from .compiler import Catalogs, compile_paths

    bar = _progress_bar(opts)
    try:
        return compile_paths(list(paths), opts.configs, Catalogs(), cache=open_cache(Path(out_dir)), progress=bar)
    finally:
        if bar is not None:
            bar.close()


PROGRESS_MIN_ITEMS = 50  # phases with fewer spec files or workspaces to process end before a bar could be read


class _ProgressBar:
    """A rich progress bar on stderr for the long phases of a cold build (it disappears when done)."""

    def __init__(self) -> None:
        self._progress = None
        self._task = None

    def phase(self, description: str, total: int) -> None:
        self._task = None
        if total < PROGRESS_MIN_ITEMS:
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), console=_console(), transient=True)
            self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress_bar(opts: Options) -> _ProgressBar | None:
    """A bar only for a person watching a terminal: never in CI, with -q, with machine-readable output or when
    stderr is not a terminal."""
    if opts.quiet or opts.format != "text" or os.environ.get("CI") or not sys.stderr.isatty():
        return None
    return _ProgressBar()


@cli.command()
@format_option
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", default="out", show_default=True, help="Output directory.")
@click.pass_obj
def build(opts: Options, paths: tuple[str, ...], out_dir: str) -> None:
    """Compile Workspaces into out/<namespace>/<workspace>/ (atomic; nothing changes on error)."""
    from pathlib import Path

    from .cache import open_stat_cache
    from .output import write_tree

    def action() -> int:
        report, tree = _compile(opts, paths, out_dir)
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        result = write_tree(tree, Path(out_dir), keep_spare=True, stat_cache=open_stat_cache(Path(out_dir)))
        emit_report(opts, report, summary=False)
        if not opts.quiet and opts.format != "json":
            click.echo(f"Wrote {out_dir}/: {len(result.created)} created, {len(result.updated)} updated, "
                       f"{len(result.deleted)} deleted, {len(result.unchanged)} unchanged "
                       f"({report.workspaces_checked} workspaces)")
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        for path in result.kept:
            click.echo(f"warning: {out_dir}/{path} was generated before but is no longer produced; it was edited "
                       "or is not in the ownership lock, so it was kept: delete it by hand", err=True)
        return EXIT_OK

    sys.exit(run_guarded(opts, action))


@cli.command()
@format_option
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", default="out", show_default=True, help="Output directory.")
@click.pass_obj
def check(opts: Options, paths: tuple[str, ...], out_dir: str) -> None:
    """Exit 1 when out/ is not what build would write (stale, missing or orphaned files)."""
    import json
    import shlex
    from pathlib import Path

    from .cache import open_stat_cache
    from .diagnostics import render_json
    from .output import check_tree

    def action() -> int:
        report, tree = _compile(opts, paths, out_dir)
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        if opts.format != "json":  # the warnings build prints (an ignored cache, an empty file)
            emit_report(opts, report, summary=False)
        result = check_tree(tree, Path(out_dir), stat_cache=open_stat_cache(Path(out_dir)))
        if opts.format == "json":
            payload = json.loads(render_json(report)) | {
                "upToDate": result.ok, "stale": result.stale, "missing": result.missing, "orphans": result.orphans}
            click.echo(json.dumps(payload, indent=2, sort_keys=True))
            return EXIT_OK if result.ok else EXIT_INVALID
        if result.ok:
            if not opts.quiet:
                click.echo(f"{out_dir}/ is up to date ({report.workspaces_checked} workspaces)")
            return EXIT_OK
        if not opts.quiet:
            click.echo(result.diff, nl=False)
        command = " ".join(["kaito-compile", *(["--config", opts.config_path] if opts.config_path else []),
                            "build", *map(shlex.quote, paths), "-o", shlex.quote(out_dir)])
        click.echo(f"{out_dir}/ is stale: {len(result.stale)} changed, {len(result.missing)} missing, "
                   f"{len(result.orphans)} orphaned file(s). Run: {command}")
        return EXIT_INVALID

    sys.exit(run_guarded(opts, action))


@cli.command()
@format_option
@click.argument("paths", nargs=-1)
@click.option("--suggest", "model_name", metavar="MODEL", help="List every SKU that fits MODEL instead.")
@click.option("--cloud", help="Cloud for --suggest (default: the project config's).")
@click.option("--runtime", type=click.Choice(["transformers", "vllm"]), help="Runtime for --suggest.")
@click.pass_obj
def plan(opts: Options, paths: tuple[str, ...], model_name: str | None, cloud: str | None,
         runtime: str | None) -> None:
    """Show the sizing decided for each workspace (model, SKU, GPUs, nodes, parallelism, why)."""
    import json

    from .compiler import Catalogs, plan_paths
    from .plan.report import plan_row, render_plans, render_sets, render_suggestions, set_row, suggestion_rows

    def suggest_action() -> int:
        config = opts.configs.for_file("-")
        catalog = Catalogs().for_config(config)
        resolution = catalog.resolve(model_name)
        if not resolution.ok:
            raise ToolError(f"{resolution.message}", code="KC-E004")
        chosen_cloud, chosen_runtime = cloud or config.cloud, runtime or config.runtime
        rows = suggestion_rows(resolution.entry, catalog, chosen_cloud, chosen_runtime)
        if opts.format == "json":
            click.echo(json.dumps({"model": resolution.entry.hfId, "cloud": chosen_cloud, "runtime": chosen_runtime,
                                   "skus": rows}, indent=2))
        else:
            click.echo(render_suggestions(resolution.entry, rows, chosen_cloud, chosen_runtime), nl=False)
        return EXIT_OK if rows else EXIT_INVALID

    def plan_action() -> int:
        if not paths:
            raise click.UsageError("give PATHS to plan, or --suggest MODEL")
        report, plans, set_plans = plan_paths(list(paths), opts.configs, Catalogs())
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        if opts.format == "json":
            click.echo(json.dumps([plan_row(p) for p in plans] + [set_row(s) for s in set_plans], indent=2))
        else:
            click.echo(render_plans(plans) + render_sets(set_plans), nl=False)
        return EXIT_OK

    sys.exit(run_guarded(opts, suggest_action if model_name else plan_action))


def main() -> None:
    raise_thresholds()
    try:
        cli.main(prog_name="kaito-compile", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_TOOL)
        sys.exit(code)


if __name__ == "__main__":
    main()
