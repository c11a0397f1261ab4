"""``kaito-compile render`` and ``kaito-compile push``: delivery without committing ``out/``.

``render`` prints the compiled objects as one YAML stream (an Argo CD config management plugin's ``generate``
command); ``push`` publishes a compiled tree as an OCI artifact that Flux's ``OCIRepository`` pulls.
Exit codes are ``build``'s: 0 ok, 1 invalid specs, 2 tool error.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from ..diagnostics import ToolError


@click.command("render")
@click.argument("paths", nargs=-1, required=True)
@click.pass_obj
def render(opts, paths: tuple[str, ...]) -> None:
    """Print the compiled objects as one YAML stream on stdout (diagnostics on stderr); writes nothing.

    Each document is the file `build` would write for that object, in sync-wave order. As an Argo CD config
    management plugin's generate command it runs in the Application's source directory: `render .`
    """
    stdout = sys.stdout.buffer  # taken before stdout is redirected to stderr

    def action() -> int:
        from ..cli import EXIT_INVALID, EXIT_OK, emit_report
        from ..compiler import Catalogs, compile_paths
        from .render import EmptyRender, render_stream

        report, tree = compile_paths(list(paths), opts.configs, Catalogs())  # no cache: nothing is written
        if report.errors:
            emit_report(opts, report)
            return EXIT_INVALID
        try:
            stream = render_stream(tree)
        except EmptyRender as exc:
            raise ToolError(str(exc), code="KC-E010") from None
        emit_report(opts, report, summary=False)
        stdout.write(stream)
        stdout.flush()
        return EXIT_OK

    sys.exit(_run_with_stdout_on_stderr(opts, action))


def _run_with_stdout_on_stderr(opts, action) -> int:
    """Run ``action`` guarded, with everything it prints through ``sys.stdout`` sent to stderr instead: stdout
    carries the YAML stream alone."""
    from ..cli import run_guarded

    with contextlib.redirect_stdout(sys.stderr):
        return run_guarded(opts, action)
