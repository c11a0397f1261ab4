"""Offline checks of emitted manifests against strict schemas: core kinds and custom resources.

Core kinds are checked against kubernetes-validate's bundled *strict* JSON schemas (unknown fields fail; the
package is in the ``test`` extra), CRDs against the ``openAPIV3Schema`` of a CRD file found under a directory
the caller names (the project ships no upstream CRDs), made strict: ``additionalProperties: false`` wherever a
schema lists ``properties`` and allows nothing else, ``nullable`` turned into a JSON-schema null type, and
``metadata`` checked as a strict ``ObjectMeta``. Not covered: ``x-kubernetes-validations`` (CEL) rules and
defaulting.

Speed: one validator per (Kubernetes version, apiVersion, kind), built once. Each is compiled into a tree of
small Python predicates for the keywords these schemas use (``type``, ``properties``, ``additionalProperties``,
``required``, ``items``, ``enum``, ``$ref``, ``oneOf``/``anyOf``/``allOf``, string, number and size limits). A
manifest the predicate accepts has no errors; one it rejects goes to jsonschema's Draft 2020-12 validator, whose
messages are the ones reported, as is every manifest of a schema that uses a keyword the compiler does not
know. The predicate may be stricter than jsonschema, never more lenient, so the results are jsonschema's, at a
tenth of its cost for the valid manifests a build emits.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

DEFAULT_K8S_VERSION = "1.33"
# (apiVersion, kind) → CRD file, relative to the CRD directory callers pass (the layout of the shared upstream
# checkouts the tests read)
CRD_FILES = {
    ("karpenter.sh/v1", "NodeClaim"): "karpenter/pkg/apis/crds/karpenter.sh_nodeclaims.yaml",
    ("karpenter.sh/v1", "NodePool"): "karpenter/pkg/apis/crds/karpenter.sh_nodepools.yaml",
    ("karpenter.sh/v1alpha5", "Machine"): "kaito/v0.3.0/charts/kaito/workspace/crds/karpenter.sh_machines.yaml",
    ("argoproj.io/v1alpha1", "Application"): "argo-cd/manifests/crds/application-crd.yaml",
    ("argoproj.io/v1alpha1", "ApplicationSet"): "argo-cd/manifests/crds/applicationset-crd.yaml",
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): (
        "fluxcd-kustomize-controller/config/crd/bases/kustomize.toolkit.fluxcd.io_kustomizations.yaml"
    ),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): (
        "fluxcd-source-controller/config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml"
    ),
}

_DEFINITIONS_URI = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META_REF = f"{_DEFINITIONS_URI}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def validate_manifest(obj: dict[str, Any], crd_dir: Path | None,
                      k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Validate any emitted object: CRD kinds against their CRD under ``crd_dir``, everything else as a core kind."""
    if (obj.get("apiVersion"), obj.get("kind")) in CRD_FILES:
        if crd_dir is None:
            return [f"(root): no CRD directory to check {obj.get('apiVersion')} {obj.get('kind')} against"]
        return validate_crd(obj, crd_dir, k8s_version)
    return validate_core(obj, k8s_version)


