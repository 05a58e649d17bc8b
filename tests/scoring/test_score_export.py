"""Issue 19: the score export reads one plain query per resolution, computes each label once,
sorts on integer ranks and passes each distinct text cell through ``csv_text`` once. Its bytes
must stay exactly those of the straightforward version (``tests.reference.score_export``),
on data chosen to break a careless rewrite: formula keys, commas, quotes, line breaks and
non-ASCII in question keys and forecaster labels, site users' pseudonyms (per recipient),
scores without a value, the crowd's rows, a re-resolved question (version 2, the other
outcome), an annulled one and a question scored after the export's as-of time."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io

import pytest
from django.utils import timezone

from forecasts.models import Forecaster
from markets.models import Resolution
from markets.resolution.manual import question_resolve
from scoring.exports import (
    build_scores_manifest,
    iter_score_rows,
    render_scores_csv,
    score_export_plan,
)
from scoring.models import Rule, Score, Subject
from scoring.services import question_score
from tests.api.test_csv_cells import contest  # noqa: F401  (the fixture)
from tests.factories import QuestionFactory, UserFactory
from tests.reference.score_export import reference_score_rows, reference_scores_csv

pytestmark = pytest.mark.django_db

HOSTILE_LABELS = ("a,b", 'say "hi"', "line\nbreak", "cr\rlf", "ünïcødé ✓ 予測", "zz", "Zz", "-1")
HOSTILE_KEY = 'naïve "q",\nline two'


def _hostile(tournament) -> list:
    """Add to the imported contest: a re-resolved and an annulled question, imported
    forecasters with hostile keys and site users scored on every final resolution (one score
    without a value), and a question with a hostile key whose scores were computed after the
    as-of time of the first export."""
    questions = {q.key: q for q in tournament.questions.all()}
    # Re-resolved with the other outcome: version 2, rescored (version 1's scores go).
    plain = questions["plain"]
    v2 = question_resolve(question_id=plain.pk, outcome="no", reason="source corrected")
    assert v2.version == 2
    question_score(question_id=plain.pk, resolution_id=v2.pk)
    # Annulled: no scores any more.
    minus = questions["-5"]
    annulled = question_resolve(question_id=minus.pk, outcome="annulled", reason="void")
    question_score(question_id=minus.pk, resolution_id=annulled.pk)
    assert not Score.objects.filter(question=minus).exists()

    late = QuestionFactory(
        tournament=tournament,
        key=HOSTILE_KEY,
        open_time=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        close_time=dt.datetime(2025, 1, 11, tzinfo=dt.UTC),
    )
    question_resolve(question_id=late.pk, outcome="yes", resolved_at=late.close_time)

    users = [UserFactory(), UserFactory()]
    forecasters = [Forecaster.objects.create(user=u) for u in users] + [
        Forecaster.objects.create(source=tournament.slug, key=k) for k in HOSTILE_LABELS
    ]
    finals = Resolution.objects.filter(question__tournament=tournament, state="final")
    finals = finals.exclude(outcome="annulled").order_by("pk")
    minute_ago = timezone.now() - dt.timedelta(minutes=1)
    for i, f in enumerate(forecasters):
        for j, r in enumerate(finals):
            for rule in (Rule.BRIER, Rule.LOG):
                empty = (i + j) % 5 == 0
                Score.objects.create(
                    question_id=r.question_id,
                    resolution=r,
                    subject=Subject.FORECASTER,
                    forecaster=f,
                    rule=rule,
                    score=None if empty else (-1) ** i * (0.1 + i / 7 + j / 3),
                    coverage=0.0 if empty else 1 / (i + 2),
                    computed_at=minute_ago,
                )
    # The hostile-key question has the crowd's rows too; all its scores come a minute later.
    late_final = finals.get(question=late)
    for rule in (Rule.BRIER, Rule.LOG):
        Score.objects.create(
            question=late,
            resolution=late_final,
            subject=Subject.CROWD,
            rule=rule,
            score=0.3,
            coverage=1.0,
            computed_at=minute_ago,
        )
    Score.objects.filter(resolution=late_final).update(
        computed_at=minute_ago + dt.timedelta(seconds=30)
    )
    Score.objects.filter(question__tournament=tournament).exclude(resolution=late_final).update(
        computed_at=minute_ago - dt.timedelta(seconds=30)
    )
    return users


def test_the_export_is_byte_identical_to_the_reference(contest, monkeypatch):  # noqa: F811
    monkeypatch.setattr("scoring.exports.LABEL_BATCH", 3)  # labels read in several queries
    users = _hostile(contest)
    now = timezone.now() - dt.timedelta(seconds=1)
    before_late = now - dt.timedelta(seconds=45)  # the hostile-key question not yet scored
    for as_of in (now, before_late):
        for recipient in (None, users[0].pk):
            new = b"".join(render_scores_csv(contest, recipient, as_of=as_of))
            old = b"".join(reference_scores_csv(contest, recipient, as_of=as_of))
            assert new == old
            assert list(iter_score_rows(contest, recipient, as_of=as_of)) == list(
                reference_score_rows(contest, recipient, as_of=as_of)
            )
            manifest = build_scores_manifest(
                score_export_plan(tournament=contest, as_of=as_of, recipient=recipient)
            )
            assert manifest["output"]["sha256"] == hashlib.sha256(old).hexdigest()
            assert manifest["rows"] == len(list(csv.reader(io.StringIO(old.decode())))) - 1
    # What the comparison covered (so that it cannot pass on an empty file):
    text = b"".join(render_scores_csv(contest, users[0].pk, as_of=now)).decode()
    assert '"naïve ""q"",\nline two",1,yes,crowd,,brier,0.3,1.0\n' in text
    assert ',forecaster,"line\nbreak",' in text and ',forecaster,"a,b",' in text
    assert ',forecaster,"say ""hi""",' in text and ",forecaster,ünïcødé ✓ 予測," in text
    assert ",forecaster,'-1," in text  # neutralised
    assert "plain,2,no,crowd,," in text and "plain,1," not in text
    assert "'-5," not in text  # annulled
    assert ",brier,,0.0\n" in text  # a score without a value
    assert ",f_" in text  # site users' pseudonyms
    assert HOSTILE_KEY not in b"".join(render_scores_csv(contest, as_of=before_late)).decode()
    # Code-point order of the labels: "Zz" before "line..." before "zz" before "ünïcødé".
    order = [line.split(",")[4] for line in text.split("\n") if line.startswith("'+1,")]
    firsts = [order.index(x) for x in ("Zz", "zz", "ünïcødé ✓ 予測")]
    assert firsts == sorted(firsts)


def test_two_forecasters_with_one_label_are_ordered_by_id(contest):  # noqa: F811
    """The same key imported from two sources is one label for two forecasters: their rows
    come by forecaster id, so the bytes do not depend on the order the database returns."""
    final = Resolution.objects.filter(question__tournament=contest, state="final").first()
    twins = [Forecaster.objects.create(source=s, key="twin") for s in ("b-source", "a-source")]
    for value, f in zip((0.9, 0.1), twins, strict=True):
        Score.objects.create(
            question_id=final.question_id,
            resolution=final,
            subject=Subject.FORECASTER,
            forecaster=f,
            rule=Rule.BRIER,
            score=value,
            coverage=1.0,
            computed_at=timezone.now() - dt.timedelta(minutes=1),
        )
    rows = [r for r in iter_score_rows(contest) if r[4] == "twin"]
    assert [r[6] for r in rows] == [0.9, 0.1]  # twins[0] has the smaller id
