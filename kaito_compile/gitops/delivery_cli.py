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


@click.command("push")
@click.argument("url", metavar="oci://HOST/REPOSITORY:TAG")
@click.argument("out_dir", default="out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--plain-http", is_flag=True,
              help="Talk plain http to a registry on this machine (127.0.0.1, ::1, localhost) without TLS.")
@click.option("--source", "source_url", metavar="URL",
              help="Annotation org.opencontainers.image.source, e.g. the Git repository's URL.")
@click.option("--revision", metavar="REV",
              help="Annotation org.opencontainers.image.revision, e.g. main@sha1:<commit>.")
@click.pass_obj
def push(opts, url: str, out_dir: Path, plain_http: bool, source_url: str | None, revision: str | None) -> None:
    """Publish OUT_DIR (default out) as an OCI artifact Flux's OCIRepository pulls.

    The same tree gives the same digest. Credentials: the registry's auths entry in $DOCKER_CONFIG/config.json
    (default ~/.docker/config.json).
    """
    from .flux_artifact import ArtifactError, build_artifact
    from .registry import Reference, RegistryError
    from .registry import push as push_artifact

    try:
        reference = Reference.parse(url)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="URL") from None

    def action() -> int:
        try:
            artifact = build_artifact(out_dir, source=source_url, revision=revision)
        except ArtifactError as error:
            raise ToolError(str(error), code="KC-E010") from None
        for path in artifact.left_out:
            click.echo(f"warning: {out_dir}/{path} is not in the ownership lock: not published", err=True)
        try:
            digest = push_artifact(artifact, reference, plain_http=plain_http)
        except RegistryError as error:
            raise ToolError(f"{reference.url}: {error}", code="KC-E005") from None
        click.echo(f"Pushed {reference.url}@{digest}: {len(artifact.files)} files, "
                   f"{len(artifact.layer.data)} bytes compressed")
        return 0

    from ..cli import run_guarded

    sys.exit(run_guarded(opts, action))
