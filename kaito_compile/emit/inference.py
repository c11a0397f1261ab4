"""Inference workloads.

* ``transformers`` (our default): a Deployment running our inference image (``runtime/``) with an
  exec-form command, one node per replica, all the node's GPUs.
* ``vllm``: Kaito v0.12's StatefulSet reproduced (kaito-api.md §4.3), its command line with flags
  sorted for determinism, Ray for multi-node, Kaito's base image.
* ``template``: Kaito's template StatefulSet (§4.4): the user's pod template plus affinity and
  tolerations.
"""

from __future__ import annotations

import copy

import cdk8s
from kaito_runtime.layout import PULL_SECRETS_DIR

from ..plan.model import AdapterPlan, Plan
from . import raw
from .common import (
    INFERENCE_PORT,
    TEMPLATE_EXEMPTION,
    VLLM_EXEMPTION,
    Scope,
    docker_config_volume,
    empty_dir,
    gpu_resources,
    inference_tolerations,
    linter_exemptions,
    mount,
    node_affinity,
    plain,
    plain_metadata,
    pod_security_context,
    restricted_security_context,
    scrape_annotations,
    scratch_env,
    workload_labels,
    untyped_object,
    workload_replicas,
)

WEIGHTS_DIR = "/workspace/weights"
ADAPTERS_DIR = "/mnt/adapter"
CONFIG_DIR = "/mnt/config"
INFERENCE_CONFIG_FILE = f"{CONFIG_DIR}/inference_config.yaml"
HEALTH_PATH = "/health"
CUDA_DIR = "/opt/kaito/cuda/129"
VLLM_ENTRY = "python3 /workspace/vllm/inference_api.py"


# --- pieces shared by both runtimes -----------------------------------------------------------------------------

def _image_adapters(plan: Plan) -> list[AdapterPlan]:
    return [a for a in plan.adapters if a.image and not a.volume_source]


def _volume_adapters(plan: Plan) -> list[AdapterPlan]:
    return [a for a in plan.adapters if a.volume_source]


def _adapter_pullers(plan: Plan, image: str, *, ours: bool) -> list[dict]:
    """One init container per image adapter, unpacking it into /mnt/adapter/<name>."""
    pullers = []
    for adapter in _image_adapters(plan):
        mounts = [mount("adapter-volume", ADAPTERS_DIR)]
        if adapter.pull_secrets:
            mounts.append(mount(f"docker-config-{adapter.name}-inference-adapter",
                                f"{PULL_SECRETS_DIR}/{adapter.name}-inference-adapter"))
        pullers.append(plain(
            name=f"puller-{adapter.name}",
            image=image,
            command=["python3", "-m", "kaito_runtime.artifact", "pull"],
            args=[f"--image={adapter.image}", f"--dest={ADAPTERS_DIR}/{adapter.name}"],
            volume_mounts=mounts,
            security_context=restricted_security_context() if ours else None,
        ))
    return pullers


def _adapter_volumes(plan: Plan) -> list[dict]:
    volumes = []
    if _image_adapters(plan):
        volumes.append(empty_dir("adapter-volume"))
    for adapter in _image_adapters(plan):
        if adapter.pull_secrets:
            volumes.append(docker_config_volume(f"docker-config-{adapter.name}-inference-adapter",
                                                adapter.pull_secrets))
    return volumes


def _adapter_mounts(plan: Plan) -> list[dict]:
    mounts = [mount("adapter-volume", ADAPTERS_DIR)] if _image_adapters(plan) else []
    mounts += [mount(f"adapter-volume-{a.name}", f"{ADAPTERS_DIR}/{a.name}") for a in _volume_adapters(plan)]
    return mounts


def _patch_user_volumes(obj: cdk8s.ApiObject, plan: Plan, path: str, *, at: int | None = None) -> None:
    """User VolumeSources are schemaless in the CRD; they are added verbatim, from index ``at`` (default: last)."""
    for i, adapter in enumerate(_volume_adapters(plan)):
        where = f"{path}/-" if at is None else f"{path}/{at + i}"
        raw.add(obj, where, {"name": f"adapter-volume-{adapter.name}", **adapter.volume_source})


def _image_pull_secrets(plan: Plan) -> list[dict] | None:
    secrets = [plain(name=s) for a in plan.adapters for s in a.pull_secrets]
    return secrets or None


def _hf_token_env(plan: Plan) -> list[dict]:
    if not plan.model_access_secret:
        return []
    return [plain(name="HF_TOKEN", value_from=plain(secret_key_ref=plain(
        name=plan.model_access_secret, key="HF_TOKEN", optional=True)))]


