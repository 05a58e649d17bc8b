"""Audit evidence for people: the evidence dict of an ``AuditRecord`` as labelled rows.

The resolution workflow writes evidence as JSON with machine keys (``grace_days``,
``result_id``, ``finalizes_at``…; ``markets.resolution.milestones.evidence_for`` and
``markets.resolution.manual``). The question page shows each known key with a human label and
a formatted value (links for results, benchmarks and sources; ``<time>`` for instants), skips
empty values and internal keys, and labels an unknown key from its name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from markets.models import Comparator, Resolution
from web.templatetags.takeoff import val, when

Formatter = Callable[[Any, Mapping[str, Any]], SafeString]

# Keys that only the machinery reads (``key`` deduplicates review flags).
INTERNAL = frozenset({"key"})


@dataclass(frozen=True)
class EvidenceItem:
    """One labelled line of evidence: ``html`` is safe, ready for a template."""

    key: str
    label: str
    html: SafeString


def _benchmark_url(evidence: Mapping[str, Any], anchor: str = "") -> str | None:
    slug = evidence.get("benchmark")
    if not isinstance(slug, str) or not slug:
        return None
    try:
        return reverse("benchmark-detail", args=[slug]) + anchor
    except NoReverseMatch:
        return None


def _result(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    url = _benchmark_url(evidence, f"#result-{value}")
    text = f"result #{value}"
    return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)


def _instant(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return format_html("{}", value)
    return SafeString(when(parsed))


def _day(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return format_html("{}", value)
    return format_html("{}", f"{day.day} {day:%b %Y}")


def _link(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    text = str(value)
    short = text if len(text) <= 60 else text[:59] + "…"
    if text.startswith(("https://", "http://")):
        return format_html('<a href="{}" rel="noopener nofollow">{}</a>', text, short)
    return format_html("{}", short)


def _sha(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    text = str(value)
    return format_html('<code title="{}">{}…</code>', text, text[:16])


def _choice(choices: type) -> Formatter:
    def show(value: Any, evidence: Mapping[str, Any]) -> SafeString:
        try:
            return format_html("{}", choices(value).label)
        except ValueError:
            return format_html("{}", value)

    return show


def _days(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    return format_html("{} day{}", value, "" if value == 1 else "s")


def _plain(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    if isinstance(value, float):
        return format_html("{}", val(value))
    return format_html("{}", value)


def _benchmark(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    url = _benchmark_url(evidence)
    return format_html('<a href="{}">{}</a>', url, value) if url else format_html("{}", value)


def _number(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    return format_html("#{}", value)


def _staff(value: Any, evidence: Mapping[str, Any]) -> SafeString:
    # The id of the staff account; the pages name who entered a result only as "staff".
    return SafeString("staff")


# key → (label, formatter of (value, the whole evidence)).
FIELDS: dict[str, tuple[str, Formatter]] = {
    "benchmark": ("Benchmark", _benchmark),
    "comparator": ("Comparator", _choice(Comparator)),
    "threshold": ("Threshold", _plain),
    "deadline": ("Deadline", _day),
    "grace_days": ("Grace period", _days),
    "result_id": ("Result", _result),
    "system": ("System", _plain),
    "value": ("Value", _plain),
    "achieved_on": ("Achieved on", _day),
    "first_seen": ("First seen", _instant),
    "source_url": ("Source", _link),
    "snapshot_id": ("Feed snapshot", _number),
    "snapshot_sha256": ("Snapshot SHA-256", _sha),
    "entered_by": ("Entered by", _staff),
    "current_result_id": ("Current version", _result),
    "revised_to": ("Revised to", _result),
    "revised_value": ("Revised value", _plain),
    "finalizes_at": ("Finalizes at", _instant),
    "flag": ("Feed flag", _plain),
    "trigger": ("Trigger", _plain),
    "previous_version": ("Previous version", _plain),
    "previous_outcome": ("Previous outcome", _choice(Resolution.Outcome)),
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def evidence_items(evidence: Mapping[str, Any] | None) -> list[EvidenceItem]:
    """The evidence dict of an audit record as labelled lines, in the dict's order.

    Empty values (None, "", empty list or dict) and internal keys are left out; an unknown key
    is labelled from its name ("some_key" → "Some key") with its value as text. Never raises
    on odd values: a value the formatter cannot read (a malformed date) is shown as text.
    """
    items: list[EvidenceItem] = []
    for key, value in (evidence or {}).items():
        if key in INTERNAL or _empty(value):
            continue
        label, show = FIELDS.get(key, (key.replace("_", " ").capitalize(), _plain))
        try:
            html = show(value, evidence or {})
        except (TypeError, ValueError):
            html = format_html("{}", value)
        items.append(EvidenceItem(key=key, label=label, html=html))
    return items
