"""Score export (``manage.py export_scores``, ``/api/v1/tournaments/<slug>/scores-export/``):
the scores of the current final resolutions as CSV, forecasters named by their export
pseudonyms, in a deterministic order. Shares the CSV quoting, pseudonyms and snapshot of the
crowd export (``forecasts.exports``)."""

from __future__ import annotations

from collections.abc import Iterator

from forecasts.exports import FETCH_ROWS, csv_field, snapshot
from forecasts.pseudonyms import PseudonymCache
from markets.models import Question, Resolution, Tournament
from scoring.models import Score, Subject

SCORE_COLUMNS = ("question", "subject", "forecaster", "rule", "score", "coverage")
"""``subject`` is ``forecaster`` or the aggregation method (``crowd``: the log pool); the
``forecaster`` column is empty for the crowd. A separate column, so that a researcher's own
forecaster key (an imported ``crowd``, say) can never be mistaken for the aggregate."""


def iter_score_rows(
    tournament: Tournament, recipient: int | None = None
) -> Iterator[tuple[str, ...]]:
    """Scores of the current final resolutions: forecasters (pseudonyms, keyed for
    ``recipient`` when given; ``forecasts.pseudonyms``) and the crowd.

    Order: question key, then subject, forecaster label and rule, all in code-point order.
    Floats are ``repr``; a score without a value (no coverage) is an empty field.
    """
    names = PseudonymCache(recipient)
    questions = sorted(
        Question.objects.filter(tournament=tournament).values_list("id", "key"),
        key=lambda item: item[1],
    )
    for qid, key in questions:
        rows = []
        scores = Score.objects.filter(
            question_id=qid,
            resolution__state=Resolution.State.FINAL,
            subject__in=[Subject.FORECASTER, Subject.CROWD],
        ).values_list(
            "subject",
            "forecaster_id",
            "forecaster__source",
            "forecaster__key",
            "rule",
            "score",
            "coverage",
        )
        for subject, fid, source, fkey, rule, score, coverage in scores.iterator(
            chunk_size=FETCH_ROWS
        ):
            who = "" if subject == Subject.CROWD else names(fid, imported_key=fkey, source=source)
            value = "" if score is None else repr(score)
            rows.append((key, subject, who, rule, value, repr(float(coverage))))
        rows.sort(key=lambda r: (r[1], r[2], r[3]))
        yield from rows


def render_scores_csv(tournament: Tournament, recipient: int | None = None) -> Iterator[bytes]:
    """The score export's CSV bytes in chunks (header first); pseudonyms for ``recipient``."""
    yield (",".join(SCORE_COLUMNS) + "\n").encode()
    lines: list[str] = []
    with snapshot():
        for row in iter_score_rows(tournament, recipient):
            lines.append(",".join(csv_field(v) for v in row) + "\n")
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()
