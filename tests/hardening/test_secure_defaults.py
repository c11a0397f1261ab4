"""Secure defaults of the generated manifests: every object of every example in the committed ``out/``.

- No Secret objects and no secret values inline: credentials only as ``secretKeyRef`` or projected Secret
  volumes; no env value, argument or ConfigMap entry that looks like a token, a private key or a URL with a
  password.
- Every image pinned: a tag or a digest, never ``latest``, never untagged.
- Every container of OUR images (the inference server, the tuning runner and its helpers) restricted: non-root,
  no privilege escalation, read-only root filesystem, all capabilities dropped, RuntimeDefault seccomp; their
  pods mount no service-account token.
- Containers kaito-compile cannot restrict (Kaito's vLLM base image runs as root and writes its filesystem; a
  template workspace runs the user's pod template as written) fail the linters' root checks: the object must then
  carry, for each failed check, kube-linter's ``ignore-check.kube-linter.io/<check>: <reason>`` and Polaris's
  ``polaris.fairwinds.com/<check>-exempt: "true"``; objects running only our images carry no exemption at all.
- Host paths never name a directory kube-linter calls sensitive, and our containers mount them read-only;
  memory-backed emptyDirs serve /dev/shm only (GPU pods need it for NCCL and the tokenizer workers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "out"
WORKLOADS = {"Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet", "Pod", "CronJob"}
OUR_IMAGES = ("/kaito-inference", "/kaito-tuning")  # repositories of runtime/'s images, under any registry

# kube-linter check → Polaris check, for the three root checks Kaito's image and bare user templates fail.
ROOT_CHECKS = {
    "run-as-non-root": "runAsRootAllowed",
    "no-read-only-root-fs": "notReadOnlyRootFilesystem",
    "privilege-escalation-container": "privilegeEscalationAllowed",
}
KUBE_LINTER_SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")
SECRET_NAME = re.compile(r"(?i)token|secret|passw|credential|api[-_]?key|private[-_]?key")
TOKEN_PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),
    "Azure storage key": re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}"),
}
HIGH_ENTROPY = re.compile(r"[A-Za-z0-9_\-+/=]{32,}")


# --- reading out/ ------------------------------------------------------------------------------------------------

def load_objects() -> list[tuple[str, dict]]:
    objects = []
    for path in sorted(OUT.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects.append((path.relative_to(OUT).as_posix(), doc))
    return objects


OBJECTS = load_objects()


def pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") not in WORKLOADS:
        return None
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def containers(pod: dict) -> list[dict]:
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def workloads() -> list[tuple[str, dict, dict]]:
    return [(path, obj, pod) for path, obj in OBJECTS if (pod := pod_spec(obj)) is not None]


def repository(image: str) -> str:
    """``image`` without its digest and tag."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def is_ours(image: str) -> bool:
    return repository(image).endswith(OUR_IMAGES)


def strings_in(node) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)
    elif isinstance(node, str):
        yield node


def ids(items: list[tuple]) -> list[str]:
    return [item[0] for item in items]


# --- detectors -------------------------------------------------------------------------------------------------

def secret_findings(text: str) -> list[str]:
    return [name for name, pattern in TOKEN_PATTERNS.items() if pattern.search(text)]


def looks_random(value: str) -> bool:
    """A long run of token characters mixing upper case, lower case and digits (hex digests are lower case)."""
    return any(re.search(r"[A-Z]", run) and re.search(r"[a-z]", run) and re.search(r"\d", run)
               for run in HIGH_ENTROPY.findall(value))


