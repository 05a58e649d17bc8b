"""Formatting for the site's templates: probabilities, scores, signed values, counts and
times."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import timezone
from django.utils.html import format_html

from markets.models import Resolution
from markets.resolution.typed_rules import outcome_words as typed_outcome_words

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
def points(value: object, decimals: int = 0) -> str:
    """A difference of probabilities in percentage points, signed: 0.25 → "+25 pts",
    −0.031 → "−3 pts"; None → "—"."""
    if not _ok(value):
        return DASH
    return f"{signed(float(value) * 100, decimals)} pts"  # type: ignore[arg-type]


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


# --- times: UTC in the page, the viewer's local time by script ---------------------------------

TIME_FORMATS = {"datetime": "%-d %b %Y, %H:%M", "date": "%-d %b %Y"}


@register.filter(is_safe=True)
def when(value: object, kind: str = "datetime") -> str:
    """An aware datetime as ``<time>``: the UTC text (with "UTC" for a time of day) in the
    element and its ``title``, the ISO instant in ``datetime``. ``static/js/takeoff.js``
    rewrites the text to the viewer's local time and keeps the UTC text as the title (without
    JavaScript the UTC text stays). ``kind`` is "datetime" (default) or "date" (day only).
    None or a non-datetime → "—". Raises ValueError for another ``kind``."""
    if kind not in TIME_FORMATS:
        raise ValueError(f"when: kind must be one of {sorted(TIME_FORMATS)}, not {kind!r}")
    if not isinstance(value, dt.datetime):
        return DASH
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    utc = value.astimezone(dt.UTC)
    text = utc.strftime(TIME_FORMATS[kind])
    full = utc.strftime(TIME_FORMATS["datetime"]) + " UTC"
    if kind == "datetime":
        text += " UTC"
    return format_html(
        '<time datetime="{}" title="{}" data-local="{}">{}</time>',
        utc.isoformat().replace("+00:00", "Z"),
        full,
        kind,
        text,
    )


@register.filter(is_safe=True)
def count(value: object) -> str:
    """A count with thousands separators: 3280 → "3,280"; None → "—". The one number format
    for every count the site shows (``django.contrib.humanize``'s ``intcomma``, which does not
    localize here: ``USE_THOUSAND_SEPARATOR`` is off, so the comma is fixed)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    return intcomma(int(value))


@register.filter
def evidence(value: object) -> list:
    """An audit record's evidence dict as labelled lines (``web.evidence.evidence_items``)."""
    from web.evidence import evidence_items  # web.evidence imports this module's filters

    return evidence_items(value if isinstance(value, dict) else None)


@register.filter
def outcome_words(resolution: Any) -> str:
    """A resolution's outcome in words for staff pages: "yes", "no", "annulled", or for other
    types "option 1 (Anthropic)", "value 42.5", "below the range (under 0)"…
    (``markets.resolution.typed_rules.outcome_words``; reads the question only for those)."""
    Outcome = Resolution.Outcome
    if resolution.outcome in (Outcome.YES, Outcome.NO, Outcome.ANNULLED):
        return str(Outcome(resolution.outcome).label).lower()
    return typed_outcome_words(
        resolution.question, resolution.outcome, resolution.option, resolution.value
    )
