"""Number formatting for the site's templates: probabilities, scores, signed values."""

from __future__ import annotations

import math

from django import template

register = template.Library()

DASH = "\u2014"
MINUS = "\u2212"  # the typographic minus sign, wider than a hyphen


def _ok(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@register.filter
def pct(p: object, decimals: int = 1) -> str:
    """0.723 → "72.3%", 0.72 → "72%", 0.001 → "0.1%"; None → "—"."""
    if not _ok(p):
        return DASH
    v = float(p)  # type: ignore[arg-type]
    d = int(decimals)
    text = f"{v * 100:.{d}f}"
    step = f"{10**-d:.{d}f}"
    if 0 < v < 1 and float(text) == 0:
        return f"<{step}%"  # a sliver of coverage is not none
    if 0 < v < 1 and float(text) == 100:
        return f">{100 - 10**-d:.{d}f}%"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


@register.filter
def num(value: object, decimals: int = 3) -> str:
    if not _ok(value):
        return DASH
    return f"{float(value):.{int(decimals)}f}".replace("-", MINUS)  # type: ignore[arg-type]


@register.filter
def signed(value: object, decimals: int = 1) -> str:
    if not _ok(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    text = f"{abs(v):.{int(decimals)}f}"
    if float(text) == 0:
        return text
    return ("+" if v > 0 else MINUS) + text


@register.filter
def tone(value: object) -> str:
    """CSS class for a signed score: good, bad or neutral."""
    # Judged at the one decimal the pages show, so "0.0" is never coloured.
    v = round(float(value), 1) if _ok(value) else 0.0  # type: ignore[arg-type]
    if v == 0:
        return "neutral"
    return "good" if v > 0 else "bad"


@register.filter
def width_pct(p: object) -> str:
    """A probability as a CSS width, e.g. for a bar: 0.72 → "72.0%"."""
    if not _ok(p):
        return "0%"
    return f"{max(0.0, min(1.0, float(p))) * 100:.1f}%"  # type: ignore[arg-type]


@register.filter
def val(value: object) -> str:
    """A benchmark value without noise: 718.8, 0.6, 6,000, 77.78."""
    if not _ok(value):
        return DASH
    v = float(value)  # type: ignore[arg-type]
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"
