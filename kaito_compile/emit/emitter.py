"""Plans → Kubernetes objects with cdk8s, one cdk8s App per build.

Every jsii call is a round trip to the node process, and on a busy machine the round trip costs more than the
work it carries, so workspaces are emitted in batches: a batch shares one chart without a namespace (namespaced
objects carry their namespace in their own metadata, cluster-scoped node objects have none; a chart's namespace
would be stamped on them), each workspace's construct ids have a prefix of their own (a construct per workspace
would be one more round trip each), and the whole chart is turned into JSON with one call, then split per
workspace (a chart lists its objects in creation order).
"""

from __future__ import annotations

import itertools

from . import jsii_kernel

jsii_kernel.install()  # before cdk8s is imported: loading its assembly starts node

import cdk8s

from ..gitops.sync import annotate_for_sync
from ..plan.model import Plan
from . import jsii_speedups, raw
from .common import Scope
from .inference import emit_template_statefulset, emit_transformers_deployment, emit_vllm_statefulset
from .nodes import emit_machines, emit_node_claims, emit_node_pool
from .services import emit_services
from .tuning import emit_config_maps, emit_tuning_job


class Emitter:
    def __init__(self) -> None:
        jsii_speedups.install()
        self.app = cdk8s.App()
        self._chart: cdk8s.Chart | None = None
        self._charts = 0
        self._counts: list[int] = []  # objects per workspace of the pending batch, in the order added
        self._raw: list[list[raw.RawPatch]] = []  # user data to splice into each pending object

    def add(self, plan: Plan, *, nvme_storage_class: bool = False, node_class_group: str = "",
            node_class_kind: str = "") -> None:
        """Build ``plan``'s objects into the pending batch; :meth:`synth` returns them."""
        if self._chart is None:
            self._charts += 1
            self._chart = cdk8s.Chart(self.app, f"batch-{self._charts}", disable_resource_name_hashes=True)
        scope = Scope(self._chart, f"workspace-{len(self._counts)}-")
        objects = _emit_workspace(scope, plan, nvme_storage_class, node_class_group, node_class_kind)
        self._counts.append(len(objects))
        self._raw += [raw.take(obj) for obj in objects]

    def synth(self) -> list[list[dict]]:
        """The objects of each workspace added since the last call, in the order they were added."""
        if self._chart is None:
            return []
        objects, counts, patches = self._chart.to_json(), self._counts, self._raw
        self._chart, self._counts, self._raw = None, [], []
        if len(objects) != sum(counts):
            raise RuntimeError(f"the chart synthesized {len(objects)} objects, the emitters created {sum(counts)}")
        objects = [raw.apply(obj, obj_patches) for obj, obj_patches in zip(objects, patches, strict=True)]
        ends = itertools.accumulate(counts)
        return [annotate_for_sync(objects[end - count:end]) for end, count in zip(ends, counts)]

    def emit(self, plan: Plan, *, nvme_storage_class: bool = False, node_class_group: str = "",
             node_class_kind: str = "") -> list[dict]:
        """One workspace's objects, synthesized at once (nothing else may be pending)."""
        if self._counts:
            raise RuntimeError("emit() while a batch is pending: call synth() first")
        self.add(plan, nvme_storage_class=nvme_storage_class, node_class_group=node_class_group,
                 node_class_kind=node_class_kind)
        return self.synth()[0]


def _emit_workspace(scope: Scope, plan: Plan, nvme_storage_class: bool, node_class_group: str,
                    node_class_kind: str) -> list[cdk8s.ApiObject]:
    """Every object of one workspace, namespaced ones first, in emission order."""
    objects: list[cdk8s.ApiObject] = [*emit_config_maps(scope, plan)]
    if plan.kind == "tuning":
        objects.append(emit_tuning_job(scope, plan))
    else:
        objects += emit_services(scope, plan)
        if plan.kind == "inference-template":
            objects.append(emit_template_statefulset(scope, plan))
        elif plan.runtime == "vllm":
            objects.append(emit_vllm_statefulset(scope, plan, nvme_storage_class=nvme_storage_class))
        else:
            objects.append(emit_transformers_deployment(scope, plan))
    if plan.provisioner == "gpu-provisioner":
        objects += emit_node_claims(scope, plan)
    elif plan.provisioner == "machine":
        objects += emit_machines(scope, plan)
    elif plan.provisioner == "karpenter":
        objects.append(emit_node_pool(scope, plan, node_class_group, node_class_kind))
    return objects
