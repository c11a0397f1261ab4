"""Cluster-scoped objects have names unique across the whole compiled tree (issue #13, item 9): two Workspaces in
different files whose karpenter NodePool names collide are refused by build with KC-R5 on both specs, out/ is not
touched, and a warm cache run (the specs' findings read back from the cache) refuses them the same way."""

from __future__ import annotations

from pathlib import Path

import yaml

from .cli import cli_env, run_cli, tree_bytes

REPO = Path(__file__).resolve().parents[2]


def workspace(namespace: str, name: str) -> dict:
    return {"apiVersion": "kaito.sh/v1beta1", "kind": "Workspace", "metadata": {"name": name, "namespace": namespace},
            "resource": {"instanceType": "Standard_NC24ads_A100_v4", "labelSelector": {"matchLabels": {"apps": name}}},
            "inference": {"preset": {"name": "phi-3-mini-4k-instruct"}}}


def test_colliding_node_pool_names_across_files_are_refused_on_both_specs(tmp_path: Path):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "kaito-compile.yaml").write_text("provisioner: karpenter\n")
    (root / "a.yaml").write_text(yaml.safe_dump(workspace("team-a", "coder")))
    (root / "b.yaml").write_text(yaml.safe_dump(workspace("team", "a-coder")))
    (root / "c.yaml").write_text(yaml.safe_dump(workspace("team", "writer")))
    env = cli_env(XDG_CACHE_HOME=str(tmp_path / "keys"))
    first = run_cli(["build", ".", "-o", "out"], cwd=root, logs=tmp_path / "first", env=env)
    assert first.exit_code == 1, first.output
    assert "a.yaml:7:9: error: Workspace team-a/coder makes the cluster-scoped NodePool team-a-coder" in first.stdout
    assert "b.yaml:7:9: error: Workspace team/a-coder makes the cluster-scoped NodePool team-a-coder" in first.stdout
    assert first.stdout.count("[KC-R5]") == 2 and not (root / "out").exists()
    (root / "b.yaml").write_text(yaml.safe_dump(workspace("team", "b-coder")))
    fixed = run_cli(["build", ".", "-o", "out"], cwd=root, logs=tmp_path / "fixed", env=env)
    assert fixed.exit_code == 0, fixed.output
    before = tree_bytes(root / "out")
    (root / "b.yaml").write_text(yaml.safe_dump(workspace("team", "a-coder")))
    warm = run_cli(["build", ".", "-o", "out"], cwd=root, logs=tmp_path / "warm", env=env)
    assert warm.exit_code == 1 and warm.stdout.count("[KC-R5]") == 2, warm.output  # a.yaml's findings: cached
    assert tree_bytes(root / "out") == before


def test_colliding_hashed_node_claim_names_are_refused_on_the_rendered_tree(tmp_path: Path, monkeypatch):
    """NodeClaim names hash namespace, name, instance type and index (36 bits): a collision, forced here, is
    caught on the rendered files, with KC-R5 on both specs."""
    from kaito_compile import plan
    from kaito_compile.compiler import Catalogs, compile_paths
    from kaito_compile.config import ConfigResolver

    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "a.yaml").write_text(yaml.safe_dump(workspace("team-a", "coder")))
    (root / "b.yaml").write_text(yaml.safe_dump(workspace("team-b", "writer")))
    monkeypatch.chdir(root)
    monkeypatch.setattr(plan, "node_claim_name", lambda *args: "ws0123456789")
    report, tree = compile_paths(["a.yaml", "b.yaml"], ConfigResolver(), Catalogs())
    r5 = sorted((d.span.file, d.span.line) for d in report.errors if d.code == "KC-R5")
    assert r5 == [("a.yaml", 7), ("b.yaml", 7)] and tree == {}
    assert all("NodeClaim ws0123456789" in d.message for d in report.errors)
