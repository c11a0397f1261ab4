"""`kaito-compile gitops argocd-plugin`: plugin.yaml as Argo CD reads it, a sidecar that kustomize patches into
Argo CD's repo-server and that passes the strict Deployment schema, and a generate command that really renders.

Argo CD publishes no schema for the plugin file (it stopped being a CRD in 2.8); its fields are the Go structs of
argoproj/argo-cd:cmpserver/plugin/config.go (commit 37ee0097, the one ../shared/upstream's Argo CD CRDs come from),
spelled out in :data:`PLUGIN_SCHEMA` with ``additionalProperties: false``, plus that file's ValidatePluginConfig.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from kaito_compile.cli import cli
from kaito_compile.gitops.argocd_plugin import ARGOCD_UID, CMP_SERVER, PLUGIN_CONFIG_PATH
from tests.gitops.test_render import ARGOCD_ENV
from tests.support import kube

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.example.com/kaito-compiler:0.1.0"
needs_crds = pytest.mark.skipif(not kube.upstream_available(), reason="CRDs are read from ../shared/upstream")

_COMMAND = {"type": "object", "additionalProperties": False,
            "properties": {"command": {"type": "array", "items": {"type": "string"}},
                           "args": {"type": "array", "items": {"type": "string"}}}}
_ANNOUNCEMENT = {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
    key: {"type": kind} for key, kind in (("name", "string"), ("title", "string"), ("tooltip", "string"),
                                          ("required", "boolean"), ("itemType", "string"),
                                          ("collectionType", "string"), ("string", "string"), ("array", "array"),
                                          ("map", "object"))}}
PLUGIN_SCHEMA = {
    "type": "object", "additionalProperties": False, "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "ConfigManagementPlugin"},  # ValidatePluginConfig
        "metadata": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string",
                                                                                      "minLength": 1}}},
        "spec": {"type": "object", "additionalProperties": False, "required": ["generate"], "properties": {
            "version": {"type": "string"},
            "init": _COMMAND,
            "generate": {**_COMMAND, "required": ["command"],  # ValidatePluginConfig: a non-empty command
                         "properties": {**_COMMAND["properties"],
                                        "command": {"type": "array", "items": {"type": "string"}, "minItems": 1}}},
            "discover": {"type": "object", "additionalProperties": False, "properties": {
                "fileName": {"type": "string"},
                "find": {**_COMMAND, "properties": {**_COMMAND["properties"], "glob": {"type": "string"}}}}},
            "parameters": {"type": "object", "additionalProperties": False, "properties": {
                "static": {"type": "array", "items": _ANNOUNCEMENT}, "dynamic": _COMMAND}},
            "preserveFileMode": {"type": "boolean"},
            "provideGitCreds": {"type": "boolean"},
        }},
    },
}

# The parts of Argo CD's manifests/base/repo-server/argocd-repo-server-deployment.yaml the patch relies on.
REPO_SERVER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: argocd-repo-server}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: argocd-repo-server}}
  template:
    metadata: {labels: {app.kubernetes.io/name: argocd-repo-server}}
    spec:
      containers:
      - name: argocd-repo-server
        image: quay.io/argoproj/argocd:v3.1.0
        volumeMounts:
        - {name: tmp, mountPath: /tmp}
        - {name: plugins, mountPath: /home/argocd/cmp-server/plugins}
      initContainers:
      - name: copyutil
        image: quay.io/argoproj/argocd:v3.1.0
        command: [sh, -c]
        args: ["/bin/cp /usr/local/bin/argocd /var/run/argocd/argocd &&
          /bin/ln -sf /var/run/argocd/argocd /var/run/argocd/argocd-cmp-server"]
        volumeMounts:
        - {name: var-files, mountPath: /var/run/argocd}
      volumes:
      - {name: tmp, emptyDir: {}}
      - {name: var-files, emptyDir: {}}
      - {name: plugins, emptyDir: {}}
"""


