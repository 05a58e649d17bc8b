"""Issue 19: the score export's rows come from one plain query per question, labels computed
once and sorted by integer rank; the bytes must stay exactly those of the first version
(``tests.reference.score_export``)."""

from __future__ import annotations

import pytest

from forecasts.models import Forecaster
from markets.models import Resolution
from scoring.exports import iter_score_rows, render_scores_csv
from scoring.models import Rule, Score, Subject
from tests.api.test_csv_cells import contest  # noqa: F401  (the fixture)
from tests.factories import UserFactory
from tests.reference.score_export import reference_score_rows, reference_scores_csv


def _site_forecasters(tournament) -> None:
    """Two site users' scores beside the imported ones (pseudonyms, keyed per recipient), one
    without a value, and a score of a withdrawn (non-final) version that must not appear."""
    finals = list(Resolution.objects.filter(question__tournament=tournament, state="final"))
    users = [UserFactory(), UserFactory()]
    for user in users:
        f = Forecaster.objects.create(user=user, source="", key="")
        for i, r in enumerate(finals):
            Score.objects.create(
                question_id=r.question_id,
                resolution=r,
                subject=Subject.FORECASTER,
                forecaster=f,
                rule=Rule.BRIER,
                score=None if i == 0 else 0.25 + 0.01 * i,
                coverage=0.0 if i == 0 else 0.75,
            )
    return users


def _bytes(chunks) -> bytes:
    return b"".join(chunks)


@pytest.mark.django_db
def test_the_export_is_byte_identical_to_the_first_version(contest):  # noqa: F811
    users = _site_forecasters(contest)
    for recipient in (None, users[0].pk):
        new = _bytes(render_scores_csv(contest, recipient=recipient))
        old = _bytes(reference_scores_csv(contest, recipient=recipient))
        assert new == old
        assert list(iter_score_rows(contest, recipient)) == list(
            reference_score_rows(contest, recipient)
        )
    lines = new.decode().splitlines()
    assert (
        len(lines)
        == 1
        + Score.objects.filter(
            subject__in=[Subject.FORECASTER, Subject.CROWD], resolution__state="final"
        ).count()
    )
    assert any(",brier,," in line for line in lines), "a score without a value is empty"
    # Imported keys with formula characters are neutralised; pseudonyms are there.
    assert any(",'=cmd|" in line or ",\"'=cmd|" in line for line in lines)
    assert any(",f_" in line for line in lines)
