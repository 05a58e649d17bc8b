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
from pathlib import Path
from typing import IO, Any

from forecasts.exports import (
    FETCH_ROWS,
    MANIFEST_VERSION,
    TIME_FORMAT,
    ExportError,
    RenderResult,
    Verification,
    csv_number,
    csv_text,
    default_as_of,
    dump_manifest,
    iso,
    manifest_path,
    parse_as_of,
    read_manifest,
    sha256_file,
    snapshot,
    software_version,
)
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

    Order: question key, then subject, forecaster label and rule, all in code-point order.
    ``score`` is None for a score without a value (no coverage). ``resolutions``: the list of
    ``scored_resolutions`` when the caller has it already (the same snapshot).
    """
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


def _render(
    export: ScoreExport, resolutions: list[ScoredResolution], result: RenderResult
) -> Iterator[bytes]:
    def emit(data: bytes) -> bytes:
        result.size += len(data)
        result._hash.update(data)
        return data

    yield emit((",".join(SCORE_COLUMNS) + "\n").encode())
    lines: list[str] = []
    rows = iter_score_rows(export.tournament, export.recipient, resolutions=resolutions)
    for key, version, outcome, subject, who, rule, score, coverage in rows:
        text = ",".join(csv_text(v) for v in (key, str(version), outcome, subject, who, rule))
        lines.append(f"{text},{csv_number(score)},{csv_number(coverage)}\n")
        result.rows += 1
        if len(lines) >= FETCH_ROWS:
            yield emit("".join(lines).encode())
            lines.clear()
    if lines:
        yield emit("".join(lines).encode())
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
    """Write FILE and FILE.manifest.json (the file first through a temporary name; nothing is
    left behind on an error)."""
    tmp = path.with_name(path.name + ".part")
    try:
        with tmp.open("wb") as fh:
            manifest = build_scores_manifest(export, out=fh, filename=path.name)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest_path(path).write_bytes(dump_manifest(manifest))
    return manifest


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
