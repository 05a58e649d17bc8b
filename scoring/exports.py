"""Score export (``manage.py export_scores``, ``/api/v1/tournaments/<slug>/scores-export/``):
the scores of the final resolutions as they stood at an as-of time, as CSV, forecasters named by
their export pseudonyms, in a deterministic order, with a manifest that ``verify_export``
replays. Shares the CSV cell rule (``csv_text``: formula neutralising and quoting of text
cells), pseudonyms, snapshot, time format and manifest plumbing of the crowd export
(``forecasts.exports``).

**What an export as of T holds.** For each question of the tournament: the scores of its
current final resolution version, if they were computed at or before T (``Score.computed_at``).
Scores are written once per final version, in one transaction, after the version is final, and
a superseded or withdrawn version's scores are deleted (``scoring.services``); so the rows of a
past as-of time stay the same until a question is re-resolved, un-resolved or rescored (a crowd
parameter change, an import of more forecasts), and ``verify_export`` then names the question
whose resolution or scores changed. An as-of time in the future is refused: what it covers could
still change.

**Manifest** (``kind: "scores"``): tournament, as_of, columns, row count, SHA-256 and size of the
file, the software version, which pseudonyms name forecasters (``server`` for
``manage.py export_scores``, ``recipient`` for an API download: the requesting user's, docs/
privacy.md), and the resolutions behind the rows: per question the version, outcome and
effective time, with a SHA-256 over the canonical lines::

    json.dumps([question, version, outcome, resolved_at_iso], separators=(",", ":")) + "\\n"

sorted by question key (code-point order).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

from django.db import connection

from forecasts.exports import (
    FETCH_ROWS,
    MANIFEST_VERSION,
    TIME_FORMAT,
    ExportError,
    RenderResult,
    Verification,
    bot_label,
    csv_text,
    default_as_of,
    iso,
    parse_as_of,
    read_manifest,
    sha256_file,
    snapshot,
    software_version,
    write_with_manifest,
)
from forecasts.models import Forecaster
from forecasts.pseudonyms import PseudonymCache
from markets.models import Resolution, Tournament
from scoring.models import Rule, Score, Subject

KIND = "scores"
SCORE_COLUMNS = (
    "question",
    "resolution_version",
    "outcome",
    "subject",
    "forecaster",
    "rule",
    "score",
    "coverage",
)
"""``resolution_version`` and ``outcome`` (``yes`` or ``no``; ``option:<index>``, ``value:<v>``,
``below`` or ``above`` for the other types, ``outcome_text``) name the final resolution the row
was scored against. ``subject`` is ``forecaster`` or the aggregation method (``crowd``: the log
pool); the ``forecaster`` column is empty for the crowd. A separate column, so that a
researcher's own forecaster key (an imported ``crowd``, say) can never be mistaken for the
aggregate."""

SCORE_FLOAT_FORMAT = (
    "Python repr: shortest round-trip decimal (≤ 17 significant digits); empty = no value"
)
RESOLUTIONS_CANONICAL_FORM = (
    'SHA-256 of json.dumps([question, version, outcome, resolved_at], separators=(",", ":")) '
    '+ "\\n" per exported question, sorted by question (code-point order)'
)

ScoreRow = tuple[str, int, str, str, str, str, float | None, float]


@dataclass(frozen=True)
class ScoredResolution:
    """The final resolution version a question's exported scores belong to."""

    question_id: int
    question: str  # key
    resolution_id: int
    version: int
    outcome: str  # "yes", "no", "option:<i>", "value:<v>", "below" or "above" (outcome_text)
    resolved_at: dt.datetime

    @property
    def canonical_line(self) -> str:
        row = [self.question, self.version, self.outcome, iso(self.resolved_at)]
        return json.dumps(row, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class ScoreExport:
    """What a score export covers: a tournament as of a time, for a recipient's pseudonyms
    (None: the server's)."""

    tournament: Tournament
    as_of: dt.datetime
    recipient: int | None = None

    @property
    def pseudonyms(self) -> str:
        return "server" if self.recipient is None else "recipient"


def score_export_plan(
    *, tournament: Tournament, as_of: dt.datetime | None = None, recipient: int | None = None
) -> ScoreExport:
    """Fix what a score export covers; ``as_of`` defaults to now minus ``AS_OF_LAG`` (one
    second, as the crowd export). Validate a user-given time with ``parse_as_of`` first (it
    refuses a future one)."""
    return ScoreExport(
        tournament=tournament,
        as_of=(as_of or default_as_of()).astimezone(dt.UTC),
        recipient=recipient,
    )


def scored_resolutions(export: ScoreExport) -> list[ScoredResolution]:
    """Per question, the current final resolution whose scores were computed at or before
    ``as_of``, in question-key (code-point) order. Read inside the caller's snapshot."""
    computed = Score.objects.filter(computed_at__lte=export.as_of).values("resolution_id")
    rows = Resolution.objects.filter(
        question__tournament=export.tournament,
        state=Resolution.State.FINAL,
        pk__in=computed,
    ).values_list(
        "question_id",
        "question__key",
        "pk",
        "version",
        "outcome",
        "resolved_at",
        "option",
        "value",
    )
    return sorted(
        (
            ScoredResolution(qid, key, pk, version, outcome_text(outcome, option, value), at)
            for qid, key, pk, version, outcome, at, option, value in rows
        ),
        key=lambda r: r.question,
    )


def outcome_text(outcome: str, option: int | None, value: float | None) -> str:
    """The ``outcome`` cell of a score export: ``yes``/``no``; ``option:<index>`` (0-based, as
    ``Resolution.option``) for multiple choice; ``value:<value>`` (Python repr, dates in Unix
    seconds), ``below`` or ``above`` for a continuous question."""
    if outcome == Resolution.Outcome.OPTION:
        return f"option:{option}"
    if outcome == Resolution.Outcome.VALUE:
        return f"value:{value!r}"
    return outcome


def iter_score_rows(
    tournament: Tournament,
    recipient: int | None = None,
    *,
    as_of: dt.datetime | None = None,
    resolutions: list[ScoredResolution] | None = None,
) -> Iterator[ScoreRow]:
    """Scores of the final resolutions as of ``as_of`` (default: now minus one second):
    forecasters (pseudonyms, keyed for ``recipient`` when given; ``forecasts.pseudonyms``) and
    the crowd, as (question key, resolution version, outcome, subject, forecaster label, rule,
    score, coverage).

    Order: question key, then subject, forecaster label and rule, all in code-point order
    (two forecasters with the same label, the same key imported from two sources: by
    forecaster id). ``score`` is None for a score without a value (no coverage).
    ``resolutions``: the list of ``scored_resolutions`` when the caller has it already (the
    same snapshot).
    """
    if resolutions is None:
        resolutions = scored_resolutions(score_export_plan(tournament=tournament, as_of=as_of))
    run = _ExportRun(recipient)
    for res in resolutions:
        rows = run.rows(res.resolution_id)
        rank, rule_rank, n_rules = run.ranks(rows)
        rows.sort(key=lambda r: rank[r[0]] * n_rules + rule_rank[r[1]])
        for fid, rule, score, coverage in rows:
            subject = Subject.CROWD if fid is None else Subject.FORECASTER
            yield (
                res.question,
                res.version,
                res.outcome,
                subject,
                run.label[fid],
                rule,
                score,
                float(coverage),
            )


_RawRow = tuple[int | None, str, float | None, float]  # forecaster id, rule, score, coverage


class _ExportRun:
    """The rows of one export run and their order, fast (issue 19, docs/performance.md): one
    plain query per resolution without the forecaster join (tuples straight from the cursor,
    no Django row machinery), each forecaster's label computed once per run, and the rows
    sorted on one integer each, from the ranks of label and rule, rather than on strings. The
    ranks are those of code-point order, so the order is the one ``iter_score_rows`` states.

    The subject follows from the forecaster (a database constraint: ``forecaster`` rows have
    one, the crowd's have none), so the crowd, with no forecaster, takes the rank its subject
    name has against ``forecaster``."""

    def __init__(self, recipient: int | None) -> None:
        self.names = PseudonymCache(recipient)
        self.label: dict[int | None, str] = {None: ""}  # the crowd's forecaster cell is empty
        self._rank: dict[int | None, int] = {}
        self._crowd_first = Subject.CROWD.value < Subject.FORECASTER.value

    def rows(self, resolution_id: int) -> list[_RawRow]:
        """(forecaster id, rule, score, coverage) of a resolution's forecasters' and crowd
        scores, unordered: the ORM's SQL run on a plain cursor (floats as the driver reads
        them, exact on both backends). Labels the forecasters not seen before."""
        scores = Score.objects.filter(
            resolution_id=resolution_id,
            subject__in=[Subject.FORECASTER, Subject.CROWD],
        ).values_list("forecaster_id", "rule", "score", "coverage")
        sql, params = scores.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows: list[_RawRow] = cursor.fetchall()
        missing = set(map(itemgetter(0), rows)) - self.label.keys()
        if missing:
            self._add_labels(sorted(m for m in missing if m is not None))
        return rows

    def _add_labels(self, ids: list[int]) -> None:
        for start in range(0, len(ids), LABEL_BATCH):
            batch = ids[start : start + LABEL_BATCH]
            found = Forecaster.objects.filter(pk__in=batch).values_list(
                "pk", "source", "key", "is_bot", "user__username"
            )
            for fid, source, key, is_bot, username in found:
                # A bot is no person: its public name, marked (forecasts.exports.bot_label).
                self.label[fid] = (
                    bot_label(username or key)
                    if is_bot
                    else self.names(fid, imported_key=key, source=source)
                )
        label = self.label
        order = sorted((fid for fid in label if fid is not None), key=lambda f: (label[f], f))
        self._rank = {fid: i for i, fid in enumerate(order)}
        self._rank[None] = -1 if self._crowd_first else len(order)

    def ranks(self, rows: list[_RawRow]) -> tuple[dict[int | None, int], dict[str, int], int]:
        """(rank of each forecaster's label, the crowd's included; rank of each rule in
        ``rows``; the number of rules): a row's place is ``rank[fid] * n_rules +
        rule_rank[rule]``."""
        if not self._rank:
            self._rank = {None: 0}
        rules = sorted(set(map(itemgetter(1), rows)))
        return self._rank, {r: i for i, r in enumerate(rules)}, len(rules)


LABEL_BATCH = 900  # forecaster ids per query (SQLite's default parameter limit is 999)


def _render(
    export: ScoreExport, resolutions: list[ScoredResolution], result: RenderResult
) -> Iterator[bytes]:
    """The CSV bytes of ``iter_score_rows``, written without building its tuples: each
    distinct text cell goes through ``csv_text`` once (keys, subjects, labels and rules repeat
    on every row), numbers by ``repr`` as ``csv_number`` writes them."""

    def emit(data: bytes) -> bytes:
        result.size += len(data)
        result._hash.update(data)
        return data

    yield emit((",".join(SCORE_COLUMNS) + "\n").encode())
    run = _ExportRun(export.recipient)
    who: dict[int | None, str] = {}  # "subject,forecaster," cells
    for res in resolutions:
        rows = run.rows(res.resolution_id)
        rank, rule_rank, n_rules = run.ranks(rows)
        fids = set(map(itemgetter(0), rows))
        for fid in fids - who.keys():
            subject = Subject.CROWD if fid is None else Subject.FORECASTER
            who[fid] = f"{csv_text(subject)},{csv_text(run.label[fid])},"
        prefix = f"{csv_text(res.question)},{csv_text(str(res.version))},{csv_text(res.outcome)},"
        line_start = {fid: prefix + who[fid] for fid in fids}
        rule_cell = {rule: csv_text(rule) + "," for rule in rule_rank}
        lines = [
            (
                rank[fid] * n_rules + rule_rank[rule],
                f"{line_start[fid]}{rule_cell[rule]}"
                f"{'' if score is None else repr(score)},{float(coverage)!r}\n",
            )
            for fid, rule, score, coverage in rows
        ]
        lines.sort(key=itemgetter(0))
        for start in range(0, len(lines), FETCH_ROWS):
            yield emit("".join(map(itemgetter(1), lines[start : start + FETCH_ROWS])).encode())
        result.rows += len(lines)
    result.sha256 = result._hash.hexdigest()


def render_scores_csv(
    tournament: Tournament,
    recipient: int | None = None,
    *,
    as_of: dt.datetime | None = None,
    result: RenderResult | None = None,
) -> Iterator[bytes]:
    """The score export's bytes: header ``SCORE_COLUMNS``, then ``iter_score_rows`` as of
    ``as_of`` (pseudonyms for ``recipient``), ``\\n`` line endings; text cells by ``csv_text``,
    numbers by ``csv_number`` (empty: no value). ``result`` receives rows, size and SHA-256."""
    export = score_export_plan(tournament=tournament, as_of=as_of, recipient=recipient)
    result = result if result is not None else RenderResult()
    with snapshot():
        yield from _render(export, scored_resolutions(export), result)


def build_scores_manifest(
    export: ScoreExport, *, out: IO[bytes] | None = None, filename: str = ""
) -> dict[str, Any]:
    """Render the export (to ``out`` if given, else only hashed) and return its manifest
    (module doc), all read in one snapshot."""
    result = RenderResult()
    with snapshot():
        resolutions = scored_resolutions(export)
        for data in _render(export, resolutions, result):
            if out is not None:
                out.write(data)
    digest = hashlib.sha256("".join(r.canonical_line for r in resolutions).encode())
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": KIND,
        "tournament": export.tournament.slug,
        "questions": [r.question for r in resolutions],
        "format": "csv",
        "columns": list(SCORE_COLUMNS),
        "pseudonyms": export.pseudonyms,
        "method": {
            "rules": list(Rule.values),
            "subjects": [Subject.FORECASTER.value, Subject.CROWD.value],
            "reference": "docs/methods.md §4 (scoring rules), §4.5 (cutoff)",
        },
        "software": {"takeoff": software_version(), "python": platform.python_version()},
        "as_of": iso(export.as_of),
        "resolutions": [
            {
                "question": r.question,
                "version": r.version,
                "outcome": r.outcome,
                "resolved_at": iso(r.resolved_at),
            }
            for r in resolutions
        ],
        "input": {
            "resolutions": len(resolutions),
            "sha256": digest.hexdigest(),
            "canonical_form": RESOLUTIONS_CANONICAL_FORM,
        },
        "rows": result.rows,
        "output": {"file": filename, "bytes": result.size, "sha256": result.sha256},
        "formatting": {
            "floats": SCORE_FLOAT_FORMAT,
            "times": TIME_FORMAT,
            "row_order": "question key, then subject, forecaster and rule (code-point order)",
        },
    }


