"""Rules on the Workspace as a whole: its name (R0 and the names derived from it), its
annotations (C4–C7, runtime) and the inference/tuning choice (C1–C3)."""

from __future__ import annotations

from .k8snames import dns1035_label_errors, dns1123_label_errors, label_key_errors, label_value_errors
from .registry import RuleContext, StopChecks, define, group

R0 = define("R0", "names", "Workspace name must be a DNS-1123 label",
            "webhook, always: metadata.name must be ≤63 characters of [a-z0-9-], alphanumeric at both ends")
R1 = define("R1", "names", "Workspace name must start with a letter",
            "not checked by Kaito; the Services <ws> and <ws>-headless must be DNS-1035 labels (§6.7), so the "
            "API server would refuse them after admission")
R2 = define("R2", "names", "Workspace name too long for the objects derived from it",
            "not checked by Kaito; <ws>-headless must fit 63 characters and StatefulSet pod names should stay "
            "≤52 (§6.7)")
R3 = define("R3", "names", "namespace must be a DNS-1123 label",
            "API server: metadata.namespace must be a DNS-1123 label")
R4 = define("R4", "names", "Workspace defined twice",
            "API server: a second object with the same namespace and name would replace the first; kaito-compile "
            "refuses the ambiguity")
R5 = define("R5", "names", "cluster-scoped object name made twice",
            "API server: NodePools, NodeClaims and Machines are cluster-scoped, so two Workspaces whose derived "
            "names collide (team-a/coder and team/a-coder give the NodePool team-a-coder) would share one object; "
            "kaito-compile refuses both")
C1 = define("C1", "spec", "neither inference nor tuning",
            "webhook: 'Either Inference or Tuning must be specified, not neither'")
C2 = define("C2", "spec", "both inference and tuning",
            "webhook: 'Either Inference or Tuning must be specified, but not both'")
C3 = define("C3", "spec", "instanceType vs node auto-provisioning",
            "webhook (v1beta1): instanceType is required with node auto-provisioning and must be empty with "
            "BYO nodes (provisioner byo)")
C4 = define("C4", "annotations", "unsupported node image family",
            "webhook: kaito.sh/node-image-family must be ubuntu or azurelinux")
C5 = define("C5", "annotations", "invalid performance mode",
            "webhook: kaito.sh/performance-mode must be balanced, interactivity or throughput")
C6 = define("C6", "annotations", "invalid use-local-weights value",
            "webhook: kaito.sh/use-local-weights must be \"true\" or \"false\"")
C7 = define("C7", "annotations", "node class not managed by Kaito",
            "webhook (karpenter provisioner): kaito.sh/node-class-name must be one of the KAITO-managed NodeClasses")
C8 = define("C8", "annotations", "unknown runtime",
            "Kaito treats any kaito.sh/runtime value other than 'transformers' as vLLM; kaito-compile refuses "
            "values other than 'transformers' and 'vllm' so a typo cannot switch the runtime silently")

C9 = define("C9", "spec", "labelSelector labels must be Kubernetes labels",
            "not checked by Kaito: matchLabels become node affinity terms and NodeClaim/NodePool labels, which the "
            "API server refuses when a key or value is not a valid label")
C10 = define("C10", "spec", "resource.count out of range",
             "not bounded by Kaito: kaito-compile refuses more than 1,000 nodes for one workspace (one object per "
             "node is emitted; a typo must not exhaust memory or a cloud quota)")

MAX_WORKSPACE_NAME = 52
MAX_NODES = 1000
ANNOTATION_PATH = ("metadata", "annotations")


@group("names")
def check_name(ctx: RuleContext) -> None:
    name = ctx.spec.metadata.name
    if not name:
        ctx.error(R0, ("metadata", "name"), "metadata.name is required", key=True)
        raise StopChecks
    errors = dns1123_label_errors(name)
    if errors:
        ctx.error(R0, ("metadata", "name"), f"invalid Workspace name {name!r}: {'; '.join(errors)}")
        raise StopChecks
    if dns1035_label_errors(name):
        ctx.error(R1, ("metadata", "name"), f"Workspace name {name!r} must start with a letter: the Services "
                  f"'{name}' and '{name}-headless' are named after it and must be DNS-1035 labels")
    if len(name) > MAX_WORKSPACE_NAME:
        ctx.error(R2, ("metadata", "name"), f"Workspace name {name!r} has {len(name)} characters; at most "
                  f"{MAX_WORKSPACE_NAME} leave room for '<name>-headless' and StatefulSet pod names")


@group("names")
def check_namespace(ctx: RuleContext) -> None:
    namespace = ctx.spec.metadata.namespace
    if namespace is not None and dns1123_label_errors(namespace):
        ctx.error(R3, ("metadata", "namespace"),
                  f"invalid namespace {namespace!r}: {'; '.join(dns1123_label_errors(namespace))}")


