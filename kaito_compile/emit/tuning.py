"""The tuning Job (kaito-api.md §4.5), running our tuning image with exec-form commands.

Differences from Kaito, on purpose: the runner downloads the base weights from Hugging Face like
inference does (no ORAS weights init container); URL data is fetched by our fetcher with URLs as
separate arguments (never a shell string); with an image output, tuning runs as the last init
container and the pusher as the main container, so a failed run fails the pod instead of leaving a
pusher waiting for a marker that never comes.
"""

from __future__ import annotations

import cdk8s
from kaito_runtime.layout import DOCKER_CONFIG_DIR, PULL_SECRETS_DIR, SCRATCH_DIR

from ..plan.model import Plan
from . import raw
from .common import (
    Scope,
    WORKSPACE_LABEL,
    docker_config_volume,
    empty_dir,
    gpu_resources,
    mount,
    node_affinity,
    plain,
    plain_metadata,
    pod_security_context,
    restricted_security_context,
    scratch_env,
    tuning_tolerations,
    untyped_object,
)
from .inference import WEIGHTS_DIR

DATA_DIR = "/mnt/data"
CONFIG_DIR = "/mnt/config"
TRAINING_CONFIG_FILE = f"{CONFIG_DIR}/training_config.yaml"
COMPLETION_MARKER = "fine_tuning_completed.txt"
PHI3_TARGET_MODULES = "k_proj,q_proj,v_proj,o_proj,gate_proj,down_proj,up_proj"


def tuning_args(plan: Plan) -> list[str]:
    """The tuning runner's argv after ``python3 -m kaito_runtime.tuning`` (docs/runtime-contract.md)."""
    tuning = plan.tuning
    args = [
        f"--model={plan.model.model_id}",
        f"--download-dir={WEIGHTS_DIR}",
        f"--method={tuning.method}",
        f"--config-file={TRAINING_CONFIG_FILE}",
        f"--data-dir={DATA_DIR}",
        f"--output-dir={tuning.output_dir}",
    ]
    if "trust_remote_code" in plan.transformers_args:
        args.append("--trust-remote-code")
    return args


def _input_init_container(plan: Plan) -> dict | None:
    tuning = plan.tuning
    if tuning.input_urls:
        return plain(
            name="data-downloader", image=plan.images.tuning,
            command=["python3", "-m", "kaito_runtime.fetch"],
            args=[f"--dest={DATA_DIR}", *(f"--url={url}" for url in tuning.input_urls)],
            volume_mounts=[mount("data-volume", DATA_DIR)], security_context=restricted_security_context())
    if tuning.input_image:
        secret_dir = f"{tuning.input_name}-tuning-input"
        return plain(
            name="puller", image=plan.images.tuning,
            command=["python3", "-m", "kaito_runtime.artifact", "pull"],
            args=[f"--image={tuning.input_image}", f"--dest={DATA_DIR}"],
            volume_mounts=[mount(f"docker-config-{secret_dir}", f"{PULL_SECRETS_DIR}/{secret_dir}"),
                           mount("data-volume", DATA_DIR)],
            security_context=restricted_security_context())
    return None


def _tuning_container(plan: Plan) -> dict:
    env = []
    if (plan.model.aliases and plan.model.aliases[0].startswith("phi-3")):
        env.append(plain(name="DEFAULT_TARGET_MODULES", value=PHI3_TARGET_MODULES))
    env += [plain(name="PYTORCH_CUDA_ALLOC_CONF", value="expandable_segments:True"), *scratch_env()]
    if plan.model_access_secret:
        env.append(plain(name="HF_TOKEN", value_from=plain(secret_key_ref=plain(
            name=plan.model_access_secret, key="HF_TOKEN", optional=True))))
    return plain(
        name=plan.workspace, image=plan.images.tuning,
        command=["python3", "-m", "kaito_runtime.tuning"], args=tuning_args(plan),
        env=env, resources=gpu_resources(plan, plan.gpus_per_node),
        volume_mounts=[mount("dshm", "/dev/shm"), mount("model-weights-volume", WEIGHTS_DIR),
                       mount("config-volume", CONFIG_DIR, read_only=True),
                       mount("results-volume", plan.tuning.output_dir), mount("data-volume", DATA_DIR),
                       mount("tmp", "/tmp")],
        security_context=restricted_security_context())


