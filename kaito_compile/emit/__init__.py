"""Stage 5, emit: Plans → Kubernetes objects, built with cdk8s, returned as plain dicts.

One cdk8s App per build; per workspace one chart for its namespaced objects and one without a
namespace for its cluster-scoped node objects (a chart's namespace would be stamped on them).
"""

from __future__ import annotations

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import cdk8s  # noqa: E402

from ..gitops.sync import annotate_for_sync  # noqa: E402
from ..plan.model import Plan  # noqa: E402
from .inference import emit_template_statefulset, emit_transformers_deployment, emit_vllm_statefulset  # noqa: E402
from .nodes import emit_machines, emit_node_claims, emit_node_pool  # noqa: E402
from .services import emit_services  # noqa: E402
from .tuning import emit_config_maps, emit_tuning_job  # noqa: E402


class Emitter:
    def __init__(self) -> None:
        self.app = cdk8s.App()

    def emit(self, plan: Plan, *, nvme_storage_class: bool = False, node_class_group: str = "",
             node_class_kind: str = "") -> list[dict]:
        chart_id = f"{plan.namespace}/{plan.workspace}"
        namespaced = cdk8s.Chart(self.app, chart_id, namespace=plan.namespace, disable_resource_name_hashes=True)
        cluster = cdk8s.Chart(self.app, f"{chart_id}/cluster", disable_resource_name_hashes=True)
        emit_config_maps(namespaced, plan)
        if plan.kind == "tuning":
            emit_tuning_job(namespaced, plan)
        else:
            emit_services(namespaced, plan)
            if plan.kind == "inference-template":
                emit_template_statefulset(namespaced, plan)
            elif plan.runtime == "vllm":
                emit_vllm_statefulset(namespaced, plan, nvme_storage_class=nvme_storage_class)
            else:
                emit_transformers_deployment(namespaced, plan)
        if plan.provisioner == "gpu-provisioner":
            emit_node_claims(cluster, plan)
        elif plan.provisioner == "machine":
            emit_machines(cluster, plan)
        elif plan.provisioner == "karpenter":
            emit_node_pool(cluster, plan, node_class_group, node_class_kind)
        return annotate_for_sync([*namespaced.to_json(), *cluster.to_json()])