def _http_probe(port: int, *, failure_threshold: int | None = None, initial_delay: int = 0) -> dict:
    return plain(http_get=plain(path=HEALTH_PATH, port=port),
                 initial_delay_seconds=initial_delay, period_seconds=10, failure_threshold=failure_threshold)


# --- transformers runtime: our server in a Deployment ---------------------------------------------------------

def transformers_args(plan: Plan) -> list[str]:
    """The inference server's argv after ``python3 -m kaito_runtime.inference`` (docs/runtime-contract.md)."""
    args = [
        f"--model={plan.local_weights or plan.model.model_id}",
        f"--served-model-name={plan.model.short_name}",
        f"--download-dir={WEIGHTS_DIR}",
        f"--dtype={plan.dtype}",
        f"--port={INFERENCE_PORT}",
        f"--adapters-dir={ADAPTERS_DIR}",
    ]
    args += [f"--adapter-strength={a.name}={a.strength}" for a in plan.adapters if a.strength is not None]
    if "trust_remote_code" in plan.transformers_args:
        args.append("--trust-remote-code")
    if plan.inference_config:
        args.append(f"--config-file={INFERENCE_CONFIG_FILE}")
    return args


def _cpu_limit_env(plan: Plan) -> dict:
    """``KAITO_CPU_LIMIT``: the container's CPU limit in whole CPUs (the node's allocatable CPUs when none is set),
    from which the server sizes its torch thread pool (docs/runtime-contract.md)."""
    return plain(name="KAITO_CPU_LIMIT", value_from=plain(resource_field_ref=plain(
        container_name=plan.workspace, resource="limits.cpu", divisor="1")))


def _local_weights_volume(plan: Plan) -> dict:
    return plain(name="model-weights-hostpath", host_path=plain(path=plan.local_weights, type="Directory"))


def emit_transformers_deployment(scope: Scope, plan: Plan) -> cdk8s.ApiObject:
    labels = workload_labels(plan)
    mounts = [mount("model-weights-volume", WEIGHTS_DIR), mount("dshm", "/dev/shm"), mount("tmp", "/tmp")]
    volumes = [empty_dir("model-weights-volume"), empty_dir("dshm", memory=True), empty_dir("tmp")]
    if plan.local_weights:
        mounts.insert(0, mount("model-weights-hostpath", plan.local_weights, read_only=True))
        volumes.insert(0, _local_weights_volume(plan))
    if plan.inference_config:
        mounts.insert(0, mount("config-volume", CONFIG_DIR, read_only=True))
        volumes.insert(0, plain(name="config-volume", config_map=plain(name=plan.inference_config)))
    container = plain(
        name=plan.workspace,
        image=plan.images.inference,
        command=["python3", "-m", "kaito_runtime.inference"],
        args=transformers_args(plan),
        env=[*scratch_env(), _cpu_limit_env(plan), *_hf_token_env(plan)],
        ports=[plain(name="http", container_port=INFERENCE_PORT)],
        resources=gpu_resources(plan, plan.gpus_per_node),
        startup_probe=_http_probe(INFERENCE_PORT, failure_threshold=plan.readiness_failure_threshold),
        liveness_probe=_http_probe(INFERENCE_PORT, failure_threshold=3),
        readiness_probe=_http_probe(INFERENCE_PORT, initial_delay=30),
        volume_mounts=mounts + _adapter_mounts(plan),
        security_context=restricted_security_context(),
    )
    spec = plain(
        replicas=workload_replicas(plan),
        selector=plain(match_labels=labels),
        strategy=plain(type="Recreate"),
        template=plain(
            metadata=plain(labels=labels, annotations=scrape_annotations(plan)),
            spec=plain(
                affinity=node_affinity(plan),
                tolerations=inference_tolerations(plan),
                init_containers=_adapter_pullers(plan, plan.images.inference, ours=True) or None,
                containers=[container],
                volumes=volumes + _adapter_volumes(plan),
                image_pull_secrets=_image_pull_secrets(plan),
                security_context=pod_security_context(),
                automount_service_account_token=False,
            ),
        ),
    )
    deployment = untyped_object(scope, "deployment", "apps/v1", "Deployment", plain_metadata(plan, plan.workspace),
                                {"spec": spec})
    _patch_user_volumes(deployment, plan, "/spec/template/spec/volumes")
    return deployment


# --- vLLM runtime: Kaito's StatefulSet ----------------------------------------------------------------------------

