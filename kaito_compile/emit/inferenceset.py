"""The objects of an InferenceSet itself (its replicas are ordinary workspaces): the KEDA ScaledObject that scales
it, the llm-d router chart Kaito installs for it (Flux OCIRepository + HelmRelease, or an Argo CD Application) and
the HTTPRoute from the configured Gateway to its InferencePool. Plain dicts: these are custom resources without
typed cdk8s classes, each checked against its upstream CRD in the tests.
"""

from __future__ import annotations

import math

from ..gitops.sync import annotate_for_sync
from ..plan.inferenceset import ROUTER_CHART, ROUTER_VERSION, RoutePlan, ScalePlan, SetPlan
from ..rules.inferenceset import formula_variable
from ..spec.inferenceset import CREATED_BY_LABEL
from .common import INFERENCE_PORT, MANAGED_BY, SPEC_HASH_ANNOTATION

POLLING_INTERVAL = 15
FLUX_INTERVAL = "10m"
ARGOCD_SERVER = "https://kubernetes.default.svc"


def emit_set(plan: SetPlan) -> list[dict]:
    """Every object of the set itself, in emission order (empty when the set needs none)."""
    objects = []
    if plan.scale is not None:
        objects.append(scaled_object(plan, plan.scale))
    if plan.route is not None:
        objects += router_install(plan, plan.route)
        if plan.config.routing.gateway is not None:
            objects.append(http_route(plan, plan.route))
    return annotate_for_sync(objects)


def _metadata(plan: SetPlan, name: str, namespace: str | None = None) -> dict:
    return {"name": name, "namespace": namespace or plan.namespace,
            "labels": {CREATED_BY_LABEL: plan.name, **MANAGED_BY},
            "annotations": {SPEC_HASH_ANNOTATION: plan.source_hash}}


# --- KEDA ---------------------------------------------------------------------------------------------------------

def scaled_object(plan: SetPlan, scale: ScalePlan) -> dict:
    """keda-kaito-scaler's ScaledObject (reference §3.3 / §3.5), aimed at our workload and reading Prometheus."""
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": scale.target_kind, "name": scale.target_name},
        "pollingInterval": POLLING_INTERVAL,
        "minReplicaCount": scale.min_replicas,
        "maxReplicaCount": scale.max_replicas,
    }
    if scale.autoscaling.scheme == "legacy":
        spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": _behavior(60, 300, "100m", 300, 600,
                                                                                       "500m")}}
        metric = scale.autoscaling.metrics[0]
        spec["triggers"] = [_trigger(scale, "keda-kaito-scaler", f"sum({metric.name}{{{_selector(plan, scale)}}})",
                                     str(scale.autoscaling.threshold), "AverageValue")]
    else:
        auto = scale.autoscaling
        spec["advanced"] = {
            "horizontalPodAutoscalerConfig": {"behavior": _behavior(
                auto.evaluation_window, auto.scale_up_cooldown, "100m", auto.scale_down_cooldown,
                auto.scale_down_cooldown, "100m")},
            "scalingModifiers": {"target": "1", "metricType": "Value", "formula": scaling_formula(scale)},
        }
        spec["triggers"] = [_trigger(scale, formula_variable(m.name), _metric_query(plan, scale, m),
                                     _number(m.up), "Value") for m in auto.metrics]
    return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": _metadata(plan, plan.name),
            "spec": spec}


def _behavior(up_window: int, up_period: int, up_tolerance: str, down_window: int, down_period: int,
              down_tolerance: str) -> dict:
    def direction(window: int, period: int, tolerance: str) -> dict:
        return {"stabilizationWindowSeconds": window, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 1, "periodSeconds": period}], "tolerance": tolerance}

    return {"scaleUp": direction(up_window, up_period, up_tolerance),
            "scaleDown": direction(down_window, down_period, down_tolerance)}


def _trigger(scale: ScalePlan, name: str, query: str, threshold: str, metric_type: str) -> dict:
    return {"type": "prometheus", "name": name, "metricType": metric_type,
            "metadata": {"serverAddress": scale.prometheus, "query": query, "threshold": threshold}}


def _selector(plan: SetPlan, scale: ScalePlan) -> str:
    """The pods of the scaled workload: Deployment pods are ``<name>-<hash>-<suffix>``, StatefulSet ``<name>-<n>``."""
    pods = f"{scale.target_name}-[a-z0-9]+-[a-z0-9]+" if scale.target_kind == "Deployment" \
        else f"{scale.target_name}-[0-9]+"
    return f'namespace="{plan.namespace}",pod=~"{pods}"'


