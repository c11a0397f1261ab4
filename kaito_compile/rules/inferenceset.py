"""InferenceSet rules (KC-IS*): Kaito v0.12's InferenceSet webhook, the KEDA scaler's annotation rules, and what
compiling a set without a Kaito controller requires.

The webhook's last step, validating the child Workspace it would create (PR #2274), is not here: the compiler
runs every Workspace rule on the projected children (:mod:`..spec.inferenceset`), positioned in ``spec.template``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import yaml

from ..config import ProjectConfig
from ..diagnostics import Diagnostic, Severity
from ..source import FieldPath
from ..spec.inferenceset import ParsedInferenceSet
from .k8snames import dns1123_label_errors
from .registry import define

IS1 = define("IS1", "inferenceset", "InferenceSet name must be a DNS-1123 label",
             "webhook (create, update): metadata.name must be a DNS-1123 label")
IS2 = define("IS2", "inferenceset", "replicas out of range",
             "webhook (create) and CRD (minimum 0): spec.replicas must be >= 0; kaito-compile also refuses more "
             "than 1,000 (each replica is a directory of objects: a typo must not exhaust memory or a quota)")
IS3 = define("IS3", "inferenceset", "template instanceType vs node provisioner",
             "webhook (create, update): 'instanceType must be empty when nodeProvisioner is byo' / 'missing "
             "field(s): spec.template.resource.instanceType' with karpenter or azure-gpu-provisioner (kaito-compile "
             "also requires it for the legacy machine provisioner)")
IS4 = define("IS4", "inferenceset", "invalid auto-upgrade maintenance window",
             "webhook (create, update): maintenanceWindow.schedule is required and must parse as a standard cron "
             "expression (robfig/cron ParseStandard); duration, if set, must be > 0")
IS5 = define("IS5", "inferenceset", "template partition is immutable",
             "webhook (update, v1beta1 only): 'field is immutable: spec.template.resource.partition'")
IS6 = define("IS6", "inferenceset", "planned nodes exceed nodeCountLimit",
             "not checked by Kaito (only keda-kaito-scaler reads nodeCountLimit, to cap max replicas); kaito-compile "
             "refuses a set whose planned nodes (replicas x nodes per replica, or max replicas when autoscaled) "
             "exceed spec.nodeCountLimit")
IS7 = define("IS7", "inferenceset", "invalid scaledobject.kaito.sh annotations",
             "keda-kaito-scaler: an InferenceSet whose annotations do not parse gets no ScaledObject (silently); "
             "kaito-compile refuses them")
IS8 = define("IS8", "inferenceset", "autoscaling needs nodes that can scale",
             "Kaito: scaled-out Workspaces get NodeClaims from the controller at run time; compiled, nodes must come "
             "from a Karpenter NodePool or BYO capacity: fixed NodeClaims/Machines cannot follow KEDA")
IS9 = define("IS9", "inferenceset", "autoscaling needs single-node replicas",
             "Kaito scales whole Workspaces; kaito-compile scales pods of one workload, which only works when each "
             "replica is one pod on one node")
IS10 = define("IS10", "inferenceset", "autoscaling needs a metrics source in kaito-compile.yaml",
              "keda-kaito-scaler scrapes the pods itself; compiled, KEDA reads the metric from the Prometheus server "
              "named in kaito-compile.yaml (autoscaling.prometheus.serverAddress)")
IS11 = define("IS11", "inferenceset", "gateway routing needs the vLLM runtime and a preset",
              "Kaito creates the llm-d router only for vLLM InferenceSets with a preset and otherwise says nothing; "
              "kaito-compile warns that the gateway feature has no effect on this set")
IS12 = define("IS12", "inferenceset", "fewer BYO nodes than the set may use",
              "Kaito checks the BYO nodes of each child Workspace alone; children of one set share the nodes their "
              "labelSelector matches, so kaito-compile warns when replicas (or max replicas) x nodes per replica "
              "exceed the ready nodes of the inventory")
IS13 = define("IS13", "inferenceset", "kaito.sh/runtime on the set is not its replicas' runtime",
              "Kaito copies only the template's annotations to the children, so a kaito.sh/runtime annotation on the "
              "InferenceSet itself does not choose their runtime (Kaito reads it only for the gateway and the "
              "benchmark); kaito-compile warns when it differs from the template's")

AUTO_PROVISION = "scaledobject.kaito.sh/auto-provision"
METRICS = "scaledobject.kaito.sh/metrics"
LEGACY_METRIC = "scaledobject.kaito.sh/metricName"
LEGACY_THRESHOLD = "scaledobject.kaito.sh/threshold"
MAX_REPLICAS = "scaledobject.kaito.sh/max-replicas"
MIN_REPLICAS = "scaledobject.kaito.sh/min-replicas"
COMBINE_POLICY = "scaledobject.kaito.sh/combinepolicy"
EVALUATION_WINDOW = "scaledobject.kaito.sh/evaluationwindow"
SCALE_UP_COOLDOWN = "scaledobject.kaito.sh/scaleupcooldown"
SCALE_DOWN_COOLDOWN = "scaledobject.kaito.sh/scaledowncooldown"
DEFAULT_LEGACY_METRIC = "vllm:num_requests_waiting"
INT32_MAX = 2**31 - 1
RUNTIME_ANNOTATION = "kaito.sh/runtime"
MAX_REPLICAS_COMPILED = 1000


@dataclass(frozen=True)
class ScaleMetric:
    name: str
    type: str  # gauge | histogram
    up: float
    down: float
    cache_window: int | None = None


@dataclass(frozen=True)
class Autoscaling:
    """What the ``scaledobject.kaito.sh/*`` annotations ask for, in either scheme.

    ``scheme``: ``v0.6`` (keda-kaito-scaler v0.6.2, the list annotation) or ``legacy`` (≤ v0.5.1,
    ``metricName``/``threshold``, what Kaito's docs and examples show). ``max_annotation`` is None when absent.
    """

    scheme: str
    min_replicas: int
    max_annotation: int | None
    metrics: tuple[ScaleMetric, ...] = ()
    threshold: int | None = None
    evaluation_window: int = 60
    scale_up_cooldown: int = 300
    scale_down_cooldown: int = 300


@dataclass
class SetFindings:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    autoscaling: Autoscaling | None = None

    def error(self, iset: ParsedInferenceSet, code: str, path: FieldPath, message: str, *, key: bool = False,
              hints: tuple[str, ...] = (), severity: Severity = Severity.ERROR) -> None:
        self.diagnostics.append(Diagnostic(code, message, severity, iset.doc.span(path, key=key), hints=hints))


def validate_inference_set(iset: ParsedInferenceSet, config: ProjectConfig, *,
                           old: ParsedInferenceSet | None = None) -> SetFindings:
    """The webhook's own rules (create, and update against ``old``) and the autoscaling annotations."""
    found = SetFindings()
    name = iset.name
    if not name:
        found.error(iset, IS1, ("metadata", "name"), "metadata.name is required", key=True)
        return found
    if dns1123_label_errors(name):
        found.error(iset, IS1, ("metadata", "name"),
                    f"invalid InferenceSet name {name!r}: {'; '.join(dns1123_label_errors(name))}")
        return found
    if iset.replicas < 0:
        found.error(iset, IS2, ("spec", "replicas"), f"spec.replicas must be >= 0, got {iset.replicas}")
    elif iset.replicas > MAX_REPLICAS_COMPILED:
        found.error(iset, IS2, ("spec", "replicas"), f"spec.replicas is {iset.replicas}; kaito-compile compiles at "
                    f"most {MAX_REPLICAS_COMPILED} replicas of one InferenceSet")
        return found
    _check_instance_type(iset, config, found)
    _check_maintenance_window(iset, found)
    _check_runtime_annotation(iset, found)
    if old is not None and iset.api_version == "kaito.sh/v1beta1" and old.partition != iset.partition:
        found.error(iset, IS5, ("spec", "template", "resource", "partition"),
                    "field is immutable: spec.template.resource.partition", key=True)
    found.autoscaling = _autoscaling(iset, found)
    return found


def _check_instance_type(iset: ParsedInferenceSet, config: ProjectConfig, found: SetFindings) -> None:
    resource = iset.spec.template.resource
    instance_type = (resource.instanceType if resource else None) or ""
    if config.provisioner == "byo" and instance_type:
        found.error(iset, IS3, ("spec", "template", "resource", "instanceType"),
                    "instanceType must be empty when nodeProvisioner is byo")
    elif config.provisioner != "byo" and not instance_type:
        found.error(iset, IS3, ("spec", "template", "resource") if resource else ("spec", "template"),
                    "missing field(s): spec.template.resource.instanceType", key=True,
                    hints=(f"the {config.provisioner} provisioner creates nodes of this instance type",))


def _check_runtime_annotation(iset: ParsedInferenceSet, found: SetFindings) -> None:
    own = iset.annotation(RUNTIME_ANNOTATION)
    template = iset.spec.template.metadata
    copied = ((template.annotations if template else None) or {}).get(RUNTIME_ANNOTATION)
    if own is not None and own != copied:
        found.error(iset, IS13, ("metadata", "annotations", RUNTIME_ANNOTATION),
                    f"{RUNTIME_ANNOTATION}: {own!r} on the InferenceSet does not reach its replicas "
                    f"(their template has {repr(copied) if copied is not None else 'none'}): Kaito copies only "
                    "spec.template.metadata.annotations",
                    severity=Severity.WARNING,
                    hints=("move the annotation to spec.template.metadata.annotations",))


def _check_maintenance_window(iset: ParsedInferenceSet, found: SetFindings) -> None:
    upgrade = iset.spec.autoUpgrade
    window = upgrade.maintenanceWindow if upgrade else None
    if window is None:
        return
    path = ("spec", "autoUpgrade", "maintenanceWindow")
    if not window.schedule:
        found.error(iset, IS4, (*path, "schedule"), "missing field(s): spec.autoUpgrade.maintenanceWindow.schedule")
    else:
        problem = cron_problem(window.schedule)
        if problem:
            found.error(iset, IS4, (*path, "schedule"), f"invalid maintenance window schedule "
                        f"{window.schedule!r}: {problem}")
    if window.duration is not None:
        seconds = go_duration_seconds(window.duration)
        if seconds is None:
            found.error(iset, IS4, (*path, "duration"), f"invalid duration {window.duration!r}")
        elif seconds <= 0:
            found.error(iset, IS4, (*path, "duration"), "maintenance window duration must be greater than 0")


# --- cron (robfig/cron v3 ParseStandard) and Go durations ---------------------------------------------------------

_CRON_FIELDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
                ("month", 1, 12, {m: i + 1 for i, m in enumerate(
                    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}),
                ("day of week", 0, 6, {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}))
_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_problem(spec: str) -> str | None:
    """Why robfig/cron's ParseStandard refuses ``spec`` (None when it accepts it)."""
    text = spec.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        parts = text.split(None, 1)
        text = parts[1] if len(parts) > 1 else ""
    if text.startswith("@"):
        if text in _DESCRIPTORS:
            return None
        if text.startswith("@every "):
            seconds = go_duration_seconds(text[len("@every "):])
            return None if seconds is not None else f"failed to parse duration {text!r}"
        return f"unrecognized descriptor: {text}"
    fields = text.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: {text!r}"
    for value, (label, low, high, names) in zip(fields, _CRON_FIELDS):
        for part in value.split(","):
            problem = _cron_range_problem(part, low, high, names, allow_question=label.startswith("day of"))
            if problem:
                return f"{label}: {problem}"
    return None


def _cron_range_problem(part: str, low: int, high: int, names: dict[str, int], *, allow_question: bool) -> str | None:
    range_text, _, step = part.partition("/")
    if step and not (step.isascii() and step.isdigit() and int(step) > 0):
        return f"bad step in {part!r}"
    if range_text in ("*",) or (allow_question and range_text == "?"):
        return None
    start_text, _, end_text = range_text.partition("-")
    values = []
    for text in (start_text, end_text) if end_text else (start_text,):
        number = names.get(text.lower()) if not text.isdigit() else int(text)
        if number is None or not text.isascii():
            return f"failed to parse {text!r}"
        values.append(number)
    if any(v < low or v > high for v in values):
        return f"{range_text!r} is beyond the range {low}-{high}"
    if len(values) == 2 and values[0] > values[1]:
        return f"beginning of range {values[0]} beyond end of range {values[1]}"
    return None


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")  # ASCII digits, as Go


def go_duration_seconds(text: str) -> float | None:
    """Seconds of a Go ``time.ParseDuration`` string (``4h``, ``1h30m``, ``-5m``, ``0``), None if invalid."""
    sign = -1 if text.startswith("-") else 1
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    if not body:
        return None
    total, position = 0.0, 0
    for found in _DURATION.finditer(body):
        if found.start() != position:
            return None
        total += float(found.group(1)) * _DURATION_UNITS[found.group(2)]
        position = found.end()
    return sign * total if position == len(body) and position > 0 else None


# --- autoscaling annotations (keda-kaito-scaler, reference §3.2 and §3.5) ------------------------------------------

def _autoscaling(iset: ParsedInferenceSet, found: SetFindings) -> Autoscaling | None:
    """The autoscaling request, or None (no request, or invalid: IS7 then says why)."""
    annotations = iset.model.metadata.annotations or {}
    if AUTO_PROVISION not in annotations and not any(k.startswith("scaledobject.kaito.sh/") for k in annotations):
        return None
    before = len(found.diagnostics)
    if annotations.get(AUTO_PROVISION) != "true":
        found.error(iset, IS7, _ann_path(AUTO_PROVISION, annotations), f"{AUTO_PROVISION} must be \"true\" for the "
                    "other scaledobject.kaito.sh annotations to take effect (keda-kaito-scaler ignores them otherwise)",
                    hints=(f"set {AUTO_PROVISION}: \"true\", or remove the scaledobject.kaito.sh annotations",))
        return None
    min_replicas = _min_replicas(annotations.get(MIN_REPLICAS))
    max_annotation = _max_replicas(iset, annotations, found)
    if METRICS in annotations:
        scaling = _v06(iset, annotations, found, min_replicas, max_annotation)
    elif LEGACY_THRESHOLD in annotations or LEGACY_METRIC in annotations:
        scaling = _legacy(iset, annotations, found, min_replicas, max_annotation)
    else:
        found.error(iset, IS7, _ann_path(AUTO_PROVISION, annotations), f"no metric: give {METRICS} "
                    f"(keda-kaito-scaler v0.6) or {LEGACY_THRESHOLD} (≤ v0.5.1)", key=True)
        return None
    if MAX_REPLICAS not in annotations and not iset.spec.nodeCountLimit:
        found.error(iset, IS7, _ann_path(AUTO_PROVISION, annotations), f"no maximum: give {MAX_REPLICAS} or "
                    "spec.nodeCountLimit", key=True)
    return scaling if len(found.diagnostics) == before else None


def _ann_path(key: str, annotations: dict) -> FieldPath:
    return ("metadata", "annotations", key) if key in annotations else ("metadata", "annotations")


def go_atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and ASCII digits, nothing else (Python's ``int`` also takes spaces,
    underscores and non-ASCII digits); None when Go refuses it, or past int64."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not (body.isascii() and body.isdigit()):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


def _min_replicas(text: str | None) -> int:
    """Values that do not parse or are ≤ 1 become 1 (keda-kaito-scaler: min is never 0)."""
    value = go_atoi(text) if text is not None else 1
    return 1 if value is None else max(1, value)


def _max_replicas(iset: ParsedInferenceSet, annotations: dict, found: SetFindings) -> int | None:
    text = annotations.get(MAX_REPLICAS)
    if text is None:
        return None
    value = go_atoi(text) or 0
    if value <= 1 or value > INT32_MAX:
        found.error(iset, IS7, ("metadata", "annotations", MAX_REPLICAS),
                    f"{MAX_REPLICAS} must be an integer greater than 1, got {text!r}")
        return None
    return value


def _seconds(iset: ParsedInferenceSet, annotations: dict, key: str, default: int, found: SetFindings) -> int:
    text = annotations.get(key)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > INT32_MAX:
        found.error(iset, IS7, ("metadata", "annotations", key), f"{key} must be a non-negative integer number of "
                    f"seconds, got {text!r}")
        return default
    return int(text)


def _v06(iset, annotations, found, min_replicas, max_annotation) -> Autoscaling:
    policy = annotations.get(COMBINE_POLICY, "AND").upper()
    if policy != "AND":
        found.error(iset, IS7, ("metadata", "annotations", COMBINE_POLICY),
                    f"{COMBINE_POLICY} must be AND (the only policy keda-kaito-scaler supports), got {policy!r}")
    metrics = _metrics(iset, annotations[METRICS], found)
    return Autoscaling("v0.6", min_replicas, max_annotation, metrics=metrics,
                       evaluation_window=_seconds(iset, annotations, EVALUATION_WINDOW, 60, found),
                       scale_up_cooldown=_seconds(iset, annotations, SCALE_UP_COOLDOWN, 300, found),
                       scale_down_cooldown=_seconds(iset, annotations, SCALE_DOWN_COOLDOWN, 300, found))


def _metrics(iset: ParsedInferenceSet, text: str, found: SetFindings) -> tuple[ScaleMetric, ...]:
    path = ("metadata", "annotations", METRICS)

    def bad(message: str) -> tuple:
        found.error(iset, IS7, path, f"{METRICS}: {message}")
        return ()

    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError:
        return bad("not a YAML or JSON list")
    if not isinstance(entries, list) or not entries:
        return bad("must be a non-empty list of metrics")
    metrics, seen = [], set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return bad(f"entry {i} is not a mapping")
        name, kind = entry.get("name"), entry.get("type")
        if not isinstance(name, str) or not name:
            return bad(f"entry {i}: name is required")
        if kind not in ("gauge", "histogram"):
            return bad(f"entry {i} ({name}): type must be gauge or histogram")
        if entry.get("source", "modelpod") != "modelpod":
            return bad(f"entry {i} ({name}): source must be modelpod")
        up, down = _finite(entry.get("upthreshold")), _finite(entry.get("downthreshold"))
        if up is None or down is None:
            return bad(f"entry {i} ({name}): upthreshold and downthreshold must be finite numbers")
        if down > up:
            return bad(f"entry {i} ({name}): downthreshold {down:g} is greater than upthreshold {up:g}")
        window = entry.get("metriccachewindow")
        if kind == "histogram":
            window = 300 if window is None else window
            if not isinstance(window, int) or isinstance(window, bool) or window <= 0:
                return bad(f"entry {i} ({name}): metriccachewindow must be a positive number of seconds")
        variable = formula_variable(name)
        if variable in seen:
            return bad(f"entry {i} ({name}): its variable name {variable!r} collides with an earlier metric")
        seen.add(variable)
        metrics.append(ScaleMetric(name, kind, up, down, window if kind == "histogram" else None))
    return tuple(metrics)


def _finite(value) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def formula_variable(metric: str) -> str:
    """keda-kaito-scaler's ``formulaVarName``: non-[A-Za-z0-9_] → ``_``; ``_`` prefixed before a leading digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", metric)
    return f"_{name}" if name[:1].isdigit() else name


def _legacy(iset, annotations, found, min_replicas, max_annotation) -> Autoscaling:
    text = annotations.get(LEGACY_THRESHOLD)
    if text is None or not (text.isascii() and text.isdigit()):
        found.error(iset, IS7, _ann_path(LEGACY_THRESHOLD, annotations),
                    f"{LEGACY_THRESHOLD} is required and must be a non-negative integer, got {text!r}",
                    key=text is None)
        return Autoscaling("legacy", min_replicas, max_annotation)
    metric = annotations.get(LEGACY_METRIC) or DEFAULT_LEGACY_METRIC
    return Autoscaling("legacy", min_replicas, max_annotation,
                       metrics=(ScaleMetric(metric, "gauge", float(text), float(text)),), threshold=int(text))
