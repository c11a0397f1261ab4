"""Adapter rules (Kaito's per-adapter update rules, which kaito-compile also runs on create).

Kaito skips these on CREATE (a TODO in its webhook) and dereferences a missing ``source`` in the
duplicate-name check; the compiler always applies them (kaito-api.md §1.7.4).
"""

from __future__ import annotations

from .datasource import image_problem, url_problem
from .k8snames import dns1123_label_errors, dns1123_subdomain_errors
from .registry import RuleContext, define, group

I15 = define("I15", "inference", "too many adapters",
             "webhook: 'Number of Adapters exceeds the maximum limit, maximum of 10 allowed'")
I16 = define("I16", "inference", "duplicate adapter name", "webhook: 'Duplicate adapter source name found: %s'")
A1 = define("A1", "adapters", "adapter source missing", "webhook (update): missing field Source")
A2 = define("A2", "adapters", "adapter name missing",
            "webhook (update): 'Name of Adapter field must be specified'")
A3 = define("A3", "adapters", "adapter name not a DNS-1123 subdomain", "webhook (update): name must be a "
            "DNS-1123 subdomain")
A4 = define("A4", "adapters", "adapter needs an image or a volume",
            "webhook (update): 'Either Image or Volume must be specified for adapter source'")
A5 = define("A5", "adapters", "URLs are not adapter sources", "webhook (update): 'URLs are not supported as adapter "
            "source'")
A6 = define("A6", "adapters", "adapter image reference invalid",
            "webhook (update): DataSource rules: 'Unable to parse input image reference: …'")
A7 = define("A7", "adapters", "adapter strength not a number",
            "webhook (update): \"Invalid strength value for Adapter '%s'\"")
A8 = define("A8", "adapters", "adapter strength outside [0, 1]",
            "webhook (update): \"Strength value for Adapter '%s' must be between 0 and 1\"")
A9 = define("A9", "adapters", "adapter name too long or dotted for the volume names derived from it",
            "not checked by Kaito (§1.7.5): adapter-volume-<name> and docker-config-<name>-inference-adapter must "
            "be DNS-1123 labels, so the API server would refuse the workload")
A10 = define("A10", "adapters", "invalid pull secret name",
             "not checked by Kaito: imagePullSecrets must name Secrets (DNS-1123 subdomains), else the pod cannot "
             "pull")

MAX_ADAPTERS = 10
VOLUME_PREFIX = "adapter-volume-"
SECRET_VOLUME = "docker-config-{}-inference-adapter"


def _adapters(ctx: RuleContext):
    inference = ctx.spec.inference
    return list(inference.adapters or []) if inference else []


@group("adapters", applies=lambda ctx: bool(_adapters(ctx)))
def check_adapter_count(ctx: RuleContext) -> None:
    adapters = _adapters(ctx)
    if len(adapters) > MAX_ADAPTERS:
        ctx.error(I15, ("inference", "adapters", MAX_ADAPTERS),
                  f"Number of Adapters exceeds the maximum limit, maximum of {MAX_ADAPTERS} allowed "
                  f"(found {len(adapters)})")


@group("adapters")
def check_adapter_names_unique(ctx: RuleContext) -> None:
    seen: set[str] = set()
    for i, adapter in enumerate(_adapters(ctx)):
        name = adapter.source.name if adapter.source else None
        if not name:
            continue
        if name in seen:
            ctx.error(I16, ("inference", "adapters", i, "source", "name"),
                      f"Duplicate adapter source name found: {name}")
        seen.add(name)


@group("adapters")
def check_each_adapter(ctx: RuleContext) -> None:
    for i, adapter in enumerate(_adapters(ctx)):
        _check_adapter(ctx, i, adapter)


def _check_adapter(ctx: RuleContext, i: int, adapter) -> None:
    base = ("inference", "adapters", i)
    source = adapter.source
    if source is None:
        ctx.error(A1, base, "missing field(s): source", hints=("give the adapter a source with a name and an "
                                                             "image or volumeSource",))
        return
    _check_adapter_name(ctx, (*base, "source"), source.name)
    if source.urls:
        ctx.error(A5, (*base, "source", "urls"), "URLs are not supported as adapter source")
        for j, url in enumerate(source.urls):
            problem = url_problem(url)
            if problem:
                ctx.error(A5, (*base, "source", "urls", j), problem)
    if not source.image and not source.volumeSource:
        ctx.error(A4, (*base, "source"), "Either Image or Volume must be specified for adapter source", key=True)
    if source.image:
        problem = image_problem(source.image)
        if problem:
            ctx.error(A6, (*base, "source", "image"), f"Unable to parse input image reference: {problem}")
    for j, secret in enumerate(source.imagePullSecrets or []):
        if dns1123_subdomain_errors(secret):
            ctx.error(A10, (*base, "source", "imagePullSecrets", j),
                      f"invalid pull secret name {secret!r}: Secret names are lowercase DNS-1123 subdomains")
    _check_strength(ctx, base, source.name or str(i), adapter.strength)


def _check_adapter_name(ctx: RuleContext, path: tuple, name: str | None) -> None:
    if not name:
        ctx.error(A2, path, "Name of Adapter field must be specified", key=True)
        return
    errors = dns1123_subdomain_errors(name)
    if errors:
        ctx.error(A3, (*path, "name"), f"invalid adapter name {name!r}: {'; '.join(errors)}")
        return
    longest = max(VOLUME_PREFIX + name, SECRET_VOLUME.format(name), key=len)
    if dns1123_label_errors(VOLUME_PREFIX + name) or dns1123_label_errors(SECRET_VOLUME.format(name)):
        ctx.error(A9, (*path, "name"), f"adapter name {name!r} cannot name its volumes: {longest!r} must be a "
                  "DNS-1123 label (no dots, at most 63 characters)",
                  hints=(f"use at most {63 - len(SECRET_VOLUME.format(''))} characters without dots",))


def _check_strength(ctx: RuleContext, base: tuple, name: str, strength: str | None) -> None:
    if strength is None:
        return
    try:
        value = float(strength)
    except ValueError:
        ctx.error(A7, (*base, "strength"), f"Invalid strength value for Adapter '{name}': {strength!r} is not a "
                  "number")
        return
    if not 0 <= value <= 1:
        ctx.error(A8, (*base, "strength"), f"Strength value for Adapter '{name}' must be between 0 and 1")
