"""The score export as the as-of/manifest rebuild first wrote it (issue 19): one ORM query per
final resolution joined to the forecaster, every row's text cells through ``csv_text``, the
sort on label strings. Plainly correct and slow: the reference that ``scoring.exports`` must
match byte for byte (tests/scoring/test_score_export.py), and the naive baseline of
bench/bench_pages.py. Used only by tests and benchmarks; the product never runs it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from forecasts.exports import FETCH_ROWS, csv_number, csv_text, snapshot
from forecasts.pseudonyms import PseudonymCache
from markets.models import Tournament
from scoring.exports import (
    SCORE_COLUMNS,
    ScoredResolution,
    ScoreRow,
    score_export_plan,
    scored_resolutions,
)
from scoring.models import Score, Subject


def reference_score_rows(
    tournament: Tournament,
    recipient: int | None = None,
    *,
    as_of: dt.datetime | None = None,
    resolutions: list[ScoredResolution] | None = None,
) -> Iterator[ScoreRow]:
    """Scores of the final resolutions as of ``as_of``: forecasters (pseudonyms, keyed for
    ``recipient`` when given) and the crowd, as (question key, resolution version, outcome,
    subject, forecaster label, rule, score, coverage), ordered by question key, then subject,
    forecaster label and rule (code-point order)."""
    if resolutions is None:
        resolutions = scored_resolutions(score_export_plan(tournament=tournament, as_of=as_of))
    names = PseudonymCache(recipient)
    for res in resolutions:
        rows = []
        scores = Score.objects.filter(
            resolution_id=res.resolution_id,
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
            rows.append(
                (res.question, res.version, res.outcome, subject, who, rule, score, float(coverage))
            )
        rows.sort(key=lambda r: (r[3], r[4], r[5]))
        yield from rows


def reference_scores_csv(
    tournament: Tournament, recipient: int | None = None, *, as_of: dt.datetime | None = None
) -> Iterator[bytes]:
    """The score export's bytes: header ``SCORE_COLUMNS``, then ``reference_score_rows``,
    ``\\n`` line endings; text cells by ``csv_text``, numbers by ``csv_number``."""
    export = score_export_plan(tournament=tournament, as_of=as_of, recipient=recipient)
    yield (",".join(SCORE_COLUMNS) + "\n").encode()
    lines: list[str] = []
    with snapshot():
        resolutions = scored_resolutions(export)
        rows = reference_score_rows(tournament, recipient, resolutions=resolutions)
        for key, version, outcome, subject, who, rule, score, coverage in rows:
            text = ",".join(csv_text(v) for v in (key, str(version), outcome, subject, who, rule))
            lines.append(f"{text},{csv_number(score)},{csv_number(coverage)}\n")
            if len(lines) >= FETCH_ROWS:
                yield "".join(lines).encode()
                lines.clear()
    if lines:
        yield "".join(lines).encode()
