"""Score export (``manage.py export_scores``, ``/api/v1/tournaments/<slug>/scores-export/``):
the scores of the current final resolutions as CSV, forecasters named by their export
pseudonyms, in a deterministic order. Shares the CSV cell rule (``csv_text``: formula
neutralising and quoting of text cells), pseudonyms and snapshot of the crowd export
(``forecasts.exports``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db import connection

from forecasts.exports import FETCH_ROWS, csv_text, snapshot
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

    One plain query per question (``_question_rows``: tuples straight from the cursor, no
    Django row machinery), each forecaster's label computed once, and the sort on integer
    ranks of the labels rather than on the strings: the ACX 2023 replay's 1.2 million rows
    took 21 s of which 9 s CPU (issue 19; docs/performance.md).
    """
    names = PseudonymCache(recipient)
    labels: dict[int | None, str] = {None: ""}
    questions = sorted(
        Question.objects.filter(tournament=tournament).values_list("id", "key"),
        key=lambda item: item[1],
    )
    for qid, key in questions:
        rows = _question_rows(qid)
        for _, fid, source, fkey, _, _, _ in rows:
            if fid is not None and fid not in labels:
                labels[fid] = names(fid, imported_key=fkey, source=source)
        # Rank of each label in code-point order, so that the sort compares small integers.
        rank = {fid: i for i, fid in enumerate(sorted(labels, key=labels.__getitem__))}
        rows.sort(key=lambda r: (r[0], rank[r[1]], r[4]))
        for subject, fid, _, _, rule, score, coverage in rows:
            yield (key, subject, labels[fid], rule, score, float(coverage))


def _question_rows(question_id: int) -> list[tuple[str, int | None, str, str, str, Any, Any]]:
    """(subject, forecaster id, forecaster source, forecaster key, rule, score, coverage) of a
    question's forecasters' and crowd scores under its final resolution, unordered: the ORM's
    SQL run on a plain cursor (floats as the driver reads them, exact on both backends)."""
    scores = Score.objects.filter(
        question_id=question_id,
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
    sql, params = scores.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def render_scores_csv(tournament: Tournament, recipient: int | None = None) -> Iterator[bytes]:
    """The score export's bytes: header ``SCORE_COLUMNS``, then ``iter_score_rows`` (pseudonyms
    for ``recipient``), ``\\n`` line endings; text cells by ``csv_text``, numbers by
    ``csv_number`` (empty: no value). Each distinct text is passed through ``csv_text`` once
    (keys, subjects, labels and rules repeat on every row)."""
    yield (",".join(SCORE_COLUMNS) + "\n").encode()
    cells: dict[str, str] = {}

    def cell(text: str) -> str:
        try:
            return cells[text]
        except KeyError:
            cells[text] = csv_text(text)
            return cells[text]

    lines: list[str] = []
    with snapshot():
        for key, subject, who, rule, score, coverage in iter_score_rows(tournament, recipient):
            lines.append(
                f"{cell(key)},{cell(subject)},{cell(who)},{cell(rule)},"
                f"{'' if score is None else repr(score)},{coverage!r}\n"
            )
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()
