"""The compiled seed workloads of ``out/`` run in a real OCI engine (podman) with a real registry (issue 12).

Run by ``make e2e`` (root on Debian: it installs podman, runc, mmdebstrap, docker-registry, skopeo and apache2-utils,
builds the images with ``make images`` and makes podman able to start containers, see tools/e2e_setup.sh); never by
``make test``. The story of the seeds, end to end:

1. the tuning Job ``out/default/workspace-tuning-phi-3`` (QLoRA): its data fetcher downloads a small chat dataset,
   the tuning runner trains a tiny Llama on it, and its pusher pushes the adapter to a local registry
   (``docker-registry`` on 127.0.0.1, a free port, htpasswd user: the push secret is real);
2. the adapter Deployment ``out/default/workspace-phi-3-mini-adapter``: its init container pulls that adapter with a
   pull secret, and the server answers the official ``openai`` client, differently for the adapter and the base.

The manifests are used as emitted, changed only by a kustomize overlay (``kubectl kustomize``) of the kind a user
writes for a test cluster. Every overlay field:

- ConfigMap ``workspace-tuning-phi-3-qlora-params``, ``training_config.yaml``: ``ModelConfig.allow_cpu_qlora: true``
  (no GPU), ``TrainingArguments.num_train_epochs: 4`` and ``learning_rate: 0.02`` (a tiny model must learn visibly).
- Both pod templates: ``hostNetwork: true`` (so the pods reach the registry and the dataset on 127.0.0.1); the
  annotation ``io.podman.annotations.init.container.type: always`` (podman-only: it keeps exited init containers
  for inspection instead of removing them); volume
  ``model-weights-volume``: ``hostPath`` of a Hugging Face cache holding the tiny model as
  ``microsoft/phi-3-mini-128k-instruct`` (built offline by ../shared/tools/tiny_model.py inside the tuning image)
  instead of ``emptyDir``; ``HF_HUB_OFFLINE=1`` on the runner and the server.
- Job: ``data-downloader`` args ``--url=http://127.0.0.1:<port>/train.jsonl`` and env
  ``KAITO_FETCH_ALLOW_LOOPBACK=1``; ``pusher`` arg ``--image=127.0.0.1:<registry>/phi-3-mini-128k-qlora:0.0.1`` and
  env ``KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK=1``; volume ``docker-config``: ``hostPath`` of a folder with the
  push secret's ``config.json`` instead of the projected Secret.
- Deployment (podman-only): ``restartPolicy: OnFailure``, because podman applies the pod's restart policy to init
  containers too and restarts a puller that exited 0 forever (``Always`` is all Kubernetes allows; a restart of the
  server still shows, and fails the suite); the init-container annotation also on the Deployment's own metadata.
- Deployment: ``puller-phi-3-adapter`` arg ``--image=`` the pushed adapter, env
  ``KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK=1`` and the pull secret as the compiler mounts one (volume
  ``adapter-pull-secret``: ``hostPath`` of a folder with ``<secret>.json``, at
  ``/mnt/pull-secrets/phi-3-adapter-inference-adapter``); server arg ``--port=<free port>`` and ``ports`` removed.

What podman 4.3 cannot honour, and what is tested instead:

- Job kind: the rendered Job's pod template runs as a Pod (same spec, ``restartPolicy: Never``).
- Projected Secret volumes and Secrets: hostPath folders laid out as the kubelet projects them.
- ``containerPort`` with host networking (podman refuses it) and Services: the server's port is moved to a free
  one and called directly.
- Readiness and startup probes are not mapped, the liveness probe becomes a healthcheck nobody schedules (no
  systemd): the suite calls the probes' path ``/health`` itself.
- GPU resources (``nvidia.com/gpu``), node affinity, tolerations, fsGroup: ignored by podman; the QLoRA run uses
  CPU (the overlay's ``allow_cpu_qlora``).

Every container runs as the manifest says (uid 1000, read-only root filesystem, all capabilities dropped, no
privilege escalation, the emitted env and volume mounts); a test fails if any container exits non-zero or restarts.
The pods and containers the suite made are removed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import yaml

from kaito_runtime.layout import PULL_SECRETS_DIR

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = REPO.parent / "shared" / "tools" / "tiny_model.py"
KUBECTL = REPO / ".tools" / "bin" / "kubectl"
TUNING_SEED = REPO / "out" / "default" / "workspace-tuning-phi-3"
ADAPTER_SEED = REPO / "out" / "default" / "workspace-phi-3-mini-adapter"
MODEL_ID = "microsoft/phi-3-mini-128k-instruct"  # both seeds' --model
ADAPTER = "phi-3-adapter"
PUSHED = "phi-3-mini-128k-qlora:0.0.1"  # the repository and tag the tuning seed pushes to
REGISTRY_USER = "kaito"
KEEP_INIT_CONTAINERS = {"io.podman.annotations.init.container.type": "always"}
PULL_SECRET = "adapter-pull-secret"
STORY_TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*command: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"{' '.join(command)} → {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def podman(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("podman", *args, timeout=timeout, check=check)


def wait_until(condition, timeout_s: float, what: str, interval_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def seed_images() -> set[str]:
    images = set()
    for path in (*TUNING_SEED.glob("job-*.yaml"), *ADAPTER_SEED.glob("deployment-*.yaml")):
        pod = yaml.safe_load(path.read_text())["spec"]["template"]["spec"]
        images |= {c["image"] for c in pod.get("initContainers", []) + pod["containers"]}
    return images


# --------------------------------------------------------------------------------------------- environment


@pytest.fixture(scope="module")
def engine() -> None:
    """podman present and the images out/ names built (by `make images`, which `make e2e` runs first)."""
    assert shutil.which("podman"), "podman is missing: run `make e2e` (it installs it)"
    missing = [image for image in sorted(seed_images()) if podman("image", "exists", image, check=False).returncode]
    assert not missing, f"images {missing} are not built: run `make images`"
    assert KUBECTL.is_file(), "kubectl is missing: python tools/ensure_kubectl.py"
    assert TINY_MODEL.is_file(), f"{TINY_MODEL} is missing (the shared tools live beside the checkout)"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def registry(work: Path) -> Iterator[dict]:
    """Debian's docker-registry on 127.0.0.1 only, its own config and storage, one htpasswd (bcrypt) user."""
    port, password = free_port(), secrets.token_urlsafe(18)
    htpasswd = run("htpasswd", "-Bbn", REGISTRY_USER, password).stdout
    (work / "htpasswd").write_text(htpasswd)
    config = {"version": 0.1, "log": {"level": "warn"},
              "storage": {"filesystem": {"rootdirectory": str(work / "registry-data")}},
              "http": {"addr": f"127.0.0.1:{port}"},
              "auth": {"htpasswd": {"realm": "kaito-e2e", "path": str(work / "htpasswd")}}}
    (work / "registry.yml").write_text(yaml.safe_dump(config))
    with (work / "registry.log").open("wb") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(work / "registry.yml")], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/v2/", 401), 30, "the registry")
        yield {"address": f"127.0.0.1:{port}", "user": REGISTRY_USER, "password": password}
    finally:
        process.terminate()
        process.wait(timeout=10)