def build_cmd(base: str, flags: dict[str, str]) -> str:
    """Kaito's BuildCmdStr with sorted keys: `` --key`` for an empty value, else `` --key=value``."""
    return base + "".join(f" --{k}" if v == "" else f" --{k}={v}" for k, v in sorted(flags.items()))


def _leader_host(plan: Plan) -> str:
    return f"{plan.workspace}-0.{plan.workspace}-headless.{plan.namespace}.svc.cluster.local"


def vllm_command(plan: Plan) -> str:
    flags = dict(plan.vllm_args)
    if plan.inference_config:
        flags["kaito-config-file"] = INFERENCE_CONFIG_FILE
    serve = build_cmd(VLLM_ENTRY, flags)
    if not plan.multi_node:
        return serve
    leader = f"/workspace/vllm/multi-node-serving.sh leader --ray_cluster_size={plan.node_count} --ray_port=6379"
    worker = f"/workspace/vllm/multi-node-serving.sh worker --ray_address={_leader_host(plan)} --ray_port=6379"
    return f'if [ "${{POD_INDEX}}" = "0" ]; then {leader}; {serve}; else {worker}; fi'


def _benchmark_enabled(plan: Plan) -> bool:
    return plan.annotations.get("kaito.sh/disable-benchmark") != "true"


def _vllm_probes(plan: Plan) -> dict[str, dict]:
    ft = plan.readiness_failure_threshold
    if plan.multi_node:
        check = "python3 /workspace/vllm/multi-node-health-check.py"
        leader = _leader_host(plan)

        def health(kind: str, extra: str) -> dict:
            return plain(command=["sh", "-c", f"{check} {kind} --leader-address={leader} {extra}"])

        readiness = health("readiness", f"--vllm-port={INFERENCE_PORT}")
        startup = plain(exec=readiness, initial_delay_seconds=0, period_seconds=10, timeout_seconds=1,
                        failure_threshold=ft)
        if _benchmark_enabled(plan):
            startup = plain(exec=plain(command=[
                "/bin/sh", "-c", 'if [ "$POD_INDEX" = "0" ]; then python3 /workspace/vllm/benchmark_entrypoint.py; '
                "else true; fi"]), period_seconds=10, timeout_seconds=600, failure_threshold=ft)
        return {
            "startup_probe": startup,
            "liveness_probe": plain(exec=health("liveness", "--ray-port=6379"), initial_delay_seconds=60,
                                    period_seconds=10, timeout_seconds=5, failure_threshold=1,
                                    termination_grace_period_seconds=1),
            "readiness_probe": plain(exec=readiness, initial_delay_seconds=0, period_seconds=10,
                                     timeout_seconds=1, failure_threshold=1),
        }
    startup = _http_probe(INFERENCE_PORT, failure_threshold=ft)
    if _benchmark_enabled(plan):
        startup = plain(exec=plain(command=["python3", "/workspace/vllm/benchmark_entrypoint.py"]),
                        period_seconds=10, timeout_seconds=600, failure_threshold=ft)
    return {"startup_probe": startup, "liveness_probe": _http_probe(INFERENCE_PORT, failure_threshold=3),
            "readiness_probe": _http_probe(INFERENCE_PORT, initial_delay=30)}


def _vllm_env(plan: Plan) -> list[dict]:
    env = [plain(name="VLLM_USE_FLASHINFER_SAMPLER", value="0"),
           plain(name="VLLM_USE_DEEP_GEMM", value="1" if plan.model.vllm.deepGemm else "0")]
    if plan.model.vllm.cudaToolkit:
        env.append(plain(name="CUDA_HOME", value=CUDA_DIR))
    if plan.local_weights:
        env.append(plain(name="KAITO_PROCESSOR", value=plan.local_weights))
    env += _hf_token_env(plan)
    if plan.multi_node:
        env.append(plain(name="POD_INDEX", value_from=plain(field_ref=plain(
            field_path="metadata.labels['apps.kubernetes.io/pod-index']"))))
    return env


def _pvc_when_scaled(plan: Plan) -> str:
    """Kaito retains the weight caches of scaled-in pods; when KEDA scales, the local-NVMe volume of a pod whose node
    Karpenter removed would pin its successor to a node that is gone, so it is deleted with the pod."""
    return "Delete" if plan.autoscaled_max_nodes is not None else "Retain"


