"""The two Services of every inference workspace: ``<ws>`` (80 → 5000) and ``<ws>-headless``."""

from __future__ import annotations

from cdk8s_plus_33 import k8s

from ..plan.model import Plan
from .common import Scope, INFERENCE_PORT, WORKSPACE_LABEL, int_or_string, metadata

RAY_PORT, DASHBOARD_PORT, KV_EVENTS_PORT = 6379, 8265, 5557


def _port(name: str, port: int, target: int) -> k8s.ServicePort:
    return k8s.ServicePort(name=name, port=port, protocol="TCP", target_port=int_or_string(target))


def emit_services(scope: Scope, plan: Plan) -> list[k8s.KubeService]:
    load_balancer = plan.annotations.get("kaito.sh/enablelb") == "True"
    selector = {WORKSPACE_LABEL: plan.workspace}
    ports = [_port("http", 80, INFERENCE_PORT)]
    if plan.runtime == "vllm" or plan.kind == "inference-template":
        # Kaito's StatefulSet: the main Service targets pod 0, the leader, and exposes Ray too.
        selector["statefulset.kubernetes.io/pod-name"] = f"{plan.workspace}-0"
        ports += [_port("ray", RAY_PORT, RAY_PORT), _port("dashboard", DASHBOARD_PORT, DASHBOARD_PORT)]
        if plan.runtime == "vllm" and not load_balancer and plan.kind == "inference-preset":
            ports.append(_port("kv-events", KV_EVENTS_PORT, KV_EVENTS_PORT))
    service = k8s.KubeService(*scope.at("service"), metadata=metadata(plan, plan.workspace), spec=k8s.ServiceSpec(
        type="LoadBalancer" if load_balancer else "ClusterIP",
        selector=selector,
        ports=ports,
        publish_not_ready_addresses=plan.runtime == "vllm" or plan.kind == "inference-template",
    ))
    headless = k8s.KubeService(*scope.at("service-headless"), metadata=metadata(plan, f"{plan.workspace}-headless"),
                               spec=k8s.ServiceSpec(cluster_ip="None", selector={WORKSPACE_LABEL: plan.workspace},
                                                    publish_not_ready_addresses=True))
    return [service, headless]