def image_problem(image: str) -> str | None:
    """Why ``image`` is not pinned, or None: a digest, or a tag other than latest on the last path segment."""
    if re.search(r"@sha256:[0-9a-f]{64}$", image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "untagged (means latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return "tagged latest"
    return None


def failed_root_checks(container: dict, pod: dict) -> set[str]:
    """The kube-linter root checks ``container`` fails (Polaris's equivalents fail alike)."""
    context = container.get("securityContext") or {}
    pod_context = pod.get("securityContext") or {}
    failed = set()
    non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
    user = context.get("runAsUser", pod_context.get("runAsUser"))
    if non_root is not True or user == 0:
        failed.add("run-as-non-root")
    if context.get("readOnlyRootFilesystem") is not True:
        failed.add("no-read-only-root-fs")
    if context.get("allowPrivilegeEscalation") is not False or context.get("privileged"):
        failed.add("privilege-escalation-container")
    return failed


def restricted_problems(container: dict, pod: dict) -> list[str]:
    """What keeps ``container`` from the restricted profile (beyond the three root checks)."""
    context = container.get("securityContext") or {}
    seccomp = (context.get("seccompProfile") or (pod.get("securityContext") or {}).get("seccompProfile") or {})
    problems = sorted(failed_root_checks(container, pod))
    if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
        problems.append("capabilities not dropped")
    if (context.get("capabilities") or {}).get("add"):
        problems.append("capabilities added")
    if seccomp.get("type") != "RuntimeDefault":
        problems.append("no RuntimeDefault seccomp profile")
    return problems


def exemption_problems(obj: dict, needed: set[str]) -> list[str]:
    annotations = obj["metadata"].get("annotations") or {}
    problems = []
    for check in sorted(needed):
        reason = annotations.get(f"ignore-check.kube-linter.io/{check}", "")
        if len(reason.strip()) < 20:
            problems.append(f"no kube-linter exemption with a reason for {check} (got {reason!r})")
        if annotations.get(f"polaris.fairwinds.com/{ROOT_CHECKS[check]}-exempt") != "true":
            problems.append(f"no Polaris exemption for {ROOT_CHECKS[check]}")
    return problems


def exemption_annotations(obj: dict) -> list[str]:
    annotations = obj["metadata"].get("annotations") or {}
    return sorted(k for k in annotations if k.startswith(("ignore-check.kube-linter.io/", "polaris.fairwinds.com/")))


# --- the detectors work ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("planted", [
    "hf_" + "aB3" * 12, "ghp_" + "x9Y" * 12, "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.sig",
    "-----BEGIN OPENSSH PRIVATE KEY-----", "https://user:s3cret@registry.example.com/v2/",
    "DefaultEndpointsProtocol=https;AccountKey=abcdEFGH1234abcdEFGH1234==",
])
def test_detectors_catch_planted_secrets(planted: str):
    assert secret_findings(f"--flag={planted}")


def test_detectors_leave_digests_urls_and_images_alone():
    for harmless in ("sha256:" + "0123456789abcdef" * 4, "https://huggingface.co/datasets/philschmid/"
                     "dolly-15k-oai-style/resolve/main/data/train-00000-of-00001-54e3756291ca09c6.parquet",
                     "mcr.microsoft.com/aks/kaito/kaito-base:0.5.0", "expandable_segments:True"):
        assert not secret_findings(harmless) and not looks_random(harmless), harmless
    assert looks_random("Zx81kQp0aLm2NvB7cR4tY6uI9oP3sD5fG")
    assert image_problem("ghcr.io/x/y") and image_problem("ghcr.io/x/y:latest") and image_problem("localhost:5000/y")
    assert image_problem("ghcr.io/x/y:1.2") is None and image_problem("y@sha256:" + "a" * 64) is None
    assert is_ours("registry.example.com:5000/kaito-inference:0.1.0@sha256:" + "a" * 64)
    assert not is_ours("ghcr.io/kaito-inference-fork/server:1") and not is_ours("mcr.microsoft.com/kaito-base:0.5.0")


def test_out_covers_every_kind_of_workload():
    """Guards against a vacuous pass: the examples emit all four workload shapes and both image families."""
    shapes = {(obj["kind"], "vllm" if any("kaito-base" in c["image"] for c in containers(pod)) else
               "template" if not any(is_ours(c["image"]) for c in containers(pod)) else "ours")
              for _, obj, pod in workloads()}
    assert {("Deployment", "ours"), ("StatefulSet", "vllm"), ("StatefulSet", "template"), ("Job", "ours")} <= shapes