@group("spec")
def check_inference_or_tuning(ctx: RuleContext) -> None:
    has_inference, has_tuning = ctx.spec.inference is not None, ctx.spec.tuning is not None
    if not has_inference and not has_tuning:
        ctx.error(C1, (), "Either Inference or Tuning must be specified, not neither",
                  hints=("add an 'inference' (preset or template) or a 'tuning' section",))
    elif has_inference and has_tuning:
        ctx.error(C2, ("tuning",), "Either Inference or Tuning must be specified, but not both", key=True,
                  hints=("split them into two Workspaces",))


@group("spec")
def check_instance_type_vs_provisioning(ctx: RuleContext) -> None:
    if ctx.ws.api_version != "kaito.sh/v1beta1":
        return
    instance_type = ctx.spec.resource.instanceType or ""
    if not ctx.config.node_auto_provisioning and instance_type:
        ctx.error(C3, ("resource", "instanceType"),
                  "instanceType must be empty when node auto-provisioning is disabled (BYO scenario)",
                  notes=("the project config sets provisioner: byo",))
    elif ctx.config.node_auto_provisioning and not instance_type:
        ctx.error(C3, ("resource",), "missing field(s): instanceType is required when node auto-provisioning "
                  "is enabled", key=True, notes=(f"the project config sets provisioner: {ctx.config.provisioner}",))


@group("spec")
def check_label_syntax(ctx: RuleContext) -> None:
    selector = ctx.spec.resource.labelSelector
    for key, value in (selector.matchLabels or {}).items():
        path = ("resource", "labelSelector", "matchLabels", key)
        problems = label_key_errors(key) + label_value_errors(value)
        if problems:
            ctx.error(C9, path, f"invalid label {key}={value!r}: {'; '.join(problems)}", key=bool(label_key_errors(key)))
    for i, expr in enumerate(selector.matchExpressions or []):
        path = ("resource", "labelSelector", "matchExpressions", i)
        problems = label_key_errors(expr.key) + [e for v in expr.values or [] for e in label_value_errors(v)]
        if problems:
            ctx.error(C9, path, f"invalid label expression on {expr.key!r}: {'; '.join(problems)}")


@group("spec")
def check_node_count(ctx: RuleContext) -> None:
    count = ctx.spec.resource.count
    if count is not None and not 1 <= count <= MAX_NODES:
        ctx.error(C10, ("resource", "count"), f"resource.count {count} is out of range: use 1 to {MAX_NODES}")


@group("annotations")
def check_node_image_family(ctx: RuleContext) -> None:
    value = ctx.ws.annotation("kaito.sh/node-image-family")
    if value is not None and value.strip().lower() not in ("ubuntu", "azurelinux"):
        ctx.error(C4, (*ANNOTATION_PATH, "kaito.sh/node-image-family"),
                  f"unsupported node image family {value!r}, supported values are azurelinux, ubuntu")


@group("annotations", applies=lambda ctx: ctx.ws.api_version == "kaito.sh/v1beta1")
def check_performance_mode(ctx: RuleContext) -> None:
    value = ctx.ws.annotation("kaito.sh/performance-mode")
    if value is not None and value not in ("balanced", "interactivity", "throughput"):
        ctx.error(C5, (*ANNOTATION_PATH, "kaito.sh/performance-mode"),
                  f"{value!r} is not a valid performance mode; choose one of: balanced, interactivity, throughput")


@group("annotations", applies=lambda ctx: ctx.ws.api_version == "kaito.sh/v1beta1")
def check_use_local_weights(ctx: RuleContext) -> None:
    value = ctx.ws.annotation("kaito.sh/use-local-weights")
    if value is not None and value not in ("true", "false"):
        ctx.error(C6, (*ANNOTATION_PATH, "kaito.sh/use-local-weights"), f'{value!r} must be "true" or "false"')


@group("annotations", applies=lambda ctx: ctx.ws.api_version == "kaito.sh/v1beta1")
def check_node_class(ctx: RuleContext) -> None:
    value = ctx.ws.annotation("kaito.sh/node-class-name")
    allowed = ctx.config.karpenter.nodeClasses
    if value and ctx.config.provisioner == "karpenter" and value not in allowed:
        ctx.error(C7, (*ANNOTATION_PATH, "kaito.sh/node-class-name"),
                  f"{value!r} is not a KAITO-managed NodeClass, supported values are [{', '.join(allowed)}]")


@group("annotations")
def check_runtime_annotation(ctx: RuleContext) -> None:
    value = ctx.ws.annotation("kaito.sh/runtime")
    if value is not None and value not in ("transformers", "vllm"):
        ctx.error(C8, (*ANNOTATION_PATH, "kaito.sh/runtime"),
                  f"unknown runtime {value!r}: use 'transformers' or 'vllm'",
                  notes=("Kaito would silently run anything other than 'transformers' on vLLM",))