def _metric_query(plan: SetPlan, scale: ScalePlan, metric) -> str:
    """gauge: the average over the replicas (service-avg); histogram: the mean observation over the cache window
    (windowed-avg)."""
    selector = _selector(plan, scale)
    if metric.type == "gauge":
        return f"avg({metric.name}{{{selector}}})"
    window = f"[{metric.cache_window}s]"
    return (f"sum(rate({metric.name}_sum{{{selector}}}{window})) / "
            f"sum(rate({metric.name}_count{{{selector}}}{window}))")


def scaling_formula(scale: ScalePlan) -> str:
    """keda-kaito-scaler's formula without its readiness gate: double when every metric is above its up threshold,
    halve when every one is below its down threshold (combine policy AND)."""
    metrics = scale.autoscaling.metrics
    up = " && ".join(f"{formula_variable(m.name)} > {_number(m.up)}" for m in metrics)
    down = " && ".join(f"{formula_variable(m.name)} < {_number(m.down)}" for m in metrics)
    return f"({up}) ? 2.0 : (({down}) ? 0.5 : 1.0)"


def _number(value: float) -> str:
    """Go's strconv.FormatFloat(x, 'f', -1, 64) for the finite values the annotations allow."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return repr(value)


# --- routing: the llm-d router chart and the HTTPRoute ----------------------------------------------------------

def router_values(plan: SetPlan, route: RoutePlan) -> dict:
    """Kaito's HelmRelease values (reference §2.8); an autoscaled set selects every pod (each one a replica)."""
    match_labels = {CREATED_BY_LABEL: plan.name}
    if route.leader_only:
        match_labels["apps.kubernetes.io/pod-index"] = "0"
    return {"router": {
        "epp": {
            "flags": {"secure-serving": False},
            "image": {"pullPolicy": "IfNotPresent", "registry": "mcr.microsoft.com/oss/v2/llm-d",
                      "repository": "llm-d-router-endpoint-picker", "tag": ROUTER_VERSION},
            "resources": {"limits": {"memory": "16Gi"}, "requests": {"cpu": "1", "memory": "2Gi"}},
        },
        "modelServers": {"matchLabels": dict(sorted(match_labels.items())),
                         "targetPorts": [{"number": INFERENCE_PORT}]},
    }}


def router_install(plan: SetPlan, route: RoutePlan) -> list[dict]:
    if route.engine == "argocd":
        return [_argocd_application(plan, route)]
    oci = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
           "metadata": _metadata(plan, route.pool),
           "spec": {"url": ROUTER_CHART, "ref": {"tag": ROUTER_VERSION}, "interval": FLUX_INTERVAL}}
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": _metadata(plan, route.pool),
               "spec": {"interval": FLUX_INTERVAL,
                        "chartRef": {"kind": "OCIRepository", "namespace": plan.namespace, "name": route.pool},
                        "values": router_values(plan, route)}}
    return [oci, release]


def argocd_application_name(plan: SetPlan, route: RoutePlan) -> str:
    """Applications share Argo CD's namespace: the set's namespace keeps two sets' names apart."""
    return f"{plan.namespace}-{route.pool}"


def _argocd_application(plan: SetPlan, route: RoutePlan) -> dict:
    routing = plan.config.routing
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": _metadata(plan, argocd_application_name(plan, route), routing.argocdNamespace),
            "spec": {
                "project": routing.argocdProject,
                "source": {"repoURL": ROUTER_CHART, "targetRevision": ROUTER_VERSION, "path": ".",
                           "helm": {"releaseName": route.release, "valuesObject": router_values(plan, route)}},
                "destination": {"server": ARGOCD_SERVER, "namespace": plan.namespace},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            }}


def http_route(plan: SetPlan, route: RoutePlan) -> dict:
    """Kaito's guide's HTTPRoute (``llm-route``), one per set, from the configured Gateway to the set's pool."""
    gateway = plan.config.routing.gateway
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway.name}
    if gateway.namespace and gateway.namespace != plan.namespace:
        parent["namespace"] = gateway.namespace
    if gateway.sectionName:
        parent["sectionName"] = gateway.sectionName
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": _metadata(plan, route.pool),
            "spec": {"parentRefs": [parent],
                     "rules": [{"backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                                 "name": route.release}],
                                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]}}