def emit_vllm_statefulset(scope: Scope, plan: Plan, *, nvme_storage_class: bool) -> cdk8s.ApiObject:
    labels = workload_labels(plan)
    cuda = plan.model.vllm.cudaToolkit
    download = plan.local_weights is None
    nvme = download and nvme_storage_class and bool(plan.gpu and plan.gpu.nvme)
    mounts = []
    volumes = []
    if plan.inference_config:
        mounts.append(mount("config-volume", CONFIG_DIR))
        volumes.append(plain(name="config-volume", config_map=plain(name=plan.inference_config)))
    if download:
        mounts.append(mount("model-weights-volume", WEIGHTS_DIR))
    else:
        mounts.append(mount("model-weights-hostpath", plan.local_weights, read_only=True))
        volumes.append(_local_weights_volume(plan))
    if cuda:
        mounts.append(mount("cuda-toolkit-hostpath", CUDA_DIR, read_only=True))
        volumes.append(plain(name="cuda-toolkit-hostpath", host_path=plain(path=CUDA_DIR, type="DirectoryOrCreate")))
    mounts.append(mount("dshm", "/dev/shm"))
    volumes.append(empty_dir("dshm", memory=True))
    mounts += _adapter_mounts(plan)
    volumes += _adapter_volumes(plan)
    user_volumes_at = len(volumes)  # §4.3.2: adapter-volume-<a> come before the model-weights-volume emptyDir
    if download and not nvme:
        volumes.append(empty_dir("model-weights-volume"))
    init = []
    if cuda:
        init.append(plain(
            name="cuda-toolkit-provisioner", image=plan.images.kaito_base,
            command=["/bin/sh", "-c", 'flock "$1" /workspace/cuda-provision.sh "$1"', "sh", CUDA_DIR],
            volume_mounts=[mount("cuda-toolkit-hostpath", CUDA_DIR)]))
    init += _adapter_pullers(plan, plan.images.inference, ours=True)
    ports = [plain(name="http", container_port=INFERENCE_PORT),
             plain(name="kv-events", container_port=5557)]
    container = plain(
        name=plan.workspace, image=plan.images.kaito_base, command=["/bin/sh", "-c", vllm_command(plan)],
        env=_vllm_env(plan), ports=ports, resources=gpu_resources(plan, plan.gpus_per_node),
        volume_mounts=mounts, **_vllm_probes(plan))
    claim_templates = None
    if nvme:
        claim_templates = [plain(
            metadata=plain(name="model-weights-volume", labels=labels),
            spec=plain(access_modes=["ReadWriteOnce"], storage_class_name="kaito-local-nvme-disk",
                       resources=plain(requests={"storage": plan.disk_size})))]
    spec = plain(
        replicas=workload_replicas(plan),
        selector=plain(match_labels=labels),
        service_name=f"{plan.workspace}-headless",
        pod_management_policy="Parallel",
        persistent_volume_claim_retention_policy=plain(when_scaled=_pvc_when_scaled(plan), when_deleted="Delete"),
        volume_claim_templates=claim_templates,
        template=plain(
            metadata=plain(labels=labels, annotations=scrape_annotations(plan)),
            spec=plain(
                affinity=node_affinity(plan),
                tolerations=inference_tolerations(plan),
                init_containers=init or None,
                containers=[container],
                volumes=volumes,
                image_pull_secrets=_image_pull_secrets(plan),
            ),
        ),
    )
    statefulset = untyped_object(scope, "statefulset", "apps/v1", "StatefulSet", plain_metadata(
        plan, plan.workspace, annotations={"workspace.kaito.io/revision": "1", **linter_exemptions(VLLM_EXEMPTION)}),
        {"spec": spec})
    _patch_user_volumes(statefulset, plan, "/spec/template/spec/volumes", at=user_volumes_at)
    return statefulset


# --- template workspaces ----------------------------------------------------------------------------------------

def emit_template_statefulset(scope: Scope, plan: Plan) -> cdk8s.ApiObject:
    labels = workload_labels(plan)
    template = copy.deepcopy(plan.template or {})
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    pod = template.setdefault("spec", {})
    pod.pop("affinity", None)  # Kaito replaces the user's affinity
    affinity = node_affinity(plan)
    if affinity is not None:
        pod["affinity"] = affinity
    pod["tolerations"] = list(pod.get("tolerations") or []) + inference_tolerations(plan)
    return untyped_object(scope, "statefulset", "apps/v1", "StatefulSet", plain_metadata(
        plan, plan.workspace, annotations=linter_exemptions(TEMPLATE_EXEMPTION)),
        {"spec": plain(replicas=workload_replicas(plan), selector=plain(match_labels=labels), template=template)})
