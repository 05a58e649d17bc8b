"""Score export (``manage.py export_scores``, ``/api/v1/tournaments/<slug>/scores-export/``):
the scores of the current final resolutions as CSV, forecasters named by their export
pseudonyms, in a deterministic order. Shares the CSV cell rule (``csv_text``: formula
neutralising and quoting of text cells), pseudonyms and snapshot of the crowd export
(``forecasts.exports``)."""

from __future__ import annotations

from collections.abc import Iterator

from forecasts.exports import FETCH_ROWS, csv_number, csv_text, snapshot
from forecasts.pseudonyms import PseudonymCache
from markets.models import Question, Resolution, Tournament
from scoring.models import Score, Subject

SCORE_COLUMNS = ("question", "subject", "forecaster", "rule", "score", "coverage")
"""``subject`` is ``forecaster`` or the aggregation method (``crowd``: the log pool); the
``forecaster`` column is empty for the crowd. A separate column, so that a researcher's own
forecaster key (an imported ``crowd``, say) can never be mistaken for the aggregate."""


ScoreRow = tuple[str, str, str, str, float | None, float]


def iter_score_rows(tournament: Tournament, recipient: int | None = None) -> Iterator[ScoreRow]:
    """Scores of the current final resolutions: forecasters (pseudonyms, keyed for
    ``recipient`` when given; ``forecasts.pseudonyms``) and the crowd, as (question key,
    subject, forecaster label, rule, score, coverage).

    Order: question key, then subject, forecaster label and rule, all in code-point order.
    ``score`` is None for a score without a value (no coverage).
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
            rows.append((key, subject, who, rule, score, float(coverage)))
        rows.sort(key=lambda r: (r[1], r[2], r[3]))
        yield from rows


def render_scores_csv(tournament: Tournament, recipient: int | None = None) -> Iterator[bytes]:
    """The score export's bytes: header ``SCORE_COLUMNS``, then ``iter_score_rows`` (pseudonyms
    for ``recipient``), ``\\n`` line endings; text cells by ``csv_text``, numbers by
    ``csv_number`` (empty: no value)."""
    yield (",".join(SCORE_COLUMNS) + "\n").encode()
    lines: list[str] = []
    with snapshot():
        for key, subject, who, rule, score, coverage in iter_score_rows(tournament, recipient):
            text = ",".join(csv_text(v) for v in (key, subject, who, rule))
            lines.append(f"{text},{csv_number(score)},{csv_number(coverage)}\n")
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()
