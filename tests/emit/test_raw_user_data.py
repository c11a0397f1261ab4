"""User-supplied raw data (pod templates, VolumeSources) survives emission unchanged, quantities included.

cdk8s's typed objects drop Quantity/IntOrString values that arrive through JSON patches; the emitter
splices raw data in after synthesis instead (kaito_compile/emit/raw.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kaito_compile.compiler import Catalogs, compile_paths
from kaito_compile.config import ConfigResolver

CONFIG = """\
cloud: azure
provisioner: gpu-provisioner
configMaps:
  - {name: tcfg, namespace: default, data: {training_config.yaml: "training_config: {}"}}
"""

TEMPLATE_WS = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: tmpl}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {app: tmpl}}
inference:
  template:
    spec:
      containers:
        - name: server
          image: ghcr.io/example/server:1.0.0
          ports: [{containerPort: 5000}]
          readinessProbe: {httpGet: {path: /health, port: 5000}}
          resources: {limits: {nvidia.com/gpu: "1", memory: 16Gi}}
      volumes:
        - name: scratch
          emptyDir: {sizeLimit: 10Gi}
"""

TUNING_WS = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: tune}
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector: {matchLabels: {app: tune}}
tuning:
  preset: {name: phi-3-mini-4k-instruct}
  method: lora
  input:
    name: data
    volumeSource:
      ephemeral:
        volumeClaimTemplate:
          spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 20Gi}}}
  output:
    volumeSource: {emptyDir: {sizeLimit: 5Gi}}
"""


def _compile(tmp_path: Path, monkeypatch) -> dict[str, dict]:
    (tmp_path / "kaito-compile.yaml").write_text(CONFIG)
    (tmp_path / "tmpl.yaml").write_text(TEMPLATE_WS)
    (tmp_path / "tune.yaml").write_text(TUNING_WS)
    monkeypatch.chdir(tmp_path)
    report, tree = compile_paths(["."], ConfigResolver(), Catalogs())
    assert not report.errors, [d.message for d in report.errors]
    return {path: yaml.safe_load(data) for path, data in tree.items() if path.endswith(".yaml")}


def test_template_quantities_and_ports_survive(tmp_path, monkeypatch):
    objects = _compile(tmp_path, monkeypatch)
    pod = objects["default/tmpl/statefulset-tmpl.yaml"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "1", "memory": "16Gi"}
    assert container["readinessProbe"]["httpGet"]["port"] == 5000
    assert pod["volumes"] == [{"name": "scratch", "emptyDir": {"sizeLimit": "10Gi"}}]


def test_tuning_volume_sources_survive(tmp_path, monkeypatch):
    objects = _compile(tmp_path, monkeypatch)
    volumes = {v["name"]: v for v in objects["default/tune/job-tune.yaml"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["results-volume"]["emptyDir"] == {"sizeLimit": "5Gi"}
    claim = volumes["data-volume"]["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi"
