"""Issue 19, texts: evidence with labels, spacing in "Your history", imported questions' criteria,
counts with thousands separators, times as ``<time>`` for the viewer's local time."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.test import Client

from markets.models import AuditRecord, BenchmarkResult
from markets.resolution.audit import audit_record
from tests.web.conftest import login
from web.evidence import evidence_items
from web.templatetags.takeoff import count, when

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    """The visible text of some HTML, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_evidence_is_shown_with_labels_not_dictionary_keys(site):
    result = BenchmarkResult.objects.filter(benchmark=site.milestone_q.benchmark).first()
    audit_record(
        question=site.milestone_q,
        action=AuditRecord.Action.PROPOSED,
        label="milestone rule",
        evidence={
            "benchmark": site.milestone_q.benchmark.slug,
            "grace_days": 30,
            "result_id": result.pk,
            "achieved_on": "2024-12-05",
            "source_url": "",
            "entered_by": None,
            "key": "flagged-result:1",
            "finalizes_at": "2026-12-01T20:12:29.085622+00:00",
        },
    )
    html = Client().get(site.milestone_q.get_absolute_url()).content.decode()
    audit = html[html.index('id="audit-heading"') :]
    text = _text(audit)
    for raw in ("Gracedays", "Resultid", "Sourceurl", "Enteredby", "Finalizesat", "Achievedon"):
        assert raw not in html
    assert "Grace period 30 days" in text
    assert f"Result result #{result.pk}" in text
    assert "Achieved on 5 Dec 2024" in text
    assert "Finalizes at 1 Dec 2026, 20:12 UTC" in text
    # Empty values and the internal dedup key are left out.
    assert "Source" not in text and "Entered by" not in text and "flagged-result" not in text
    # The result links to its row on the benchmark page, which carries that anchor.
    bench_url = site.milestone_q.benchmark.get_absolute_url()
    assert f'href="{bench_url}#result-{result.pk}"' in audit
    assert f'id="result-{result.pk}"' in Client().get(bench_url).content.decode()
    assert '<time datetime="2026-12-01T20:12:29.085622Z"' in audit


def test_evidence_items_labels_unknown_keys_and_survives_bad_values():
    items = evidence_items(
        {
            "previous_outcome": "no",
            "previous_version": 1,
            "new_thing": "x",
            "finalizes_at": "not a time",
            "entered_by": 7,
            "snapshot_sha256": "ab" * 32,
        }
    )
    shown = {i.label: _text(i.html) for i in items}
    assert shown["Previous outcome"] == "No"
    assert shown["Previous version"] == "1"
    assert shown["New thing"] == "x"
    assert shown["Finalizes at"] == "not a time"
    assert shown["Entered by"] == "staff"
    assert shown["Snapshot SHA-256"] == "abababababababab…"
    assert evidence_items(None) == []


def test_history_separates_the_value_from_its_time(site):
    from forecasts.services import forecast_withdraw, forecaster_for_user

    forecast_withdraw(question_id=site.open_q.pk, forecaster=forecaster_for_user(site.alice))
    html = login(site.alice).get(site.open_q.get_absolute_url()).content.decode()
    start = html.index('id="q-history"')
    history = html[start : html.index("</section>", start)]
    items = [_text(li) for li in re.findall(r"<li>(.*?)</li>", history, re.S)]
    assert re.fullmatch(r"Withdrawn on \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", items[0]), items[0]
    assert re.fullmatch(r"30% on \d{1,2} \w{3} \d{4}, \d\d:\d\d UTC", items[1]), items[1]


def _imported(question):
    from django.utils import timezone

    from markets.models import Question, Resolution

    now = timezone.now()
    Resolution.objects.create(
        question=question,
        version=1,
        outcome=Resolution.Outcome.NO,
        state=Resolution.State.FINAL,
        source=Resolution.Source.IMPORT,
        reason="Imported from ai-milestones (questions.csv line 2)",
        resolved_at=now,
        finalized_at=now,
    )
    Question.objects.filter(pk=question.pk).update(status=Question.Status.RESOLVED)


def test_imported_question_does_not_claim_staff_resolved_it(site):
    _imported(site.closed_q)
    text = _text(Client().get(site.closed_q.get_absolute_url()).content.decode())
    assert "Resolved by staff." not in text
    assert "imported with its resolution from the AI milestones data" in text
    # Without criteria, a milestone question points at its rule, any other at staff.
    text = _text(Client().get(site.milestone_q.get_absolute_url()).content.decode())
    assert "The milestone rule below decides this question." in text
    text = _text(Client().get(site.open_q.get_absolute_url()).content.decode())
    assert "staff resolve this question by hand" in text


def test_counts_have_thousands_separators():
    assert count(3280) == "3,280"
    assert count(1234567) == "1,234,567"
    assert count(12) == "12"
    assert count(0) == "0"
    assert count(None) == "\u2014"


def test_pages_show_counts_with_separators(site, monkeypatch):
    # The leaderboard's pager and the question list's forecaster counts, at a size that needs
    # a separator.
    from web.views._common import QuestionRow

    monkeypatch.setattr(QuestionRow, "forecasters", property(lambda self: 3280))
    text = _text(Client().get("/").content.decode())
    assert "3,280 forecasters" in text
    assert "3280" not in text


def test_when_renders_utc_text_title_and_iso_instant():
    t = dt.datetime(2026, 11, 29, 20, 19, 5, tzinfo=dt.UTC)
    assert when(t) == (
        '<time datetime="2026-11-29T20:19:05Z" title="29 Nov 2026, 20:19 UTC" '
        'data-local="datetime">29 Nov 2026, 20:19 UTC</time>'
    )
    assert when(t, "date") == (
        '<time datetime="2026-11-29T20:19:05Z" title="29 Nov 2026, 20:19 UTC" '
        'data-local="date">29 Nov 2026</time>'
    )
    # Another zone is shown in UTC.
    plus2 = dt.datetime(2026, 11, 29, 22, 19, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert when(plus2) == when(t)
    assert when(None) == "\u2014"
    with pytest.raises(ValueError):
        when(t, "week")


def test_question_page_times_are_time_elements_for_the_local_time_script(site):
    from markets.models import Resolution

    html = Client().get(site.resolved_q.get_absolute_url()).content.decode()
    final = Resolution.objects.get(question=site.resolved_q)
    iso = final.resolved_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    assert f'<time datetime="{iso}" title="' in html
    # Every time of day shown in the page's text says UTC, inside a <time> the script can
    # rewrite. Charts (SVG titles, descriptions and read-out data) name UTC in their own text.
    text = re.sub(r"<svg.*?</svg>", "", html, flags=re.S)
    assert not re.search(r"\d\d:\d\d UTC(?!</time>|\")", text)
    js = (Path(__file__).parents[2] / "static" / "js" / "takeoff.js").read_text()
    assert 'querySelectorAll("time[data-local][datetime]")' in js
