"""Rules only kaito.sh/v1alpha1 enforces (kaito-api.md §1.6), run before normalising to v1beta1."""

from __future__ import annotations

from .registry import RuleContext, define, group

V1 = define("V1", "v1alpha1", "private access mode needs an image",
            "webhook (v1alpha1): 'When AccessMode is private, an image must be provided in PresetOptions'")

is_alpha = lambda ctx: ctx.ws.alpha is not None  # noqa: E731


@group("v1alpha1", applies=is_alpha)
def check_private_access_mode(ctx: RuleContext) -> None:
    for section in ("inference", "tuning"):
        spec = getattr(ctx.ws.alpha, section)
        preset = spec.preset if spec else None
        if preset and preset.accessMode == "private" and not (preset.presetOptions and preset.presetOptions.image):
            ctx.error(V1, (section, "preset", "accessMode"),
                      "When AccessMode is private, an image must be provided in PresetOptions",
                      hints=("set presetOptions.image, or drop accessMode: private",))