def _answers(url: str, status: int) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def dataset_url(work: Path) -> Iterator[str]:
    """A small chat dataset served over http on 127.0.0.1, where the data fetcher downloads it."""
    folder = work / "dataset"
    folder.mkdir()
    pairs = [("say hello", "hello world, how are you today?"),
             ("finish: the quick brown fox", "jumps over the lazy dog"),
             ("what schedules gpu workloads?", "kubernetes schedules gpu workloads on nodes")] * 5
    (folder / "train.jsonl").write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}) + "\n"
        for q, a in pairs))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/train.jsonl"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def hub_cache(engine: None, work: Path) -> Path:
    """The tiny model in a Hugging Face cache as the seeds' model id, built offline with the image's own torch."""
    cache, models = work / "hf-cache", work / "models"
    cache.mkdir()
    models.mkdir()
    tuning_image = next(image for image in seed_images() if "tuning" in image)
    podman("run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "python3", "-e", "HOME=/tmp",
           "-v", f"{TINY_MODEL}:/opt/tiny_model.py:ro", "-v", f"{models}:/models", "-v", f"{cache}:/hf-cache",
           tuning_image, "/opt/tiny_model.py", "/models/tiny-llama", "--hub-cache", "/hf-cache", "--repo-id", MODEL_ID,
           timeout=600)
    _give_to_uid_1000(cache)
    return cache


def _give_to_uid_1000(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, 1000, 1000, follow_symlinks=False)


