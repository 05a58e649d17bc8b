"""Load the demo: the "AI milestones" tournament and the ACX 2023 contest replay. Idempotent."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import random
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from tqdm import tqdm

from forecasts.importer import ImportFailed, import_forecasts
from forecasts.models import Forecast, Forecaster
from forecasts.pooling import logit, sigmoid
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import (
    Benchmark,
    BenchmarkResult,
    Comparator,
    FeedSnapshot,
    Question,
    Resolution,
    Tournament,
)
from markets.resolution.finality import resolution_confirm
from markets.resolution.milestones import question_evaluate_milestone
from markets.resolution.sweep import markets_sweep, questions_close_due
from web.management import demo_typed

DATA = Path(settings.BASE_DIR) / "data"
UTC = dt.UTC
ADMIN_USER, ADMIN_PASSWORD = "admin", "takeoff-demo"
DEMO_PASSWORD = "forecast-demo"

BENCHMARKS = [
    (
        "metr-p50",
        "METR time horizon (p50)",
        "minutes",
        "Length of human task an AI agent completes with 50% success.",
        "https://metr.org/",
    ),
    (
        "swe-bench-verified",
        "SWE-bench Verified",
        "% resolved",
        "Share of real GitHub issues resolved (human-verified subset).",
        "https://www.swebench.com/",
    ),
    (
        "swe-bench-full",
        "SWE-bench (full test set)",
        "% resolved",
        "Share of real GitHub issues resolved (full test set).",
        "https://www.swebench.com/",
    ),
    (
        "mle-bench-all",
        "MLE-bench (All)",
        "% any medal",
        "Kaggle competitions in which the agent earns any medal, 75 competitions.",
        "https://github.com/openai/mle-bench",
    ),
    (
        "core-bench-hard",
        "CORE-Bench Hard",
        "% accuracy",
        "Reproducing published research code.",
        "https://hal.cs.princeton.edu/corebench_hard",
    ),
    (
        "posttrainbench",
        "PostTrainBench",
        "weighted avg %",
        "Agents post-training weaker open models; instruct baseline 51.1.",
        "https://posttrainbench.com/",
    ),
]

QUESTIONS = [
    dict(
        key="rsi-2028",
        title="Will AI systems be capable of recursive self-improvement by the end of 2028?",
        description="Jack Clark (Anthropic) put 60% on this. Recursive self-improvement means AI "
        "autonomously building its successors: fully automated AI research.",
        criteria="Resolved by staff: YES if, by 31 December 2028, an AI system has autonomously "
        "carried out the research and engineering that produced a more capable successor, as "
        "documented by its developer and credible third parties.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2028, 12, 31, 23, 59, tzinfo=UTC),
        anchor=0.55,
    ),
    dict(
        key="rsi-2027",
        title="Will AI systems be capable of recursive self-improvement by the end of 2027?",
        description="The same criterion one year earlier: Jack Clark put 30% on it.",
        criteria="As for the 2028 question, with 31 December 2027 as the deadline. Resolved by staff.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2027, 12, 31, 23, 59, tzinfo=UTC),
        anchor=0.28,
    ),
    dict(
        key="metr-6000-2026",
        title="Will an AI reach a METR p50 time horizon of 6,000 minutes by the end of 2026?",
        description="METR's projection of 100 hours (6,000 minutes) for the end of 2026.",
        criteria="METR p50 time horizon ≥ 6,000 minutes for a model released on or before 31 December 2026.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        benchmark="metr-p50",
        comparator=Comparator.GE,
        threshold=6000,
        deadline=dt.date(2026, 12, 31),
        anchor=0.22,
    ),
    dict(
        key="swebench-95-2026",
        title="Will an agent resolve at least 95% of SWE-bench Verified by the end of 2026?",
        description="93.9% has been claimed (Claude Mythos Preview) but not recorded on the leaderboard.",
        criteria="A SWE-bench Verified leaderboard result ≥ 95% dated on or before 31 December 2026.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        benchmark="swe-bench-verified",
        comparator=Comparator.GE,
        threshold=95,
        deadline=dt.date(2026, 12, 31),
        anchor=0.45,
    ),
    dict(
        key="mlebench-80-2026",
        title="Will an agent earn a medal in at least 80% of MLE-bench competitions by the end of 2026?",
        description="From 16.9% (o1-preview, Oct 2024) to 77.78% (Feb 2026, with known leakage).",
        criteria="An MLE-bench All (any medal) result ≥ 80% dated on or before 31 December 2026.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        benchmark="mle-bench-all",
        comparator=Comparator.GE,
        threshold=80,
        deadline=dt.date(2026, 12, 31),
        anchor=0.5,
    ),
    dict(
        key="posttrainbench-baseline-2026",
        title="Will an agent reach the instruct baseline on PostTrainBench by the end of 2026?",
        description="Top agents reached roughly 25–50% of the human/instruct baseline in early 2026.",
        criteria="A PostTrainBench weighted average ≥ 51.1 (the instruct baseline) first seen on or "
        "before 31 December 2026.",
        open=dt.datetime(2025, 9, 1, tzinfo=UTC),
        close=dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
        benchmark="posttrainbench",
        comparator=Comparator.GE,
        threshold=51.1,
        deadline=dt.date(2026, 12, 31),
        anchor=0.12,
    ),
    dict(
        key="corebench-95-2026",
        title="Will an agent score at least 95% on CORE-Bench Hard by mid-2026?",
        description="21.5% (GPT-4o agent, Sep 2024) to 95% (Opus 4.5, Dec 2025, after manual regrading).",
        criteria="A CORE-Bench Hard accuracy ≥ 95% achieved on or before 30 June 2026.",
        open=dt.datetime(2025, 6, 1, tzinfo=UTC),
        close=dt.datetime(2026, 6, 30, 23, 59, tzinfo=UTC),
        benchmark="core-bench-hard",
        comparator=Comparator.GE,
        threshold=95,
        deadline=dt.date(2026, 6, 30),
        anchor=0.35,
        resolved_at=dt.datetime(2025, 12, 3, 12, tzinfo=UTC),
    ),
]

CORE_RESOLVED_AT = dt.datetime(2025, 12, 3, 12, tzinfo=UTC)
FORECASTERS = ["ada", "bayes", "cassandra", "delphi", "euler", "fermi"]


class Command(BaseCommand):
    help = "Load the demo tournaments (AI milestones and the ACX 2023 replay) and a demo admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--skip-acx", action="store_true", help="Do not import ACX 2023")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars")

    def handle(self, *args, **opts) -> None:
        self._quiet = opts["no_progress"]
        self._admin()
        self._ai_milestones()
        self._baseline_bots()
        if not opts["skip_acx"]:
            self._acx()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Admin: {ADMIN_USER} / {ADMIN_PASSWORD}. "
                f"Forecasters: {', '.join(FORECASTERS)} (password {DEMO_PASSWORD})."
            )
        )

    def _admin(self) -> None:
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username=ADMIN_USER,
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"},
        )
        if created:
            admin.set_password(ADMIN_PASSWORD)
            admin.save()

    @transaction.atomic
    def _benchmarks(self) -> None:
        for slug, name, unit, description, url in BENCHMARKS:
            Benchmark.objects.get_or_create(
                slug=slug,
                defaults={
                    "name": name,
                    "unit": unit,
                    "description": description,
                    "source_url": url,
                },
            )
        raw = (DATA / "benchmarks" / "history.csv").read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        if FeedSnapshot.objects.filter(feed="history", sha256=sha).exists():
            return
        snapshot = FeedSnapshot.objects.create(
            feed="history",
            source="data/benchmarks/history.csv",
            sha256=sha,
            raw=raw,
            size=len(raw),
            parser_version="demo-1",
            outcome=FeedSnapshot.Outcome.OK,
        )
        added = 0
        for row in csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))):
            benchmark = Benchmark.objects.get(slug=row["benchmark"])
            day = dt.date.fromisoformat(row["date"])
            if BenchmarkResult.objects.filter(
                benchmark=benchmark, system=row["system"], is_current=True
            ).exists():
                continue
            BenchmarkResult.objects.create(
                benchmark=benchmark,
                system=row["system"],
                value=float(row["value"]),
                achieved_on=day,
                first_seen=dt.datetime.combine(day, dt.time(12), tzinfo=UTC),
                snapshot=snapshot,
                extra={"date_kind": row["date_kind"], "source": row["source"]},
            )
            added += 1
        snapshot.results_added = added
        snapshot.save(update_fields=["results_added"])

    def _ai_milestones(self) -> None:
        self._benchmarks()
        tournament, created = Tournament.objects.get_or_create(
            slug="ai-milestones",
            defaults={
                "name": "AI milestones",
                "description": "When will AI automate AI research? "
                "Questions on recursive self-improvement and the benchmarks that track it.",
            },
        )
        forecasters = self._forecasters()
        if created or not tournament.questions.filter(key=QUESTIONS[0]["key"]).exists():
            self._yes_no_questions(tournament, forecasters)
        else:
            self.stdout.write("AI milestones: yes/no questions already loaded.")
        self._typed_questions(tournament, forecasters)

    def _forecasters(self) -> list[Forecaster]:
        User = get_user_model()
        forecasters = []
        for name in FORECASTERS:
            user, made = User.objects.get_or_create(
                username=name, defaults={"email": f"{name}@localhost"}
            )
            if made:
                user.set_password(DEMO_PASSWORD)
                user.save()
            forecasters.append(forecaster_for_user(user))
        return forecasters

    def _yes_no_questions(self, tournament: Tournament, forecasters: list[Forecaster]) -> None:
        rng = random.Random(2026)
        now = dt.datetime.now(UTC)
        events = []
        for spec in QUESTIONS:
            q = Question.objects.create(
                tournament=tournament,
                key=spec["key"],
                title=spec["title"],
                description=spec["description"],
                resolution_criteria=spec["criteria"],
                open_time=spec["open"],
                close_time=spec["close"],
                # Open while the history is replayed; the close sweep below settles the rest.
                status=Question.Status.OPEN,
                benchmark=Benchmark.objects.get(slug=spec["benchmark"])
                if "benchmark" in spec
                else None,
                comparator=spec.get("comparator", ""),
                threshold=spec.get("threshold"),
                deadline=spec.get("deadline"),
            )
            end = min(now, spec["close"], spec.get("resolved_at", now)) - dt.timedelta(hours=1)
            span = (end - spec["open"]).total_seconds()
            for forecaster in forecasters:
                bias = rng.gauss(0, 0.8)
                for k in range(rng.randint(1, 4)):
                    t = spec["open"] + dt.timedelta(seconds=span * (k + rng.random()) / 4.5)
                    z = logit(spec["anchor"]) + bias + rng.gauss(0, 0.4) + 0.25 * k
                    p = round(min(max(sigmoid(z), 0.01), 0.99), 2)
                    events.append((t, q.pk, forecaster, p))
        events.sort(key=lambda e: e[0])
        for t, qid, forecaster, p in tqdm(
            events, desc="AI milestones forecasts", file=self.stderr._out, disable=self._quiet
        ):
            forecast_submit(
                question_id=qid,
                forecaster=forecaster,
                probability=p,
                at=t,
                rationale=rng.choice(["", "", "Trend extrapolation.", "Base rates are low."]),
            )
        # CORE-Bench Hard ≥ 95% was met on 2025-12-03: the milestone rule proposes YES with the
        # result as evidence, and the demo admin confirms it — the same path as production.
        core = Question.objects.get(tournament=tournament, key="corebench-95-2026")
        proposal = question_evaluate_milestone(question_id=core.pk, now=now, trigger="demo")
        if proposal is not None and proposal.state == Resolution.State.PROPOSED:
            resolution_confirm(
                resolution_id=proposal.pk,
                user=get_user_model().objects.get(username=ADMIN_USER),
                reason="Checked against the HAL announcement (95% after manual regrading).",
            )
        questions_close_due(now=now)
        markets_sweep(now=now)
        self.stdout.write(
            f"AI milestones: {len(QUESTIONS)} yes/no questions, "
            f"{Forecast.objects.filter(question__tournament=tournament).count()} forecasts."
        )

    def _typed_questions(self, tournament: Tournament, forecasters: list[Forecaster]) -> None:
        """The date, numeric and multiple-choice questions (resolved by the typed milestone
        rules from the benchmark feeds) and the conditional pair, each skipped when loaded."""
        made = demo_typed.load(tournament, forecasters)
        if made:
            self.stdout.write(f"AI milestones: added {', '.join(made)}.")
        else:
            self.stdout.write("AI milestones: typed and conditional questions already loaded.")

    def _baseline_bots(self) -> None:
        """The built-in baseline bots (trend, base rate) forecast the open questions, as their
        task does after a feed or a resolution changes (forecasts.baselines). Idempotent."""
        from forecasts.baselines import baselines_refresh

        written = baselines_refresh()
        self.stdout.write(f"Baseline bots: {written} forecasts.")

    def _acx(self) -> None:
        forecasts = DATA / "acx2023" / "forecasts.csv"
        with forecasts.open("rb") as fh:
            rows = max(sum(1 for _ in fh) - 1, 0)
        # The first run takes minutes (validating, writing, pooling and scoring 150,720
        # forecasts): each stage is announced with the time so far, and the rows with a bar.
        started = time.monotonic()
        bar = tqdm(
            total=rows,
            unit="rows",
            unit_scale=True,
            desc="ACX 2023: validating forecasts",
            file=self.stderr._out,
            disable=self._quiet,
        )

        def stage(message: str) -> None:
            if message.startswith("Validating"):
                return  # the bar says so
            bar.close()
            self.stdout.write(
                f"ACX 2023: {message[0].lower()}{message[1:]}… "
                f"({time.monotonic() - started:.0f} s so far)"
            )
            self.stdout.flush()

        try:
            report = import_forecasts(
                tournament_slug="acx-2023",
                tournament_name="ACX 2023 Prediction Contest (replay)",
                questions_path=DATA / "acx2023" / "questions.csv",
                forecasts_path=forecasts,
                default_open=dt.datetime(2023, 1, 1, tzinfo=UTC),
                default_close=dt.datetime(2024, 1, 1, tzinfo=UTC),
                progress=bar.update,
                on_stage=stage,
            )
        except ImportFailed as exc:  # shipped data: a failure here is a bug worth shouting about
            raise SystemExit(str(exc)) from None
        finally:
            bar.close()
        Tournament.objects.filter(slug="acx-2023").update(
            description="The ACX 2023 Prediction Contest (blind mode): 3,292 forecasters on 50 "
            "questions, resolved as the Manifold mirror markets resolved. Data: jbreffle/acx-prediction-contest."
        )
        self.stdout.write(
            f"ACX 2023: {report.forecasts_created:,} forecasts imported "
            f"({report.forecasts_existing:,} already there)."
        )