# --- secrets -----------------------------------------------------------------------------------------------------

def test_no_secret_objects():
    assert not [path for path, obj in OBJECTS if obj.get("kind") == "Secret"]


@pytest.mark.parametrize("path,obj", OBJECTS, ids=ids(OBJECTS))
def test_no_secret_values_anywhere(path: str, obj: dict):
    found = {text[:60]: secret_findings(text) for text in strings_in(obj) if secret_findings(text)}
    assert not found, f"{path}: {found}"


@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_secret_env_vars_are_references(path: str, obj: dict, pod: dict):
    for container in containers(pod):
        for env in container.get("env") or []:
            where = f"{path}: {container['name']} {env['name']}"
            if "value" in env:
                assert not SECRET_NAME.search(env["name"]), f"{where} is set inline; use valueFrom.secretKeyRef"
                assert not looks_random(env["value"]), f"{where} has a token-like value inline"
            elif SECRET_NAME.search(env["name"]):
                ref = (env.get("valueFrom") or {}).get("secretKeyRef") or {}
                assert ref.get("name") and ref.get("key"), f"{where} is not read from a Secret: {env}"


@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_secret_volumes_are_secret_references(path: str, obj: dict, pod: dict):
    for volume in pod.get("volumes") or []:
        secret = volume.get("secret")
        if secret is not None:
            assert set(secret) <= {"secretName", "items", "defaultMode", "optional"}, volume
        for source in (volume.get("projected") or {}).get("sources") or []:
            assert set(source) <= {"secret", "configMap", "serviceAccountToken", "downwardAPI"}, volume


# --- images ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_images_are_pinned(path: str, obj: dict, pod: dict):
    problems = {c["name"]: image_problem(c["image"]) for c in containers(pod) if image_problem(c["image"])}
    assert not problems, f"{path}: {problems}"


# --- security contexts and exemptions ----------------------------------------------------------------------------

@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_our_containers_are_restricted(path: str, obj: dict, pod: dict):
    problems = {c["name"]: restricted_problems(c, pod) for c in containers(pod)
                if is_ours(c["image"]) and restricted_problems(c, pod)}
    assert not problems, f"{path}: {problems}"
    if all(is_ours(c["image"]) for c in containers(pod)):
        assert pod.get("automountServiceAccountToken") is False, f"{path}: our pods need no API token"


@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_exceptions_carry_linter_exemptions_with_a_reason(path: str, obj: dict, pod: dict):
    needed = set().union(*(failed_root_checks(c, pod) for c in containers(pod) if not is_ours(c["image"])))
    assert not exemption_problems(obj, needed), f"{path}: " + "; ".join(exemption_problems(obj, needed))
    if all(is_ours(c["image"]) for c in containers(pod)):
        assert not exemption_annotations(obj), f"{path}: exemptions on an object running only our images"


@pytest.mark.parametrize("path,obj,pod", workloads(), ids=ids(workloads()))
def test_host_paths_and_memory_volumes(path: str, obj: dict, pod: dict):
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for volume in volumes.values():
        host = (volume.get("hostPath") or {}).get("path")
        if host is not None:
            assert (host.rstrip("/") or "/") not in KUBE_LINTER_SENSITIVE_DIRS, f"{path}: hostPath {host}"
    for container in containers(pod):
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"], {})
            if "hostPath" in volume and is_ours(container["image"]):
                assert mount.get("readOnly") is True, f"{path}: {container['name']} mounts {mount['name']} writable"
            if (volume.get("emptyDir") or {}).get("medium") == "Memory":
                assert mount["mountPath"] == "/dev/shm", f"{path}: memory-backed volume at {mount['mountPath']}"