def _docker_config_folder(folder: Path, file_name: str, registry: dict) -> Path:
    """A folder as the kubelet projects a kubernetes.io/dockerconfigjson Secret into it (world-readable file)."""
    folder.mkdir()
    auth = base64.b64encode(f"{registry['user']}:{registry['password']}".encode()).decode()
    (folder / file_name).write_text(json.dumps({"auths": {registry["address"]: {"auth": auth}}}))
    (folder / file_name).chmod(0o644)
    return folder


# --------------------------------------------------------------------------------------------- overlays


def render(overlay: Path, base: Path, patches: list[dict]) -> list[dict]:
    """``kubectl kustomize`` of an overlay on a compiled workspace folder (resources must be relative)."""
    overlay.mkdir(parents=True)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": [os.path.relpath(base, overlay)],
                     "patches": [{"target": {"kind": p["kind"], "name": p["metadata"]["name"]},
                                  "patch": yaml.safe_dump(p, sort_keys=False)} for p in patches]}
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    rendered = run(str(KUBECTL), "kustomize", str(overlay)).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def _compiled(base: Path, kind: str) -> dict:
    return next(doc for path in sorted(base.glob("*.yaml")) if not path.name.startswith("kustomization")
                for doc in [yaml.safe_load(path.read_text())] if doc["kind"] == kind)


def _container(pod_spec: dict, name: str) -> dict:
    return next(c for c in pod_spec.get("initContainers", []) + pod_spec["containers"] if c["name"] == name)


def _replace_arg(args: list[str], flag: str, value: str) -> list[str]:
    return [f"{flag}={value}" if arg.startswith(f"{flag}=") else arg for arg in args]


def _host_path(path: Path) -> dict:
    return {"hostPath": {"path": str(path), "type": "Directory"}}


def _cpu_training_config(text: str) -> str:
    config = yaml.safe_load(text)
    training = config["training_config"]
    training["ModelConfig"]["allow_cpu_qlora"] = True
    training["TrainingArguments"].update(num_train_epochs=4, learning_rate=0.02)
    return yaml.safe_dump(config, sort_keys=False)


def tuning_patches(work: Path, hub: Path, registry: dict, dataset_url: str) -> list[dict]:
    job, config_map = _compiled(TUNING_SEED, "Job"), _compiled(TUNING_SEED, "ConfigMap")
    spec = job["spec"]["template"]["spec"]
    runner = job["metadata"]["name"]
    pusher_args = _replace_arg(_container(spec, "pusher")["args"], "--image", f"{registry['address']}/{PUSHED}")
    push_secret = _docker_config_folder(work / "push-secret", "config.json", registry)
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_map["metadata"]["name"]},
         "data": {"training_config.yaml": _cpu_training_config(config_map["data"]["training_config.yaml"])}},
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": runner}, "spec": {"template": {
            "metadata": {"annotations": KEEP_INIT_CONTAINERS}, "spec": {
            "hostNetwork": True,
            "initContainers": [
                {"name": "data-downloader", "args": ["--dest=/mnt/data", f"--url={dataset_url}"],
                 "env": [{"name": "KAITO_FETCH_ALLOW_LOOPBACK", "value": "1"}]},
                {"name": runner, "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}]}],
            "containers": [{"name": "pusher", "args": pusher_args,
                            "env": [{"name": "KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK", "value": "1"}]}],
            "volumes": [{"name": "model-weights-volume", "emptyDir": None, **_host_path(hub)},
                        {"name": "docker-config", "projected": None, **_host_path(push_secret)}],
        }}}},
    ]


def adapter_patches(work: Path, hub: Path, registry: dict, port: int) -> list[dict]:
    deployment = _compiled(ADAPTER_SEED, "Deployment")
    name = deployment["metadata"]["name"]
    server_args = _replace_arg(_container(deployment["spec"]["template"]["spec"], name)["args"], "--port", str(port))
    pull_secret = _docker_config_folder(work / "pull-secret", f"{PULL_SECRET}.json", registry)
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "annotations": KEEP_INIT_CONTAINERS},
             "spec": {"template": {"metadata": {"annotations": KEEP_INIT_CONTAINERS}, "spec": {
        "hostNetwork": True,
        "restartPolicy": "OnFailure",
        "initContainers": [{
            "name": f"puller-{ADAPTER}",
            "args": [f"--image={registry['address']}/{PUSHED}", f"--dest=/mnt/adapter/{ADAPTER}"],
            "env": [{"name": "KAITO_ARTIFACT_ALLOW_PLAIN_HTTP_LOOPBACK", "value": "1"}],
            "volumeMounts": [{"name": PULL_SECRET, "mountPath": f"{PULL_SECRETS_DIR}/{ADAPTER}-inference-adapter",
                              "readOnly": True}]}],
        "containers": [{"name": name, "args": server_args, "ports": None,
                        "env": [{"name": "HF_HUB_OFFLINE", "value": "1"}]}],
        "volumes": [{"name": "model-weights-volume", "emptyDir": None, **_host_path(hub)},
                    {"name": PULL_SECRET, **_host_path(pull_secret)}],
    }}}}]


