"""The pure parts of the review: field diffs, capacity, replacement rules, effects and the tree reader."""

from __future__ import annotations

import copy

import pytest
import yaml

from kaito_compile.review import Effect, Status, TreeError, diff_trees, render_markdown
from kaito_compile.review.fields import diff_values
from kaito_compile.review.impact import capacity, capacity_delta, effect, effective_gpu_request, replacements
from kaito_compile.review.model import Capacity
from kaito_compile.review.render import item_changes

GPU_MODELS = {"standard_nd96asr_a100_v4": "NVIDIA A100", "standard_nc40ads_h100_v5": "NVIDIA H100"}


def _container(name: str, gpus: int = 0, image: str = "registry/app:1", **extra) -> dict:
    resources = {"limits": {"nvidia.com/gpu": gpus}, "requests": {"nvidia.com/gpu": gpus}} if gpus else {}
    return {"name": name, "image": image, "resources": resources, **extra}


def _workload(kind: str = "StatefulSet", name: str = "ws", replicas: int | None = 1, containers=None,
              init=None) -> dict:
    pod = {"containers": containers if containers is not None else [_container(name, 8)]}
    if init:
        pod["initContainers"] = init
    spec = {"selector": {"matchLabels": {"app": name}}, "template": {"metadata": {}, "spec": pod}}
    if replicas is not None:
        spec["parallelism" if kind == "Job" else "replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = f"{name}-headless"
    return {"apiVersion": "batch/v1" if kind == "Job" else "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def _node_claim(name: str, instance_type: str = "Standard_ND96asr_A100_v4") -> dict:
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": {"name": name},
            "spec": {"requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["kaito"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [instance_type]}]}}


def _tree(objects: list[dict], directory: str = "ns/ws") -> dict[str, bytes]:
    files = {f"{directory}/{o['kind'].lower()}-{o['metadata']['name']}.yaml": yaml.safe_dump(o).encode()
             for o in objects}
    files[f"{directory}/kustomization.yaml"] = b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
    files[".kaito-compile-lock.json"] = b"{}"
    return files


# --- field diffs --------------------------------------------------------------------------------------------

def test_lists_of_named_items_are_matched_by_name():
    old = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    new = {"containers": [{"name": "sidecar", "image": "s:1"}, {"name": "a", "image": "x:2"},
                          {"name": "b", "image": "y:1"}]}
    changes = [(c.display_path, c.op, c.old, c.new) for c in diff_values(old, new)]
    assert changes == [("containers[name=a].image", "changed", "x:1", "x:2"),
                       ("containers[name=sidecar]", "added", None, {"name": "sidecar", "image": "s:1"})]


def test_reordering_a_keyed_list_is_a_change():
    old = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    new = {"env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}
    (change,) = diff_values(old, new)
    assert (change.display_path, change.old, change.new) == ("env[name order]", ["A", "B"], ["B", "A"])


def test_lists_without_identity_and_scalar_lists_change_as_a_whole():
    old = {"args": ["--a", "--b"], "items": [{"x": 1}, {"x": 1}]}
    new = {"args": ["--a", "--c"], "items": [{"x": 1}, {"x": 2}]}
    assert [c.display_path for c in diff_values(old, new)] == ["args", "items"]


def test_type_changes_and_quoted_keys():
    (change,) = diff_values({"limits": {"nvidia.com/gpu": 1}}, {"limits": {"nvidia.com/gpu": "1"}})
    assert change.display_path == 'limits["nvidia.com/gpu"]'
    assert (change.old, change.new) == (1, "1")


def test_long_strings_are_compared_word_by_word():
    old = "python3 api.py " + " ".join(f"--flag{i}=x" for i in range(12)) + " --model=a"
    new = old.replace("--model=a", "--model=b").replace("--flag3=x", "--flag3=y")
    assert item_changes([old], [new]) == (["--flag3=x", "--model=a"], ["--flag3=y", "--model=b"])
    assert item_changes("short", "other") is None


# --- capacity -----------------------------------------------------------------------------------------------

def test_capacity_counts_node_objects_and_pod_gpus_by_model():
    objects = [_node_claim("ws1"), _node_claim("ws2"), _workload(replicas=2)]
    cap = capacity(objects, GPU_MODELS)
    assert cap == Capacity(nodes=2, instance_types=("Standard_ND96asr_A100_v4",), gpus=(("NVIDIA A100", 16),))


def test_static_node_pool_replicas_count_as_nodes():
    pool = {"kind": "NodePool", "metadata": {"name": "p"}, "spec": {"replicas": 3, "template": {"spec": {
        "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                          "values": ["Standard_NC40ads_H100_v5"]}]}}}}
    cap = capacity([pool, _workload(kind="Deployment", replicas=3, containers=[_container("c", 1)])], GPU_MODELS)
    assert (cap.nodes, cap.gpus) == (3, (("NVIDIA H100", 3),))


def test_without_node_objects_gpus_keep_their_resource_name():
    mig = _container("c")
    mig["resources"] = {"limits": {"nvidia.com/mig-1g.10gb": 2}}
    cap = capacity([_workload(containers=[mig, _container("d", 1)])], GPU_MODELS)
    assert cap.gpus == (("nvidia.com/gpu", 1), ("nvidia.com/mig-1g.10gb", 2))
    assert capacity_delta(Capacity(), cap) == "+1 nvidia.com/gpu, +2 nvidia.com/mig-1g.10gb"


def test_effective_request_follows_the_scheduler():
    tuning = {"containers": [_container("pusher")], "initContainers": [_container("tune", 4), _container("pull")]}
    assert effective_gpu_request(tuning) == {"nvidia.com/gpu": 4}
    sidecar = {"containers": [_container("main", 2)],
               "initContainers": [_container("side", 1, restartPolicy="Always"), _container("init", 2)]}
    assert effective_gpu_request(sidecar) == {"nvidia.com/gpu": 3}


def test_jobs_count_parallel_pods():
    assert capacity([_workload(kind="Job", replicas=None)], {}).gpus == (("nvidia.com/gpu", 8),)
    assert capacity([_workload(kind="Job", replicas=2)], {}).gpus == (("nvidia.com/gpu", 16),)


def test_capacity_delta_phrase():
    old = Capacity(nodes=1, gpus=(("NVIDIA A100", 8),))
    new = Capacity(nodes=3, gpus=(("NVIDIA A100", 24),))
    assert capacity_delta(old, new) == "+2 nodes, +16 NVIDIA A100 GPUs"
    assert capacity_delta(new, Capacity(nodes=2, gpus=(("NVIDIA H100", 1),))) == \
        "-1 node, -24 NVIDIA A100 GPUs, +1 NVIDIA H100 GPU"
    assert capacity_delta(old, old) == ""


# --- replacements and effects -------------------------------------------------------------------------------

def _replaced(old: dict, new: dict) -> list[str]:
    return [r.path for r in replacements(old["kind"], old, new, diff_values(old, new))]


@pytest.mark.parametrize("field, value", [
    ("serviceName", "other"),
    ("podManagementPolicy", "OrderedReady"),
    ("volumeClaimTemplates", [{"metadata": {"name": "cache"}}]),
    ("selector", {"matchLabels": {"app": "other"}}),
])
def test_statefulset_fields_outside_the_mutable_list_force_replacement(field, value):
    old = _workload()
    new = copy.deepcopy(old)
    new["spec"][field] = value
    assert _replaced(old, new) == [f"spec.{field}"]


def test_statefulset_replicas_and_template_are_mutable():
    old = _workload()
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 3
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "registry/app:2"
    changes = diff_values(old, new)
    assert _replaced(old, new) == []
    assert effect("StatefulSet", changes, []) is Effect.ROLLOUT


@pytest.mark.parametrize("kind, path, value, expected", [
    ("Deployment", ("spec", "selector", "matchLabels", "app"), "x", "spec.selector"),
    ("Job", ("spec", "template", "spec", "restartPolicy"), "Never", "spec.template"),
])
def test_immutable_workload_fields(kind, path, value, expected):
    old = _workload(kind=kind)
    new = copy.deepcopy(old)
    target = new
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _replaced(old, new) == [expected]
    assert effect(kind, diff_values(old, new), replacements(kind, old, new, diff_values(old, new))) is Effect.REPLACE


def test_node_claim_spec_is_immutable_but_its_labels_are_not():
    old = _node_claim("ws1")
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"team": "a"}
    assert _replaced(old, relabelled) == []
    assert _replaced(old, _node_claim("ws1", "Standard_NC40ads_H100_v5")) == ["spec"]


def test_service_cluster_ip_and_immutable_config_maps():
    service = {"kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"name": "http", "port": 80}]}}
    headless = copy.deepcopy(service)
    headless["spec"]["clusterIP"] = "None"
    assert _replaced(service, headless) == ["spec.clusterIP"]
    frozen = {"kind": "ConfigMap", "metadata": {"name": "c"}, "immutable": True, "data": {"a": "1"}}
    assert _replaced(frozen, {**frozen, "data": {"a": "2"}}) == ["data"]
    assert _replaced({**frozen, "immutable": False}, {**frozen, "immutable": False, "data": {"a": "2"}}) == []


def test_node_pool_template_changes_replace_nodes():
    pool = {"kind": "NodePool", "metadata": {"name": "p"},
            "spec": {"replicas": 1, "template": {"spec": {"nodeClassRef": {"group": "g", "kind": "K", "name": "a"}}}}}
    renamed = copy.deepcopy(pool)
    renamed["spec"]["template"]["spec"]["nodeClassRef"]["name"] = "b"
    assert _replaced(pool, renamed) == []
    assert effect("NodePool", diff_values(pool, renamed), []) is Effect.NODES_REPLACED
    regrouped = copy.deepcopy(pool)
    regrouped["spec"]["template"]["spec"]["nodeClassRef"]["group"] = "h"
    assert _replaced(pool, regrouped) == ["spec.template.spec.nodeClassRef.group"]
    dynamic = copy.deepcopy(pool)
    del dynamic["spec"]["replicas"]
    assert _replaced(pool, dynamic) == ["spec.replicas"]


def test_a_new_spec_hash_alone_is_provenance():
    old = _workload()
    old["metadata"]["annotations"] = {"kaito-compile.dev/spec-hash": "sha256:a"}
    new = copy.deepcopy(old)
    new["metadata"]["annotations"]["kaito-compile.dev/spec-hash"] = "sha256:b"
    assert effect("StatefulSet", diff_values(old, new), []) is Effect.PROVENANCE
    new["spec"]["replicas"] = 2
    assert effect("StatefulSet", diff_values(old, new), []) is Effect.UPDATE


# --- trees --------------------------------------------------------------------------------------------------

def test_objects_are_matched_by_identity_not_by_file_name():
    old = _tree([_workload(), _node_claim("ws1")])
    new = {path.replace("statefulset-ws", "renamed"): data for path, data in old.items()}
    result = diff_trees(old, new, GPU_MODELS, base="a", head="b")
    assert not result.changed
    assert [(ws.workspace, ws.unchanged_objects) for ws in result.workspaces] == [("ns/ws", 2)]


def test_workspaces_added_removed_and_changed():
    old = {**_tree([_workload("StatefulSet", "gone")], "ns/gone"), **_tree([_workload()], "ns/ws")}
    bigger = _workload(replicas=2)
    new = {**_tree([bigger, _node_claim("ws1")], "ns/ws"), **_tree([_workload("Deployment", "new")], "ns/new")}
    result = diff_trees(old, new, GPU_MODELS, base="a", head="b")
    assert [(ws.workspace, ws.status) for ws in result.workspaces] == [
        ("ns/gone", Status.REMOVED), ("ns/new", Status.ADDED), ("ns/ws", Status.CHANGED)]
    changed = result.workspaces[2]
    assert [(o.kind, o.status) for o in changed.objects] == [("NodeClaim", Status.ADDED),
                                                            ("StatefulSet", Status.CHANGED)]
    assert (result.count(Status.ADDED), result.count(Status.REMOVED), result.count(Status.CHANGED)) == (2, 1, 1)


def test_unreadable_trees_are_refused():
    with pytest.raises(TreeError, match="not YAML"):
        diff_trees({"ns/ws/a.yaml": b"key: [unclosed"}, {}, {}, base="a", head="b")
    with pytest.raises(TreeError, match="kind and metadata.name"):
        diff_trees({"ns/ws/a.yaml": b"- a list\n"}, {}, {}, base="a", head="b")
    twice = yaml.safe_dump(_node_claim("ws1")).encode()
    with pytest.raises(TreeError, match="defined twice"):
        diff_trees({"ns/ws/a.yaml": twice, "ns/ws/b.yaml": twice}, {}, {}, base="a", head="b")


def test_markdown_drops_details_beyond_the_comment_limit():
    many = _tree([_workload(name=f"w{i}", replicas=i) for i in range(40)], "ns/many")
    result = diff_trees(_tree([_workload()]), {**_tree([_workload(replicas=2)]), **many}, GPU_MODELS,
                        base="a", head="b")
    full = render_markdown(result)
    assert "<details>" in full
    short = render_markdown(result, max_chars=len(full) - 1)
    assert "<details>" not in short and "Object details omitted" in short and len(short) < len(full)