def _pusher(plan: Plan) -> dict:
    out = plan.tuning.output_dir
    return plain(
        name="pusher", image=plan.images.tuning,
        command=["python3", "-m", "kaito_runtime.artifact", "push"],
        args=[f"--image={plan.tuning.output_image}", f"--source={out}", f"--wait-for={out}/{COMPLETION_MARKER}",
              f"--model-name={plan.tuning.preset_name}"],
        env=[plain(name="DOCKER_CONFIG", value=DOCKER_CONFIG_DIR)],
        volume_mounts=[mount("docker-config", DOCKER_CONFIG_DIR, read_only=True), mount("results-volume", out),
                       mount("tmp", SCRATCH_DIR)],
        security_context=restricted_security_context())


def _volumes(plan: Plan) -> tuple[list[dict], list[tuple[str, dict]]]:
    """Our volumes, and the user's schemaless VolumeSources to patch in verbatim after them (name, source)."""
    tuning = plan.tuning
    volumes = [empty_dir("dshm", memory=True), empty_dir("model-weights-volume"),
               plain(name="config-volume", config_map=plain(name=tuning.config_map))]
    user: list[tuple[str, dict]] = []
    if tuning.output_volume:
        user.append(("results-volume", tuning.output_volume))
    else:
        volumes.append(empty_dir("results-volume"))
    if tuning.input_image:
        volumes.append(docker_config_volume(f"docker-config-{tuning.input_name}-tuning-input",
                                            tuning.input_pull_secrets))
    if tuning.input_volume:
        user.append(("data-volume", tuning.input_volume))
    else:
        volumes.append(empty_dir("data-volume"))
    if tuning.output_image:
        volumes.append(docker_config_volume("docker-config", [tuning.output_push_secret], single_file="config.json"))
    volumes.append(empty_dir("tmp"))
    return volumes, user


def emit_tuning_job(scope: Scope, plan: Plan) -> cdk8s.ApiObject:
    labels = {WORKSPACE_LABEL: plan.workspace}
    tuning = plan.tuning
    init = [c for c in [_input_init_container(plan)] if c is not None]
    main = _tuning_container(plan)
    if tuning.output_image:
        init.append(main)
        containers = [_pusher(plan)]
    else:
        containers = [main]
    volumes, user_volumes = _volumes(plan)
    spec = plain(template=plain(
        metadata=plain(labels=labels),
        spec=plain(
            restart_policy="Never",
            affinity=node_affinity(plan, with_provisioner=False),
            tolerations=tuning_tolerations(plan),
            init_containers=init or None,
            containers=containers,
            volumes=volumes,
            image_pull_secrets=[plain(name=tuning.output_push_secret)] if tuning.output_image else None,
            security_context=pod_security_context(),
            automount_service_account_token=False,
        )))
    job = untyped_object(scope, "job", "batch/v1", "Job",
                         plain_metadata(plan, plan.workspace, annotations={"workspace.kaito.io/revision": "1"}),
                         {"spec": spec})
    for name, source in user_volumes:
        raw.add(job, "/spec/template/spec/volumes/-", {"name": name, **source})
    return job


def emit_config_maps(scope: Scope, plan: Plan) -> list[cdk8s.ApiObject]:
    return [untyped_object(scope, f"configmap-{cm.name}", "v1", "ConfigMap", plain_metadata(plan, cm.name),
                           {"data": cm.data}) for cm in plan.config_maps]
