"""Shared fixtures for the markets tests: milestone questions, crafted feeds, task doubles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from markets.models import Benchmark, Comparator, Question
from tests.factories import QuestionFactory

UTC = dt.UTC
DATA = Path(__file__).resolve().parents[2] / "data" / "benchmarks"
METR_SAMPLE = "metr_benchmark_results_1_1.2026-03.excerpt.yaml"
OPUS_SLUG = "claude_opus_4_6_inspect"  # METR's slug
OPUS = "Claude Opus 4.6"  # the system's name (markets.benchmarks.feeds.metr.SYSTEM_NAMES)


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def metr_yaml(results: dict[str, tuple[float, str | None]]) -> bytes:
    """A METR ``benchmark_results_1_1.yaml`` with ``slug -> (p50 minutes, release date)``."""
    document: dict[str, Any] = {"benchmark_name": "METR-Horizon-v1.1", "results": {}}
    for slug, (estimate, release) in results.items():
        entry: dict[str, Any] = {
            "benchmark_name": "METR-Horizon-v1.1",
            "metrics": {"p50_horizon_length": {"estimate": estimate}},
        }
        if release is not None:
            entry["release_date"] = dt.date.fromisoformat(release)
        document["results"][slug] = entry
    return yaml.safe_dump(document, sort_keys=True).encode()


def metr_sample_with_opus(value: float) -> bytes:
    """The real METR sample with Opus 4.6's p50 estimate replaced (870.0 was first published)."""
    document = yaml.safe_load(sample(METR_SAMPLE))
    document["results"][OPUS_SLUG]["metrics"]["p50_horizon_length"]["estimate"] = value
    return yaml.safe_dump(document, sort_keys=False).encode()


def milestone_question(
    *,
    slug: str = "metr-p50",
    comparator: str = Comparator.GE,
    threshold: float = 600.0,
    deadline: dt.date = dt.date(2026, 12, 31),
    grace_days: int = 30,
    **kwargs: Any,
) -> Question:
    benchmark, _ = Benchmark.objects.get_or_create(
        slug=slug, defaults={"name": slug.upper(), "unit": "minutes"}
    )
    kwargs.setdefault("open_time", dt.datetime(2025, 1, 1, tzinfo=UTC))
    kwargs.setdefault("close_time", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    return QuestionFactory(
        benchmark=benchmark,
        comparator=comparator,
        threshold=threshold,
        deadline=deadline,
        grace_days=grace_days,
        **kwargs,
    )


@pytest.fixture(autouse=True)
def scoring_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Scoring triggers ``(question_id, resolution_id)``, recorded instead of sent."""
    from scoring import tasks as scoring_tasks

    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(
        scoring_tasks.question_score_task,
        "delay_on_commit",
        lambda question_id, resolution_id: calls.append((question_id, resolution_id)),
        raising=False,
    )
    return calls


@pytest.fixture(autouse=True)
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    """Messages the markets tasks would send, recorded instead: no test here talks to a broker
    by accident (CI sets REDIS_URL). Tests of the tasks call the task functions directly."""
    from markets import tasks

    sent: list[tuple[str, tuple[Any, ...]]] = []
    for task in (tasks.evaluate_question_task, tasks.fetch_feed_task, tasks.sweep_task):
        name = task.name
        monkeypatch.setattr(
            task, "delay", lambda *args, _name=name: sent.append((_name, args)), raising=False
        )
    return sent
