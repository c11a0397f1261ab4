"""The exact container commands and environments of the committed, compiled examples under ``out/``.

Runtime tests start the runtime with these, remapping paths through ``KAITO_RUNTIME_ROOT`` only, so a
flag the compiler emits and the runtime does not understand fails a test, not a pod.
"""

from __future__ import annotations

from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parents[2] / "out"


def compiled_container(workload_file: str, container: str) -> tuple[list[str], dict[str, str]]:
    """(command + args, literal env) of ``container`` in ``out/<workload_file>``; init containers included."""
    manifest = yaml.safe_load((OUT / workload_file).read_text())
    pod = manifest["spec"]["template"]["spec"]
    for candidate in pod.get("initContainers", []) + pod["containers"]:
        if candidate["name"] == container:
            argv = list(candidate.get("command", [])) + list(candidate.get("args", []))
            env = {e["name"]: e["value"] for e in candidate.get("env", []) if "value" in e}
            return argv, env
    raise LookupError(f"no container {container!r} in out/{workload_file}")


SEED_INFERENCE = ("default/workspace-phi-3-mini-adapter/deployment-workspace-phi-3-mini-adapter.yaml",
                  "workspace-phi-3-mini-adapter")
SEED_TUNING = ("default/workspace-tuning-phi-3/job-workspace-tuning-phi-3.yaml", "workspace-tuning-phi-3")