def write_scores_export(export: ScoreExport, path: Path) -> dict[str, Any]:
    """Write FILE and FILE.manifest.json (``forecasts.exports.write_with_manifest``: nothing
    is left behind on an error)."""
    return write_with_manifest(
        path, lambda fh, name: build_scores_manifest(export, out=fh, filename=name)
    )


def verify_scores_manifest(
    manifest_file: Path,
    *,
    progress: Callable[[int], None] | None = None,
    recipient: int | None = None,
) -> Verification:
    """Regenerate a score export as of its manifest's time and compare resolutions, row count
    and bytes (and the file next to the manifest, when there). ``recipient``: the user id whose
    pseudonyms an API download carries (a ``recipient`` manifest needs one; the command takes
    ``--recipient USERNAME``).

    Raises ``ExportError`` when the manifest cannot be read, is not a score manifest, names a
    tournament this database does not have, or needs a recipient that was not given.
    """
    manifest = read_manifest(manifest_file)
    if manifest.get("kind") != KIND:
        raise ExportError(f"{manifest_file}: not a score export manifest.")
    if manifest.get("pseudonyms") == "recipient" and recipient is None:
        raise ExportError(
            f"{manifest_file} was made for one recipient's pseudonyms (an API download): "
            "name the recipient (--recipient USERNAME)."
        )
    if manifest.get("pseudonyms") != "recipient":
        recipient = None
    slug = manifest["tournament"]
    tournament = Tournament.objects.filter(slug=slug).first()
    if tournament is None:
        raise ExportError(f"Tournament {slug!r} does not exist in this database.")
    export = score_export_plan(
        tournament=tournament,
        as_of=parse_as_of(manifest["as_of"], allow_future=True),
        recipient=recipient,
    )
    recomputed = build_scores_manifest(export, filename=manifest["output"]["file"])
    if progress is not None:
        progress(recomputed["rows"])
    problems = _resolution_problems(manifest.get("resolutions"), recomputed["resolutions"])
    if recomputed["input"]["sha256"] != manifest["input"]["sha256"] and not problems:
        problems.append("the resolutions behind the scores differ from the manifest's")
    if recomputed["rows"] != manifest["rows"]:
        problems.append(f"row count {recomputed['rows']} (manifest: {manifest['rows']})")
    if recomputed["output"]["sha256"] != manifest["output"]["sha256"]:
        problems.append(
            f"recomputed bytes differ: sha256 {recomputed['output']['sha256']} "
            f"(manifest: {manifest['output']['sha256']}); a question rescored after as_of "
            "(new forecasts imported, crowd parameters changed) no longer has its old scores"
        )
    file_sha = None
    data_file = manifest_file.with_name(manifest["output"]["file"])
    if data_file.is_file():
        file_sha = sha256_file(data_file)
        if file_sha != manifest["output"]["sha256"]:
            problems.append(
                f"{data_file.name} on disk does not match the manifest (sha256 {file_sha})"
            )
    return Verification(manifest, recomputed, file_sha, problems)


def _resolution_problems(was: Any, now: list[dict[str, Any]]) -> list[str]:
    """One line per question whose resolution behind the scores changed since the manifest."""
    if not isinstance(was, list) or not all(isinstance(r, dict) for r in was):
        return ["the manifest lists no resolutions"]
    before = {r.get("question"): r for r in was}
    after = {r["question"]: r for r in now}
    problems = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if new is None:
            problems.append(
                f"{key}: no scores as of the manifest's time any more (re-resolved, "
                "un-resolved or rescored since)"
            )
        elif old is None:
            problems.append(f"{key}: scored now (version {new['version']}), not in the manifest")
        else:
            problems.append(
                f"{key}: resolution version {new['version']} ({new['outcome']}), the manifest "
                f"has version {old.get('version')} ({old.get('outcome')})"
            )
    return problems