def validate_core(obj: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Errors (``path: message``) of a core Kubernetes object under the strict schema of ``k8s_version``."""
    validator = _core_validator(k8s_version, str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return [f"(root): no Kubernetes {k8s_version} schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    return validator.errors(obj)


def validate_crd(obj: dict[str, Any], crd_dir: Path, k8s_version: str = DEFAULT_K8S_VERSION) -> list[str]:
    """Errors of a custom resource under its strictified CRD schema, read from ``crd_dir``.

    ``k8s_version`` picks the strict ``ObjectMeta`` used for ``metadata``.
    """
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in CRD_FILES:
        return [f"(root): no CRD known for {key[0]} {key[1]}; known: {sorted(CRD_FILES)}"]
    validator, cluster_scoped = _crd_validator(Path(crd_dir), k8s_version, *key)
    errors = validator.errors(obj)
    if cluster_scoped and "namespace" in (obj.get("metadata") or {}):
        errors.append(f"metadata.namespace: {key[1]} is cluster-scoped and must not carry a namespace")
    return sorted(errors)


def strictify(schema: dict[str, Any]) -> dict[str, Any]:
    """Make a structural CRD schema reject unknown fields, in place, the way the apiserver prunes them.

    Only the structural skeleton (``properties``, ``items``, ``additionalProperties``) is changed; value
    validations under ``allOf``/``anyOf``/``oneOf``/``not`` may only restate fields, so they are left alone.
    """
    if schema.get("nullable") is True:
        _allow_null(schema)
    if "properties" in schema and "additionalProperties" not in schema:
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    for child in (schema.get("properties") or {}).values():
        strictify(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            strictify(schema[key])
    return schema


def _allow_null(schema: dict[str, Any]) -> None:
    if isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]


# --- validators ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Validator:
    """jsonschema's validator, and the compiled predicate that answers first when it can (None: cannot)."""

    jsonschema: Draft202012Validator
    accepts: Callable[[Any], bool] | None

    def errors(self, obj: Any) -> list[str]:
        if self.accepts is not None and self.accepts(obj):
            return []
        return sorted(_describe(error) for error in self.jsonschema.iter_errors(obj))


def _describe(error: ValidationError) -> str:
    """``spec.containers[0].image: message``; for anyOf/oneOf the most relevant branch's error."""
    if error.context:
        error = best_match(error.context)
    return f"{_json_path(error.absolute_path)}: {error.message}"


def _json_path(path: Any) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.lstrip(".") or "(root)"


def _validator(schema: dict[str, Any], k8s_version: str) -> _Validator:
    definitions = _definitions(k8s_version)
    registry = Registry().with_resource(_DEFINITIONS_URI, Resource.from_contents(definitions))
    base = schema.get("$id", "")
    documents = {_DEFINITIONS_URI: definitions, **({base: schema} if base else {})}
    try:
        accepts = _Compiler(documents).compile(schema, base)
    except _Unsupported:
        accepts = None
    return _Validator(Draft202012Validator(schema, registry=registry), accepts)


@functools.cache
def _schema_dir(k8s_version: str) -> Path:
    from importlib import resources

    if not re.fullmatch(r"1\.\d+", k8s_version):
        raise ValueError(f"Kubernetes version must be major.minor like '1.33', got {k8s_version!r}")
    directory = Path(str(resources.files("kubernetes_validate"))) / "kubernetes-json-schema"
    strict = directory / f"v{k8s_version}.0-local-strict"
    if not strict.is_dir():
        known = sorted(p.name for p in directory.glob("v*-local-strict"))
        raise ValueError(f"kubernetes-validate has no strict schemas for {k8s_version}; it has {known}")
    return strict


@functools.cache
def _definitions(k8s_version: str) -> dict[str, Any]:
    return json.loads((_schema_dir(k8s_version) / "_definitions.json").read_text())


@functools.cache
def _core_validator(k8s_version: str, api_version: str, kind: str) -> _Validator | None:
    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 → rbac-v1, v1 → v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(k8s_version) / f"{kind.lower()}-{group_version}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    group, _, version = api_version.rpartition("/")
    if {"group": group, "version": version, "kind": kind} not in schema.get("x-kubernetes-group-version-kind", []):
        return None  # the file name keeps only the group's first label: a foreign group can collide with it
    return _validator(schema, k8s_version)


@functools.cache
def _crd_validator(crd_dir: Path, k8s_version: str, api_version: str, kind: str) -> tuple[_Validator, bool]:
    """The validator for one CRD version, and whether the kind is cluster-scoped."""
    path = crd_dir / CRD_FILES[(api_version, kind)]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    version = api_version.rsplit("/", 1)[1]
    (entry,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = strictify(copy.deepcopy(entry["schema"]["openAPIV3Schema"]))
    schema.setdefault("properties", {})["metadata"] = {"$ref": _OBJECT_META_REF}
    return _validator(schema, k8s_version), crd["spec"]["scope"] == "Cluster"


# --- the compiled predicate ---------------------------------------------------------------------------------------

Check = Callable[[Any], bool]

# Keywords that assert something and are not compiled: a schema using one is left to jsonschema entirely.
_UNSUPPORTED = frozenset({
    "const", "contains", "minContains", "maxContains", "dependentRequired", "dependentSchemas", "dependencies",
    "if", "then", "else", "prefixItems", "propertyNames", "unevaluatedItems", "unevaluatedProperties",
    "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$anchor", "multipleOf", "uniqueItems", "additionalItems",
})
_JSON_TYPES = {"null": (type(None),), "boolean": (bool,), "string": (str,), "object": (dict,), "array": (list,),
               "integer": (int,), "number": (int, float)}  # exact types: bool is not an int here


class _Unsupported(Exception):
    """The schema needs something the compiler does not do; jsonschema checks it alone."""


class _Compiler:
    """JSON schema (Draft 2020-12, the subset Kubernetes schemas use) → a predicate that is true only for
    instances jsonschema finds valid. Unsure cases answer False (jsonschema then decides) or raise
    :class:`_Unsupported` (jsonschema always decides)."""

    def __init__(self, documents: dict[str, Any]):
        self._documents = documents
        self._refs: dict[str, list[Check | None]] = {}

    def compile(self, schema: Any, base: str) -> Check:
        if schema is True:
            return _accept
        if schema is False:
            return _reject
        if not isinstance(schema, dict) or _UNSUPPORTED & schema.keys():
            raise _Unsupported(str(_UNSUPPORTED & set(schema)) if isinstance(schema, dict) else "schema")
        if "$id" in schema:
            base = urljoin(base, schema["$id"])
        checks = [check for check in (
            self._reference(schema, base), _type(schema), _enum(schema), self._object(schema, base),
            self._array(schema, base), _string(schema), _number(schema), *self._combinators(schema, base),
        ) if check is not None]
        return _all(checks)

    def _reference(self, schema: dict, base: str) -> Check | None:
        if "$ref" not in schema:
            return None
        uri = urljoin(base, schema["$ref"])
        if uri not in self._refs:
            holder: list[Check | None] = [None]
            self._refs[uri] = holder  # before compiling the target: recursive schemas refer back to it
            target, target_base = self._resolve(uri)
            holder[0] = self.compile(target, target_base)
        holder = self._refs[uri]
        return holder[0] if holder[0] is not None else (lambda value: holder[0](value))

    def _resolve(self, uri: str) -> tuple[Any, str]:
        document_uri, fragment = urldefrag(uri)
        if document_uri not in self._documents or (fragment and not fragment.startswith("/")):
            raise _Unsupported(f"$ref {uri}")
        node = self._documents[document_uri]
        for token in fragment.split("/")[1:] if fragment else ():
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or token not in node:
                raise _Unsupported(f"$ref {uri}")
            node = node[token]
        return node, document_uri

    def _object(self, schema: dict, base: str) -> Check | None:
        keywords = {"properties", "additionalProperties", "patternProperties", "required", "minProperties",
                    "maxProperties"}
        if not keywords & schema.keys():
            return None
        properties = {name: self.compile(sub, base) for name, sub in (schema.get("properties") or {}).items()}
        patterns = [(re.compile(pattern), self.compile(sub, base))
                    for pattern, sub in (schema.get("patternProperties") or {}).items()]
        additional = schema.get("additionalProperties", True)
        other = None if additional is True else (_reject if additional is False else self.compile(additional, base))
        required = tuple(schema.get("required") or ())
        least, most = schema.get("minProperties", 0), schema.get("maxProperties")

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for name in required:
                if name not in value:
                    return False
            if not least <= len(value) or (most is not None and len(value) > most):
                return False
            for name, item in value.items():
                known = properties.get(name)
                if known is not None:
                    if not known(item):
                        return False
                    if not patterns:
                        continue
                matched = False
                for pattern, sub in patterns:
                    if type(name) is str and pattern.search(name):
                        matched = True
                        if not sub(item):
                            return False
                if known is None and not matched and other is not None and not other(item):
                    return False
            return True

        return check

    def _array(self, schema: dict, base: str) -> Check | None:
        if not {"items", "minItems", "maxItems"} & schema.keys():
            return None
        items = self.compile(schema["items"], base) if "items" in schema else _accept
        least, most = schema.get("minItems", 0), schema.get("maxItems")

        def check(value: Any) -> bool:
            if type(value) is not list:
                return True
            if len(value) < least or (most is not None and len(value) > most):
                return False
            for item in value:
                if not items(item):
                    return False
            return True

        return check

    def _combinators(self, schema: dict, base: str) -> list[Check]:
        checks = []
        if "allOf" in schema:
            checks.append(_all([self.compile(sub, base) for sub in schema["allOf"]]))
        if "anyOf" in schema:
            options = [self.compile(sub, base) for sub in schema["anyOf"]]
            checks.append(lambda value: any(option(value) for option in options))
        if "oneOf" in schema:
            choices = [self.compile(sub, base) for sub in schema["oneOf"]]
            checks.append(lambda value: sum(1 for choice in choices if choice(value)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"], base)
            checks.append(lambda value: not negated(value))
        return checks


def _accept(value: Any) -> bool:
    return True


def _reject(value: Any) -> bool:
    return False


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _accept
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for one in checks:
            if not one(value):
                return False
        return True

    return check


def _type(schema: dict) -> Check | None:
    if "type" not in schema:
        return None
    names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
    if any(name not in _JSON_TYPES for name in names):
        raise _Unsupported(f"type {names}")
    allowed = frozenset(python for name in names for python in _JSON_TYPES[name])
    return lambda value: type(value) in allowed  # a float holding an integer: jsonschema decides


def _enum(schema: dict) -> Check | None:
    if "enum" not in schema:
        return None
    values = schema["enum"]
    if not all(value is None or type(value) is str for value in values):
        raise _Unsupported("enum of non-strings")  # jsonschema's equality of numbers and booleans is subtle
    strings, nullable = frozenset(v for v in values if v is not None), None in values
    return lambda value: (value is None and nullable) or (type(value) is str and value in strings)


def _string(schema: dict) -> Check | None:
    if not {"minLength", "maxLength", "pattern"} & schema.keys():
        return None
    least, most = schema.get("minLength", 0), schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None

    def check(value: Any) -> bool:
        if type(value) is not str:
            return True
        return (len(value) >= least and (most is None or len(value) <= most)
                and (pattern is None or pattern.search(value) is not None))

    return check


def _number(schema: dict) -> Check | None:
    bounds = [(keyword, schema[keyword]) for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
              if keyword in schema]
    if not bounds:
        return None
    compare = {"minimum": lambda v, b: v >= b, "maximum": lambda v, b: v <= b,
               "exclusiveMinimum": lambda v, b: v > b, "exclusiveMaximum": lambda v, b: v < b}

    def check(value: Any) -> bool:
        if type(value) not in (int, float):
            return True
        return all(compare[keyword](value, bound) for keyword, bound in bounds)

    return check
