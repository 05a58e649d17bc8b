"""The score export as first written (before issue 19): one ORM query per question joined to
the forecaster, every row's text cells through ``csv_text``, the sort on label strings. Slow
(21 s for the 1.2 million rows of the ACX replay) and plainly correct: the reference that
``scoring.exports`` must match byte for byte, and the naive baseline of bench/bench_pages.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from forecasts.exports import FETCH_ROWS, csv_number, csv_text, snapshot
from forecasts.pseudonyms import PseudonymCache
from markets.models import Question, Resolution, Tournament
from scoring.exports import SCORE_COLUMNS, ScoreRow
from scoring.models import Score, Subject


def reference_score_rows(
    tournament: Tournament, recipient: int | None = None
) -> Iterator[ScoreRow]:
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


def reference_scores_csv(tournament: Tournament, recipient: int | None = None) -> Iterator[bytes]:
    """The score export's bytes: header ``SCORE_COLUMNS``, then ``iter_score_rows`` (pseudonyms
    for ``recipient``), ``\\n`` line endings; text cells by ``csv_text``, numbers by
    ``csv_number`` (empty: no value)."""
    yield (",".join(SCORE_COLUMNS) + "\n").encode()
    lines: list[str] = []
    with snapshot():
        for key, subject, who, rule, score, coverage in reference_score_rows(tournament, recipient):
            text = ",".join(csv_text(v) for v in (key, subject, who, rule))
            lines.append(f"{text},{csv_number(score)},{csv_number(coverage)}\n")
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()
