"""The compiler's command line in tests: run in-process (click's CliRunner keeps stdout and stderr apart), and
the smallest valid Workspace the CLI tests feed it (each test derives its variants from it)."""

from __future__ import annotations

from click.testing import CliRunner

from kaito_compile.cli import cli

PHI3_WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-phi-3
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector:
    matchLabels:
      apps: phi-3
inference:
  preset:
    name: phi-3-mini-4k-instruct
"""


def run_cli(*args: str) -> tuple[int, str, str]:
    """``kaito-compile ARGS`` in-process: exit code, stdout, stderr. An exception the CLI does not turn into a
    diagnostic propagates, so the test fails on it instead of reading an exit code."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr
