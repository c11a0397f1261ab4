"""Costs jsii's Python side adds to every cdk8s object, removed without changing what node builds.

Profiling a 1,000-workspace build (bench/PROFILE.md) put two thirds of the emitter's Python time here:

* **typeguard**: every generated constructor checks every argument with ``typeguard.check_type`` when
  ``__debug__`` is on. ``python -O`` skips it, and node checks the same types again when the object is
  created (a wrong type still fails, as a ``RuntimeError`` from node). We skip it the way ``-O`` would, through
  the check jsii resolves once per process.
* **struct serialisation**: to send a struct (``cdk8s.ApiObjectMetadata`` …) jsii reads every one of its
  properties through its getter, and each generated getter evaluates a ``typing.Optional["…"]`` cast, which
  re-parses a forward reference when typing's cache misses (with cdk8s+'s 350 kinds, which the emitter used to
  send as typed structs, every time). The getters only
  return ``self._values.get(name)``; the fast path reads that directly. It also leaves the properties that were
  never set out of the request instead of sending each as ``null`` (a Container has 23 properties and sets about
  five): node treats a missing optional property and a null one alike, and it checks the type of every value it
  is sent, so the request shrinks and node's work with it.
* **request serialisation**: every request to node goes through cattrs' generic ``unstructure``, which
  dispatches on the class of each of the thousands of dicts, lists and strings a pod spec becomes. Plain
  dicts, lists and scalars are copied directly; anything else still goes to cattrs.

They reach into jsii's private internals, so they are installed only on the jsii version they were verified against
(:data:`VERIFIED_JSII`, pinned in pyproject.toml), and only when the fast serialisation gives the original's result,
less the unset properties, on a sample of nested structs. Anything unexpected (another version, a missing attribute,
any error while installing) leaves jsii untouched and prints one warning: a slower build, never a failed one. Set
``KAITO_COMPILE_JSII_SPEEDUPS=0`` to run with jsii as it ships (for example to get typeguard's messages);
tests/emit/test_jsii_speedups.py checks both ways write the same bytes.
"""

from __future__ import annotations

import enum
import functools
import os
import sys
from typing import Any

DISABLE_ENV = "KAITO_COMPILE_JSII_SPEEDUPS"
VERIFIED_JSII = "1.142.0"


@functools.cache
def install() -> bool:
    """Install the speedups in this process (once); whether they are active."""
    if os.environ.get(DISABLE_ENV) == "0":
        return False
    try:
        reason = _install()
    except Exception as exc:  # noqa: BLE001 - jsii's internals changed: run without the speedups
        reason = f"{type(exc).__name__}: {exc}"
    if reason is not None:
        sys.stderr.write(f"kaito-compile: warning: jsii speedups are off ({reason}); the build is slower but "
                         f"unchanged. Set {DISABLE_ENV}=0 to silence this.\n")
    return reason is None


def _install() -> str | None:
    """Patch jsii; why not, when it cannot be done safely."""
    import jsii
    import jsii._kernel as jsii_kernel
    import jsii._type_checking as jsii_type_checking
    from jsii._runtime import python_jsii_mapping

    if jsii.__version__ != VERIFIED_JSII:
        return f"verified with jsii {VERIFIED_JSII}, found {jsii.__version__}"
    if not hasattr(jsii_type_checking, "_resolved_check"):
        return "jsii._type_checking._resolved_check is missing"
    previous_check = jsii_type_checking._resolved_check
    jsii_type_checking._resolved_check = _no_type_check  # the samples are built without importing typeguard (0.1 s)
    try:
        reason = _install_serialisation(jsii_kernel, python_jsii_mapping)
    except BaseException:
        jsii_type_checking._resolved_check = previous_check
        raise
    if reason is not None:
        jsii_type_checking._resolved_check = previous_check
    return reason


def _install_serialisation(jsii_kernel, python_jsii_mapping) -> str | None:
    """Install the fast struct and request serialisation once each gives the original's result on a sample."""
    original = jsii_kernel._make_reference_for_native
    fast = _fast_make_reference(original, python_jsii_mapping)
    if not _same_serialisation(original, fast):
        return "the fast struct serialisation differs from jsii's on the sample"
    from jsii._runtime import kernel

    serializer = kernel.provider._process._serializer
    plain = _fast_unstructure(serializer)
    sample = fast(None, _sample())
    if plain(sample) != serializer.unstructure(sample):
        return "the fast request serialisation differs from cattrs' on the sample"
    jsii_kernel._make_reference_for_native = fast
    serializer.register_unstructure_hook(dict, plain)
    serializer.register_unstructure_hook(list, plain)
    return None


def _fast_unstructure(serializer):
    """cattrs' ``unstructure`` for the plain data jsii sends, without a dispatch per value."""
    dispatch = serializer._unstructure_func.dispatch
    mapping, sequence = serializer._unstructure_mapping, serializer._unstructure_seq

    def plain(value: Any) -> Any:
        kind = value.__class__
        if kind is str or kind is int or kind is float or kind is bool or value is None:
            return value
        if kind is dict:
            return {plain(key): plain(item) for key, item in value.items()}
        if kind is list:
            return [plain(item) for item in value]
        if isinstance(value, dict):  # subclasses: as cattrs would, not through this hook again
            return mapping(value)
        if isinstance(value, list):
            return sequence(value)
        return dispatch(kind)(value)

    return plain


def _no_type_check(**_: Any) -> None:
    return None


def _fast_make_reference(original, python_jsii_mapping):
    """jsii's ``_make_reference_for_native`` with struct properties read from ``_values``, not their getters."""

    def make_reference(kernel: Any, value: Any) -> Any:
        if isinstance(value, dict):
            return {"$jsii.map": {key: make_reference(kernel, item) for key, item in value.items()}}
        if isinstance(value, list):
            return [make_reference(kernel, item) for item in value]
        values = getattr(value, "_values", None)
        fqn = getattr(value, "__jsii_type__", None)
        if type(values) is dict and fqn is not None and not isinstance(value, enum.Enum):
            mapping = python_jsii_mapping(value)
            if mapping is not None:
                data = {jsii_name: make_reference(kernel, values[python_name])
                        for python_name, jsii_name in mapping.items() if values.get(python_name) is not None}
                return {"$jsii.struct": {"fqn": fqn, "data": data}}
        return original(kernel, value)

    return make_reference


def _same_serialisation(original, fast) -> bool:
    """Whether ``fast`` gives ``original``'s result on a sample, but for the unset struct properties it leaves out."""
    sample = _sample()
    try:
        return fast(None, sample) == _without_unset(original(None, sample))
    except Exception:  # noqa: BLE001 - any difference in behaviour means: keep jsii as it is
        return False


def _without_unset(reference: Any) -> Any:
    """A serialised value with the struct properties whose value is None left out."""
    if isinstance(reference, list):
        return [_without_unset(item) for item in reference]
    if not isinstance(reference, dict):
        return reference
    if set(reference) == {"$jsii.struct"}:
        struct = reference["$jsii.struct"]
        return {"$jsii.struct": {"fqn": struct["fqn"], "data": {
            name: _without_unset(value) for name, value in struct["data"].items() if value is not None}}}
    return {key: _without_unset(value) for key, value in reference.items()}


def _sample() -> list:
    """Nested structs, maps, lists and a jsii object, as the emitter sends them."""
    import cdk8s

    metadata = cdk8s.ApiObjectMetadata(
        name="n", labels={"k": "v"}, finalizers=["f"],
        owner_references=[cdk8s.OwnerReference(api_version="v1", kind="K", name="o", uid="u", controller=False)])
    props = cdk8s.ApiObjectProps(api_version="v1", kind="K", metadata=metadata)
    return [props, {"k": props}, cdk8s.Size.mebibytes(1), 1.5, True, None]
