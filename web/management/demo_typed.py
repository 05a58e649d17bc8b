"""The demo's date, numeric and multiple-choice questions and its conditional pair (issue 15), for
``load_demo``.

Each question is created through ``markets.questions.question_create`` with its typed
milestone rule (``markets.resolution.typed_rules``, docs/methods.md §8.8–§8.10), so it resolves
from the benchmark feeds like the yes/no ones; the conditional pair through
``conditional_create``; forecasts through ``forecast_submit`` with typed payloads (option
probabilities, or a CDF built from percentiles: ``forecasts.distributions``). Each is skipped
when its key is already in the tournament, so a later run adds only what is missing.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from forecasts import distributions
from forecasts.models import Forecaster
from forecasts.pooling import logit, sigmoid
from forecasts.services import forecast_submit
from forecasts.typed_crowd import question_scale
from markets.models import Benchmark, Comparator, Question, Tournament
from markets.questions import conditional_create, question_create

UTC = dt.UTC
OPEN = dt.datetime(2025, 9, 1, tzinfo=UTC)
DAY = 86_400.0
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def _unix(day: str) -> float:
    return distributions.parse_date_value(day)


TYPED: list[dict[str, Any]] = [
    dict(
        key="metr-6000-date",
        title="When will a METR p50 time horizon of 6,000 minutes first be recorded?",
        description="METR's p50 time horizon doubled roughly every four to seven months to "
        "718.8 minutes (Claude Opus 4.6, February 2026). 6,000 minutes is 100 hours: about "
        "three more doublings.",
        criteria="The date on which a METR p50 time horizon of at least 6,000 minutes is first "
        "achieved (the model's release date), as published by METR. Above the range if none "
        "by 1 January 2032.",
        close=dt.datetime(2031, 12, 31, 23, 59, tzinfo=UTC),
        type=Question.Type.DATE,
        range_min=_unix("2026-01-01"),
        range_max=_unix("2032-01-01"),
        open_upper_bound=True,
        benchmark="metr-p50",
        comparator=Comparator.GE,
        threshold=6000.0,
        # Percentiles (dates) of a typical forecaster; each shifts them by a few months.
        percentiles=("2026-10-01", "2027-04-01", "2027-10-01", "2028-07-01", "2030-06-01"),
        shift_days=75.0,
    ),
    dict(
        key="swebench-best-2027",
        title="Best SWE-bench Verified result on 1 January 2027 (%)",
        description="78.8% was the best leaderboard result in September 2025; 93.9% has been "
        "claimed but not recorded on the leaderboard.",
        criteria="The best SWE-bench Verified leaderboard result achieved on or before "
        "1 January 2027, in % resolved.",
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        type=Question.Type.NUMERIC,
        range_min=70.0,
        range_max=100.0,
        benchmark="swe-bench-verified",
        deadline=dt.date(2027, 1, 1),
        percentiles=(79.5, 83.0, 86.5, 90.0, 94.0),
        shift=1.5,
    ),
    dict(
        key="metr-best-org-2026",
        title="Which organisation will hold the best METR p50 result on 31 December 2026?",
        description="Anthropic held it in February 2026 (Claude Opus 4.6, 718.8 minutes), "
        "after OpenAI (GPT-5.2, December 2025).",
        criteria="The organisation of the model with the highest METR p50 time horizon among "
        "models released on or before 31 December 2026.",
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        type=Question.Type.MULTIPLE_CHOICE,
        options=["Anthropic", "OpenAI", "Google DeepMind", "Other"],
        benchmark="metr-p50",
        deadline=dt.date(2026, 12, 31),
        weights=(0.48, 0.32, 0.15, 0.05),
    ),
]

# The conditional pair: parent and child are the yes/no questions of load_demo.QUESTIONS.
CONDITIONAL: dict[str, Any] = dict(
    parent="swebench-95-2026",
    child="rsi-2028",
    key="rsi-2028-if-swebench-95",
    if_yes="If SWE-bench Verified reaches 95% by the end of 2026, will AI systems be capable "
    "of recursive self-improvement by the end of 2028?",
    if_no="If SWE-bench Verified does not reach 95% by the end of 2026, will AI systems be "
    "capable of recursive self-improvement by the end of 2028?",
    anchors={"yes": 0.86, "no": 0.64},
)


def _times(rng: random.Random, now: dt.datetime, close: dt.datetime) -> list[dt.datetime]:
    end = min(now, close) - dt.timedelta(hours=1)
    span = (end - OPEN).total_seconds()
    return sorted(
        OPEN + dt.timedelta(seconds=span * (k + rng.random()) / 4.5)
        for k in range(rng.randint(1, 3))
    )


def _continuous(question: Question, spec: dict[str, Any], rng: random.Random, offset: float) -> Any:
    if question.type == Question.Type.DATE:
        base = [_unix(day) for day in spec["percentiles"]]
        step = spec["shift_days"] * DAY
    else:
        base = list(spec["percentiles"])
        step = spec["shift"]
    lo, hi = question.range_min, question.range_max
    assert lo is not None and hi is not None
    # One shift for the whole forecast and a wider or narrower spread, kept inside closed
    # bounds and strictly increasing.
    centre = base[2] + offset * step
    width = 1.0 + rng.uniform(-0.25, 0.35)
    values = [centre + (v - base[2]) * width for v in base]
    if not question.open_lower_bound:
        values = [max(v, lo + (hi - lo) * (0.01 + 0.01 * i)) for i, v in enumerate(values)]
    if not question.open_upper_bound:
        values = [min(v, hi - (hi - lo) * (0.05 - 0.01 * i)) for i, v in enumerate(values)]
    percentiles = dict(zip(LEVELS, values, strict=True))
    return distributions.cdf_from_percentiles(percentiles, question_scale(question))


def _options(spec: dict[str, Any], rng: random.Random) -> list[float]:
    raw = [max(w * rng.lognormvariate(0, 0.35), 0.01) for w in spec["weights"]]
    total = sum(raw)
    return [r / total for r in raw]


def _typed_question(tournament: Tournament, spec: dict[str, Any]) -> Question:
    config = {
        name: spec[name]
        for name in ("type", "options", "range_min", "range_max", "open_upper_bound")
        if name in spec
    }
    return question_create(
        tournament=tournament,
        key=spec["key"],
        title=spec["title"],
        description=spec["description"],
        resolution_criteria=spec["criteria"],
        open_time=OPEN,
        close_time=spec["close"],
        benchmark=Benchmark.objects.get(slug=spec["benchmark"]),
        comparator=spec.get("comparator", ""),
        threshold=spec.get("threshold"),
        deadline=spec.get("deadline"),
        **config,
    )


def load(tournament: Tournament, forecasters: list[Forecaster]) -> list[str]:
    """Add the typed questions and the conditional pair to ``tournament`` where missing, with
    the demo forecasters' forecasts (in time order, as they would have come in). Returns the
    keys added."""
    rng = random.Random(15)
    now = dt.datetime.now(UTC)
    have = set(tournament.questions.values_list("key", flat=True))
    events: list[tuple[dt.datetime, int, Forecaster, dict[str, Any]]] = []
    added: list[str] = []
    for spec in TYPED:
        if spec["key"] in have:
            continue
        question = _typed_question(tournament, spec)
        added.append(spec["key"])
        for forecaster in forecasters:
            offset = rng.gauss(0, 1)
            for t in _times(rng, now, spec["close"]):
                if question.type == Question.Type.MULTIPLE_CHOICE:
                    values = _options(spec, rng)
                else:
                    values = _continuous(question, spec, rng, offset + rng.gauss(0, 0.3))
                events.append((t, question.pk, forecaster, {"values": values}))
    events += _conditional(tournament, forecasters, have, rng, now, added)
    events.sort(key=lambda e: (e[0], e[1]))
    for t, qid, forecaster, payload in events:
        forecast_submit(question_id=qid, forecaster=forecaster, at=t, **payload)
    return added


def _conditional(
    tournament: Tournament,
    forecasters: list[Forecaster],
    have: set[str],
    rng: random.Random,
    now: dt.datetime,
    added: list[str],
) -> list[tuple[dt.datetime, int, Forecaster, dict[str, Any]]]:
    spec = CONDITIONAL
    key = spec["key"]
    if f"{key}-if-yes" in have:
        return []
    parent = tournament.questions.get(key=spec["parent"])
    child = tournament.questions.get(key=spec["child"])
    # The branches are created with titles in words, then paired (conditional_create checks
    # that they ask what the child asks, in the same tournament).
    branches = {
        side: question_create(
            tournament=tournament,
            key=f"{key}-if-{side}",
            title=spec[f"if_{side}"],
            description=(
                f"One branch of a conditional pair: “{child.title}”, in the world where "
                f"“{parent.title}” resolves {side.upper()}."
            ),
            resolution_criteria=(
                f"Follows “{child.title}” once “{parent.title}” resolves {side.upper()}; "
                f"annulled if it resolves {'NO' if side == 'yes' else 'YES'}, or if either "
                "is annulled."
            ),
            open_time=OPEN,
            close_time=child.close_time,
        )
        for side in ("yes", "no")
    }
    conditional_create(parent=parent, child=child, if_yes=branches["yes"], if_no=branches["no"])
    added.append(key)
    events = []
    for forecaster in forecasters:
        bias = rng.gauss(0, 0.6)
        for side, question in branches.items():
            for t in _times(rng, now, question.close_time):
                z = logit(spec["anchors"][side]) + bias + rng.gauss(0, 0.35)
                p = round(min(max(sigmoid(z), 0.02), 0.98), 2)
                events.append((t, question.pk, forecaster, {"probability": p}))
    return events
