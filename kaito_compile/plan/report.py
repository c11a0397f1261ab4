"""``kaito-compile plan``: what was decided for each workspace, and why (rich tables, or JSON)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from ..catalog.quantity import GIB
from ..sizing import suggest
from ..sizing.vllm import BASE_OVERHEAD_GIB, GPU_MEMORY_UTILIZATION, WEIGHT_EXPANSION
from .inferenceset import SetPlan
from .model import Plan

WIDTH = 140


def context_budget(plan: Plan) -> str:
    """How many tokens of KV cache fit beside the weights (kaito-api.md §2.5d closed form), capped
    by the model's context limit; what vLLM's ``--max-model-len=auto`` will settle near."""
    if plan.model is None or plan.gpu is None or plan.kind == "tuning":
        return "-"
    if plan.runtime == "transformers":
        return "2048 (reference, batch 1)"
    gpus = plan.node_count * plan.gpu.gpu_count
    free = (gpus * plan.gpu.per_gpu_bytes * GPU_MEMORY_UTILIZATION - plan.model.file_size_bytes * WEIGHT_EXPANSION
            - BASE_OVERHEAD_GIB * GIB * gpus)
    tokens = max(0, int(free // plan.model.bytes_per_token))
    return f"{min(tokens, plan.model.contextLimit):,} of {plan.model.contextLimit:,} tokens"


def parallelism(plan: Plan) -> str:
    if plan.runtime != "vllm" or plan.kind != "inference-preset":
        return "device_map=auto" if plan.kind == "inference-preset" else "-"
    args = plan.vllm_args
    parts = [f"{name}={args[flag]}" for name, flag in (("DP", "data-parallel-size"), ("TP", "tensor-parallel-size"),
                                                        ("PP", "pipeline-parallel-size")) if flag in args]
    return " ".join(parts)


def plan_row(plan: Plan) -> dict:
    return {
        "workspace": f"{plan.namespace}/{plan.workspace}",
        "kind": plan.kind,
        "runtime": plan.runtime if plan.kind != "tuning" else "tuning",
        "model": plan.model.hfId if plan.model else "-",
        "size": plan.model.fileSize if plan.model else "-",
        "sku": plan.instance_type or (plan.gpu.gpu_model if plan.gpu else "-"),
        "gpusPerNode": plan.gpus_per_node,
        "nodes": plan.node_count,
        "parallelism": parallelism(plan),
        "context": context_budget(plan),
        "why": list(plan.why),
        **({"inferenceSet": plan.inference_set} if plan.inference_set else {}),
    }


def set_row(plan: SetPlan) -> dict:
    """An InferenceSet: its replicas, the children they compile to, the nodes and GPUs they may use."""
    row = {
        "inferenceSet": f"{plan.namespace}/{plan.name}",
        "kind": "InferenceSet",
        "apiVersion": plan.api_version,
        "runtime": plan.runtime,
        "replicas": plan.replicas,
        "children": list(plan.children),
        "nodesPerReplica": plan.nodes_per_replica,
        "gpusPerNode": plan.gpus_per_node,
        "nodes": plan.planned_nodes,
        "gpus": plan.planned_gpus,
        "nodeCountLimit": plan.node_count_limit,
        "autoscaling": None,
        "routing": None,
    }
    if plan.scale is not None:
        scale = plan.scale
        row["autoscaling"] = {"scheme": scale.autoscaling.scheme, "minReplicas": scale.min_replicas,
                              "maxReplicas": scale.max_replicas, "maxFrom": scale.max_from,
                              "target": f"{scale.target_kind}/{scale.target_name}"}
    if plan.route is not None:
        row["routing"] = {"inferencePool": plan.route.release, "engine": plan.route.engine,
                          "endpointPicker": plan.route.epp}
    return row


def render_sets(plans: list[SetPlan]) -> str:
    if not plans:
        return ""
    table = Table(title="InferenceSets")
    for column in ("inferenceset", "replicas", "compiled to", "nodes/replica", "GPUs/node", "nodes", "GPUs",
                   "nodeCountLimit", "autoscaling", "routing"):
        table.add_column(column, overflow="fold")
    for row in map(set_row, plans):
        scale = row["autoscaling"]
        table.add_row(row["inferenceSet"], str(row["replicas"]), ", ".join(row["children"]) or "-",
                      str(row["nodesPerReplica"]), str(row["gpusPerNode"]),
                      f"{'≤ ' if scale else ''}{row['nodes']}", f"{'≤ ' if scale else ''}{row['gpus']}",
                      str(row["nodeCountLimit"] or "-"),
                      f"KEDA {scale['minReplicas']}–{scale['maxReplicas']} ({scale['scheme']})" if scale else "-",
                      row["routing"]["inferencePool"] if row["routing"] else "-")
    return "\n" + _render(table)


def render_plans(plans: list[Plan]) -> str:
    table = Table(title="kaito-compile plan")
    for column in ("workspace", "model", "size", "SKU", "GPUs/node", "nodes", "runtime", "parallelism",
                   "context budget"):
        table.add_column(column, overflow="fold")
    rows = [plan_row(plan) for plan in plans]
    for row in rows:
        short = row["model"].rsplit("/", 1)[-1]
        table.add_row(row["workspace"], short, row["size"], row["sku"], str(row["gpusPerNode"]),
                      str(row["nodes"]), row["runtime"], row["parallelism"], row["context"])
    why = "".join(f"{row['workspace']}: {reason}\n" for row in rows for reason in row["why"])
    return _render(table) + "\nWhy:\n" + why


def suggestion_rows(model, catalog, cloud: str, runtime: str) -> list[dict]:
    return [{"sku": s.sku.name, "gpuModel": s.sku.gpuModel, "gpusPerNode": s.sku.gpus, "nodes": s.nodes,
             "totalGpus": s.total_gpus, "gpuMemoryPerNode": f"{s.sku.memoryGiB}Gi", "note": s.note or ""}
            for s in suggest(model, catalog.skus, cloud, runtime)]


def render_suggestions(model, rows: list[dict], cloud: str, runtime: str) -> str:
    table = Table(title=f"{model.hfId} ({model.fileSize}) on {cloud}, runtime {runtime}: SKUs that fit, smallest "
                        "first")
    for column in ("SKU", "GPU", "GPUs/node", "nodes", "total GPUs", "GPU memory/node", "note"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["sku"], row["gpuModel"], str(row["gpusPerNode"]), str(row["nodes"]), str(row["totalGpus"]),
                      row["gpuMemoryPerNode"], row["note"])
    return _render(table)


def _render(table: Table) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue()
