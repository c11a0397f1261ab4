"""The ``kaito-compile`` command line.

Exit codes are fixed: 0 ok, 1 invalid input (or a stale tree for ``check``), 2 tool or usage error.
Every command prints diagnostics in the chosen ``--format`` and ends with a summary line.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from . import __version__
from .config import ConfigResolver
from .diagnostics import Report, Severity, SpecError, ToolError, render_github, render_json, render_text

EXIT_OK, EXIT_INVALID, EXIT_TOOL = 0, 1, 2

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass
class Options:
    format: str
    config_path: str | None
    quiet: bool
    verbose: bool

    _configs: ConfigResolver | None = None

    @property
    def configs(self) -> ConfigResolver:
        if self._configs is None:
            self._configs = ConfigResolver(self.config_path)
        return self._configs


def emit_report(opts: Options, report: Report, *, summary: bool = True) -> None:
    """Print diagnostics (notes only with -v) and the summary line, in the chosen format."""
    if opts.format == "json":
        click.echo(render_json(report))
        return
    shown = [d for d in report.sorted() if d.severity is not Severity.NOTE or opts.verbose]
    for diag in shown:
        if opts.format == "github":
            click.echo(render_github(diag))
        elif not opts.quiet or diag.severity is Severity.ERROR:
            click.echo(render_text(diag), err=False)
    if summary and not (opts.quiet and not report.errors):
        click.echo(report.summary())


def run_guarded(opts: Options, action) -> int:
    """Run ``action``; turn tool errors into exit 2 and spec errors into exit 1, never a traceback."""
    try:
        return action()
    except SpecError as exc:
        report = Report(diagnostics=exc.diagnostics)
        emit_report(opts, report, summary=False)
        return EXIT_INVALID
    except ToolError as exc:
        click.echo(f"kaito-compile: error: {exc} [{exc.code}]", err=True)
        return EXIT_TOOL
    except _output_errors() as exc:
        click.echo(f"kaito-compile: error: {exc} [KC-E010]", err=True)
        return EXIT_TOOL
    except KeyboardInterrupt:
        click.echo("kaito-compile: interrupted", err=True)
        return EXIT_TOOL
    except Exception as exc:  # a bug of ours: say so plainly, never dump a traceback on the user
        if os.environ.get("KAITO_COMPILE_DEBUG"):
            raise
        click.echo(f"kaito-compile: internal error: {type(exc).__name__}: {exc} [KC-E999]\n"
                   "  note: this is a bug in kaito-compile; rerun with KAITO_COMPILE_DEBUG=1 for the traceback",
                   err=True)
        return EXIT_TOOL


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kaito-compile")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True,
              help="How to print diagnostics.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Project config (default: ./kaito-compile.yaml when present).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors and the verdict only.")
@click.option("-v", "--verbose", is_flag=True, help="Also print notes (ignored documents, …).")
@click.pass_context
def cli(ctx: click.Context, fmt: str, config_path: str | None, quiet: bool, verbose: bool) -> None:
    """Compile Kaito Workspaces into Kubernetes manifests ahead of time."""
    ctx.obj = Options(fmt, config_path, quiet, verbose)


@cli.command()
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


def _output_errors():
    from .output import OutputError

    return OutputError


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", default="out", show_default=True, help="Output directory.")
@click.pass_obj
def build(opts: Options, paths: tuple[str, ...], out_dir: str) -> None:
    """Compile Workspaces into out/<namespace>/<workspace>/ (atomic; nothing changes on error)."""
    from pathlib import Path

    from .output import write_tree

    def action() -> int:
        report, tree = _compile(opts, paths, out_dir)
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        result = write_tree(tree, Path(out_dir), keep_spare=True)
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
@click.argument("paths", nargs=-1, required=True)
@click.option("-o", "--output", "out_dir", default="out", show_default=True, help="Output directory.")
@click.pass_obj
def check(opts: Options, paths: tuple[str, ...], out_dir: str) -> None:
    """Exit 1 when out/ is not what build would write (stale, missing or orphaned files)."""
    import shlex
    from pathlib import Path

    from .output import check_tree

    def action() -> int:
        report, tree = _compile(opts, paths, out_dir)
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        result = check_tree(tree, Path(out_dir))
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
    from .plan.report import plan_row, render_plans, render_suggestions, suggestion_rows

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
        report, plans = plan_paths(list(paths), opts.configs, Catalogs())
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        if opts.format == "json":
            click.echo(json.dumps([plan_row(p) for p in plans], indent=2))
        else:
            click.echo(render_plans(plans), nl=False)
        return EXIT_OK

    sys.exit(run_guarded(opts, suggest_action if model_name else plan_action))


def _register_catalog_commands() -> None:
    from .catalog.cli import presets, skus

    cli.add_command(presets)
    cli.add_command(skus)


_register_catalog_commands()


def _register_review_and_gitops_commands() -> None:
    from .gitops.cli import gitops
    from .gitops.delivery_cli import push, render
    from .review.cli import diff

    cli.add_command(diff)
    cli.add_command(gitops)
    cli.add_command(render)
    cli.add_command(push)


_register_review_and_gitops_commands()


def main() -> None:
    try:
        cli.main(prog_name="kaito-compile", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_TOOL)
        sys.exit(code)


if __name__ == "__main__":
    main()