def job_as_pod(docs: list[dict]) -> list[dict]:
    """podman has no Job kind: the Job's pod template becomes a Pod (the nearest real thing)."""
    converted = []
    for doc in docs:
        if doc["kind"] == "Job":
            template = doc["spec"]["template"]
            doc = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": doc["metadata"]["name"], "namespace": doc["metadata"].get("namespace"),
                                **{k: template["metadata"][k] for k in ("labels", "annotations")
                                   if k in template["metadata"]}},
                   "spec": template["spec"]}
        converted.append(doc)
    return converted


# --------------------------------------------------------------------------------------------- the pods


class PlayedPod:
    """A pod started by ``podman kube play``; its containers as podman reports them, and as rendered."""

    def __init__(self, file: Path, pod_name: str, spec: dict) -> None:
        self.file, self.pod_name, self.spec = file, pod_name, spec

    def container_names(self) -> list[str]:
        return [c["name"] for c in self.spec.get("initContainers", []) + self.spec["containers"]]

    def inspect(self, container: str) -> dict:
        output = podman("container", "inspect", f"{self.pod_name}-{container}", check=False)
        return json.loads(output.stdout)[0] if output.returncode == 0 else {}

    def logs(self, container: str) -> str:
        result = podman("logs", f"{self.pod_name}-{container}", check=False)
        return (result.stdout + result.stderr)[-4000:]

    def down(self) -> None:
        podman("kube", "down", str(self.file), check=False)


@contextlib.contextmanager
def played(file: Path, docs: list[dict], pod_name: str, kind: str) -> Iterator[PlayedPod]:
    file.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    workload = next(d for d in docs if d["kind"] == kind)
    pod = PlayedPod(file, pod_name, workload["spec"] if kind == "Pod" else workload["spec"]["template"]["spec"])
    pod.down()  # a pod left over by an interrupted run of this suite
    volumes_before = _volume_names()
    try:
        result = podman("kube", "play", str(file), timeout=STORY_TIMEOUT_S, check=False)
        assert result.returncode == 0, f"kube play failed: {result.stderr[-3000:]}\n" + "\n".join(
            f"--- {name}:\n{pod.logs(name)}" for name in pod.container_names())
        yield pod
    finally:
        pod.down()
        # kube play turns some volumes (emptyDir, configMap) into named podman volumes that kube down keeps
        ours = {v["name"] for v in pod.spec.get("volumes", [])} | {d["metadata"]["name"] for d in docs
                                                                   if d["kind"] == "ConfigMap"}
        made = sorted((_volume_names() - volumes_before) & ours)
        if made:
            podman("volume", "rm", "--force", *made, check=False)


def _volume_names() -> set[str]:
    return set(podman("volume", "ls", "--format", "{{.Name}}").stdout.split())


@pytest.fixture(scope="module")
def tuning_pod(engine: None, work: Path, hub_cache: Path, registry: dict, dataset_url: str) -> Iterator[PlayedPod]:
    docs = job_as_pod(render(work / "overlays" / "tuning", TUNING_SEED,
                             tuning_patches(work, hub_cache, registry, dataset_url)))
    name = next(d for d in docs if d["kind"] == "Pod")["metadata"]["name"]
    with played(work / "tuning-pod.yaml", docs, name, "Pod") as pod:
        wait_until(lambda: pod.inspect("pusher").get("State", {}).get("Status") == "exited", 300,
                   "the pusher to push and exit")
        yield pod


