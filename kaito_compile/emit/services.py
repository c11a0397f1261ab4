"""The two Services of every inference workspace: ``<ws>`` (80 → 5000) and ``<ws>-headless``."""

from __future__ import annotations

import cdk8s

from ..plan.model import Plan
from .common import Scope, INFERENCE_PORT, WORKSPACE_LABEL, plain_metadata, untyped_object

RAY_PORT, DASHBOARD_PORT, KV_EVENTS_PORT = 6379, 8265, 5557


def _port(name: str, port: int, target: int) -> dict:
    return {"name": name, "port": port, "protocol": "TCP", "targetPort": target}


def emit_services(scope: Scope, plan: Plan) -> list[cdk8s.ApiObject]:
    load_balancer = plan.annotations.get("kaito.sh/enablelb") == "True"
    selector = {WORKSPACE_LABEL: plan.workspace}
    ports = [_port("http", 80, INFERENCE_PORT)]
    if plan.runtime == "vllm" or plan.kind == "inference-template":
        # Kaito's StatefulSet: the main Service targets pod 0, the leader, and exposes Ray too.
        selector["statefulset.kubernetes.io/pod-name"] = f"{plan.workspace}-0"
        ports += [_port("ray", RAY_PORT, RAY_PORT), _port("dashboard", DASHBOARD_PORT, DASHBOARD_PORT)]
        if plan.runtime == "vllm" and not load_balancer and plan.kind == "inference-preset":
            ports.append(_port("kv-events", KV_EVENTS_PORT, KV_EVENTS_PORT))
    service = untyped_object(scope, "service", "v1", "Service", plain_metadata(plan, plan.workspace), {"spec": {
        "type": "LoadBalancer" if load_balancer else "ClusterIP",
        "selector": selector,
        "ports": ports,
        "publishNotReadyAddresses": plan.runtime == "vllm" or plan.kind == "inference-template",
    }})
    headless = untyped_object(scope, "service-headless", "v1", "Service",
                              plain_metadata(plan, f"{plan.workspace}-headless"),
                              {"spec": {"clusterIP": "None", "selector": {WORKSPACE_LABEL: plan.workspace},
                                        "publishNotReadyAddresses": True}})
    return [service, headless]
