"""What every command of the CLI shares: exit codes, the global options, the ``--format`` option, reporting, and
the guard that turns errors into exit codes. ``cli.py`` and the subcommand CLIs (catalog, review, gitops) import
it; it imports none of them.

Exit codes are fixed: 0 ok, 1 invalid input (or a stale tree for ``check``), 2 tool or usage error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from .config_files import ConfigResolver
from .diagnostics import Report, Severity, SpecError, ToolError, render_github, render_json, render_text

EXIT_OK, EXIT_INVALID, EXIT_TOOL = 0, 1, 2
FORMATS = ("text", "json", "github")


@dataclass
class Options:
    format: str = "text"
    config_path: str | None = None
    quiet: bool = False
    verbose: bool = False

    _configs: ConfigResolver | None = None

    @property
    def configs(self) -> ConfigResolver:
        if self._configs is None:
            self._configs = ConfigResolver(self.config_path)
        return self._configs


def options() -> Options:
    """The options of the running command line (defaults when a command runs on its own, as in tests)."""
    root = click.get_current_context().find_root()
    if not isinstance(root.obj, Options):
        root.obj = Options()
    return root.obj


def _set_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        options().format = value


def format_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--format text|json|github`` on the group and on every command, so it may come before or after the
    subcommand (``kaito-compile --format json plan x`` and ``kaito-compile plan x --format json``); the last
    one given wins. Commands read it from :func:`options`."""
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, expose_value=False,
                        callback=_set_format, help="Output format: text (default), json or github.")(command)


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


def run_guarded(opts: Options, action: Callable[[], int]) -> int:
    """Run ``action``; turn tool errors into exit 2 and spec errors into exit 1, never a traceback."""
    from .output.errors import OutputError

    try:
        return action()
    except SpecError as exc:
        report = Report(diagnostics=exc.diagnostics)
        emit_report(opts, report, summary=False)
        return EXIT_INVALID
    except ToolError as exc:
        click.echo(f"kaito-compile: error: {exc} [{exc.code}]", err=True)
        return EXIT_TOOL
    except OutputError as exc:
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
