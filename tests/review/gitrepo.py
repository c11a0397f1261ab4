"""A throwaway git repository with two revisions of a small fleet of Workspaces, for the diff tests.

Base: ``team-a/workspace-chat`` (transformers, one Standard_ND96asr_A100_v4 node = 8 A100) and
``team-b/workspace-phi`` (vLLM, phi-4-mini on Standard_NC24ads_A100_v4). Head: chat scaled to 3 nodes,
phi moved to Standard_NC48ads_A100_v4 with the phi-3.5-mini preset, a new ``team-a/workspace-new``, and the
project config's image tag bumped (so the base revision must be compiled with its own config).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CONFIG = """\
cloud: azure
provisioner: gpu-provisioner
runtime: transformers
images:
  registry: ghcr.io/kaito-compile
  tag: {tag}
"""

CHAT = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-chat
  namespace: team-a
resource:
  count: {count}
  instanceType: Standard_ND96asr_A100_v4
  labelSelector:
    matchLabels:
      apps: chat
inference:
  preset:
    name: phi-3-mini-4k-instruct
"""

PHI = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-phi
  namespace: team-b
  annotations:
    kaito.sh/runtime: vllm
resource:
  instanceType: {instance_type}
  labelSelector:
    matchLabels:
      apps: phi
inference:
  preset:
    name: {preset}
"""

NEW = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: workspace-new
  namespace: team-a
resource:
  instanceType: Standard_NC24ads_A100_v4
  labelSelector:
    matchLabels:
      apps: new
inference:
  preset:
    name: phi-3-mini-4k-instruct
"""

BASE_FILES = {
    "kaito-compile.yaml": CONFIG.format(tag="0.1.0"),
    "specs/chat.yaml": CHAT.format(count=1),
    "specs/phi.yaml": PHI.format(instance_type="Standard_NC24ads_A100_v4", preset="phi-4-mini-instruct"),
}
HEAD_FILES = {
    "kaito-compile.yaml": CONFIG.format(tag="0.2.0"),
    "specs/chat.yaml": CHAT.format(count=3),
    "specs/phi.yaml": PHI.format(instance_type="Standard_NC48ads_A100_v4", preset="phi-3.5-mini-instruct"),
    "specs/new.yaml": NEW,
}
GIT_ENV = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "test",
           "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | GIT_ENV
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True).stdout


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def make_fleet_repo(repo: Path) -> Path:
    """Initialise ``repo`` with the base commit, then the head commit (HEAD~1 → HEAD)."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, BASE_FILES, "base fleet")
    commit(repo, HEAD_FILES, "scale chat, move phi to two A100s, add workspace-new, bump images")
    return repo