def _gitops(*args: str) -> str:
    result = CliRunner().invoke(cli, ["gitops", "argocd-plugin", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("argocd") / "kaito-compile-plugin"
    _gitops("--image", IMAGE, "-o", str(target))
    return target


@pytest.fixture(scope="module")
def plugin(written) -> dict:
    return yaml.safe_load((written / "plugin.yaml").read_text())


def test_plugin_file_has_only_fields_argo_cd_reads(plugin):
    jsonschema.validate(plugin, PLUGIN_SCHEMA)
    assert plugin["metadata"]["name"] == "kaito-compile" and "version" not in plugin["spec"]


def test_plugin_runs_no_shell_matches_nothing_by_itself_and_gets_no_credentials(plugin):
    spec = plugin["spec"]
    assert spec["generate"]["command"][0] == "kaito-compile"
    assert not {"sh", "bash", "-c"} & set(spec["generate"]["command"] + spec["generate"].get("args", []))
    assert "discover" not in spec and "init" not in spec
    assert spec["preserveFileMode"] is False and spec["provideGitCreds"] is False


def test_stdout_is_the_plugin_and_the_patch(written):
    documents = list(yaml.safe_load_all(_gitops("--image", IMAGE)))
    assert documents == [yaml.safe_load((written / name).read_text())
                         for name in ("plugin.yaml", "argocd-repo-server-patch.yaml")]


def test_generate_command_renders_the_application_directory(plugin, tmp_path):
    """What the sidecar does: the generate command, in the Application's directory, with Argo CD's build env."""
    app = tmp_path / "app"
    shutil.copytree(REPO / "examples", app)
    env = {**os.environ, **ARGOCD_ENV, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    generate = plugin["spec"]["generate"]
    result = subprocess.run(generate["command"] + generate.get("args", []), cwd=app, env=env, capture_output=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    objects = [doc for doc in yaml.safe_load_all(result.stdout)]
    assert len(objects) > 40 and all(obj["metadata"]["annotations"]["kaito-compile.dev/spec-hash"] for obj in objects)


@pytest.fixture(scope="module")
def argocd_install(written) -> list[dict]:
    """`kubectl kustomize` of an Argo CD install kustomization that adds the plugin as a component."""
    install = written.parent / "install"
    install.mkdir()
    (install / "argocd-repo-server.yaml").write_text(REPO_SERVER)
    (install / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argocd\n"
        "resources: [argocd-repo-server.yaml]\ncomponents: [../kaito-compile-plugin]\n")
    return kube.parse_manifests(kube.kustomize_build(install))


def test_the_component_adds_the_sidecar_to_argo_cds_repo_server(argocd_install, written):
    (config_map,) = [obj for obj in argocd_install if obj["kind"] == "ConfigMap"]
    (deployment,) = [obj for obj in argocd_install if obj["kind"] == "Deployment"]
    assert re.fullmatch(r"kaito-compile-plugin-[a-z0-9]{10}", config_map["metadata"]["name"])  # content hash
    assert config_map["metadata"]["namespace"] == "argocd"
    assert config_map["data"]["plugin.yaml"] == (written / "plugin.yaml").read_text()
    pod = deployment["spec"]["template"]["spec"]
    containers = {container["name"]: container for container in pod["containers"]}
    assert sorted(containers) == ["argocd-repo-server", "kaito-compile"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/default-container"] == "argocd-repo-server"
    sidecar = containers["kaito-compile"]
    assert sidecar["image"] == IMAGE and sidecar["command"] == [CMP_SERVER]
    assert sidecar["securityContext"]["runAsUser"] == ARGOCD_UID and sidecar["securityContext"]["runAsNonRoot"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in sidecar["volumeMounts"]}
    assert set(mounts) == {"/var/run/argocd", "/home/argocd/cmp-server/plugins", PLUGIN_CONFIG_PATH, "/tmp"}
    assert all(mount["name"] in volumes for mount in mounts.values())
    assert volumes[mounts[PLUGIN_CONFIG_PATH]["name"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert mounts[PLUGIN_CONFIG_PATH]["subPath"] == "plugin.yaml"
    assert mounts["/tmp"]["name"] != "tmp"  # not the repo-server's own /tmp


def test_the_patched_repo_server_passes_the_strict_schema(argocd_install):
    for obj in argocd_install:
        assert kube.validate_core(obj) == [], obj["kind"]


YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


@needs_crds
def test_the_documented_applications_name_the_plugin_and_validate(plugin):
    """The plain Application and the Source Hydrator one of docs/gitops.md."""
    blocks = [yaml.safe_load(block) for block in YAML_BLOCK.findall((REPO / "docs" / "gitops.md").read_text())]
    applications = [block for block in blocks if isinstance(block, dict) and block.get("kind") == "Application"]
    sources = [app["spec"].get("source") or app["spec"]["sourceHydrator"]["drySource"] for app in applications]
    assert len(applications) == 2 and "sourceHydrator" in applications[1]["spec"]
    for application, source in zip(applications, sources):
        assert kube.validate_crd(application) == []
        assert source["plugin"] == {"name": plugin["metadata"]["name"]}


def test_name_must_be_a_label():
    result = CliRunner().invoke(cli, ["gitops", "argocd-plugin", "--name", "Bad_Name"])
    assert result.exit_code == 2 and "DNS-1123 label" in result.output