@pytest.fixture(scope="module")
def adapter_server(tuning_pod: PlayedPod, work: Path, hub_cache: Path, registry: dict) -> Iterator[tuple[PlayedPod, str]]:
    port = free_port()
    docs = render(work / "overlays" / "adapter", ADAPTER_SEED, adapter_patches(work, hub_cache, registry, port))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    name = deployment["metadata"]["name"]
    with played(work / "adapter-deployment.yaml", docs, f"{name}-pod-0", "Deployment") as pod:
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            state = pod.inspect(name).get("State", {})
            assert state.get("Status") == "running", f"server not running ({state}):\n{pod.logs(name)}"
            return _answers(f"{base_url}/health", 200)

        wait_until(healthy, 300, "the server's /health (the probes' path) to answer 200")
        yield pod, base_url


# --------------------------------------------------------------------------------------------- tests


def test_the_tuning_job_trains_on_the_fetched_data_and_pushes_the_adapter(tuning_pod: PlayedPod,
                                                                         registry: dict) -> None:
    for name in tuning_pod.container_names():
        state = tuning_pod.inspect(name)["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), f"{name}:\n{tuning_pod.logs(name)}"
    repository, tag = PUSHED.split(":")
    manifest = httpx.get(f"http://{registry['address']}/v2/{repository}/manifests/{tag}",
                         auth=(registry["user"], registry["password"]),
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert manifest.status_code == 200, manifest.text
    assert manifest.json()["annotations"] == {"sh.kaito.model.name": "phi-3-mini-128k-instruct"}
    anonymous = httpx.get(f"http://{registry['address']}/v2/{repository}/manifests/{tag}", timeout=10)
    assert anonymous.status_code == 401  # so the puller below needs its pull secret


def test_the_adapter_deployment_pulls_with_its_secret_and_serves_base_and_adapter(adapter_server) -> None:
    from openai import OpenAI

    pod, base_url = adapter_server
    client = OpenAI(base_url=f"{base_url}/v1", api_key="not-checked", timeout=120)
    served = [model.id for model in client.models.list()]
    assert served == ["phi-3-mini-128k-instruct", ADAPTER]

    def answer(model: str) -> str:
        completion = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "say hello"}],
                                                    max_tokens=12, temperature=0)
        return completion.choices[0].message.content

    base, adapted = answer("phi-3-mini-128k-instruct"), answer(ADAPTER)
    assert base and adapted and base != adapted, (base, adapted)
    assert answer(ADAPTER) == adapted  # greedy: the difference is the adapter, not sampling
    stream = client.chat.completions.create(model=ADAPTER, messages=[{"role": "user", "content": "say hello"}],
                                            max_tokens=12, temperature=0, stream=True)
    chunks = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(chunks) == adapted  # streamed through the image's scheduler: held text merged, nothing lost


def test_the_probe_path_answers_and_metrics_count_the_requests(adapter_server) -> None:
    _, base_url = adapter_server
    assert httpx.get(f"{base_url}/health", timeout=10).status_code == 200
    assert "kaito_inference" in httpx.get(f"{base_url}/metrics", timeout=10).text


def test_every_container_ran_as_emitted_and_none_failed_or_restarted(tuning_pod: PlayedPod, adapter_server) -> None:
    pods = [tuning_pod, adapter_server[0]]
    checked = []
    for pod in pods:
        containers = pod.spec.get("initContainers", []) + pod.spec["containers"]
        for container in containers:
            info = pod.inspect(container["name"])
            where = f"{pod.pod_name}/{container['name']}"
            assert info, f"{where}: no such container"
            assert info["Config"]["User"].split(":")[0] == "1000", where
            assert info["HostConfig"]["ReadonlyRootfs"] is True, where
            assert not info.get("EffectiveCaps"), f"{where}: capabilities {info.get('EffectiveCaps')}"
            assert "no-new-privileges" in " ".join(info["HostConfig"].get("SecurityOpt") or []), where
            assert info["RestartCount"] == 0, where
            state = info["State"]
            assert state["ExitCode"] == 0 and state["Status"] in ("exited", "running"), f"{where}: {state}"
            env = set(info["Config"]["Env"])
            emitted = {f"{e['name']}={e['value']}" for e in container.get("env", []) if "value" in e}
            assert emitted <= env, f"{where}: missing env {sorted(emitted - env)}"
            mounts = {m["Destination"] for m in info["Mounts"]}
            wanted = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert wanted <= mounts, f"{where}: missing mounts {sorted(wanted - mounts)}"
            checked.append(container["name"])
    assert len(checked) == 5  # fetcher, runner, pusher; puller, server
