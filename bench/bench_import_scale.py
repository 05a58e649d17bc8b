"""Import at PredictionBook scale (issue 14): does import cost stay flat per question?

Prints figures, asserts nothing. Usage (one database per run; the database is made fresh)::

    .venv/bin/python bench/bench_import_scale.py --db sqlite  # a new SQLite file in /tmp
    .venv/bin/python bench/bench_import_scale.py --db pg  # PostgreSQL, database takeoff_pbimp
    options: --name takeoff_pbimp (database name and file prefix: use your own)
             --questions 15000 --forecasts 52000 --forecasters 2000 --runs 1
             --baseline 500 (questions of the per-question path, 0 to skip) --profile
             --against DIR (another checkout, e.g. ``git archive <commit> | tar -x -C DIR``:
                            its import_forecasts is timed on the same file, alternating runs)

1. Writes a deterministic synthetic file pair in the native import format
   (docs/researcher-guide.md, ``import_forecasts``) shaped like PredictionBook: 15,000 resolved
   binary questions, 52,000 timed forecasts, 2,000 forecasters. Forecasters per question follow
   a power law (most questions have one to three forecasts, a few have hundreds), forecaster
   activity is Zipf-like (every forecaster has at least one forecast), questions open over
   twelve years (2008–2020) and stay open from a day to a few years, forecast times are spread
   over each window, probabilities are whole percents, and about 2% of the questions are
   annulled (the rest YES or NO).
2. Imports it with ``forecasts.importer.import_forecasts`` into a fresh database, scoring
   included (Celery eager, as a deployment without a broker runs it), and prints the wall time
   and the time of each stage (the importer's ``on_stage`` announcements).
3. With ``--against DIR``: the same import with the code of another checkout (the version
   before a change), run after each run of this one on the same file and a fresh database,
   with the ratios of wall and CPU times: on a shared machine, only a ratio measured in the
   same conditions says what a change did.
4. The per-question path (before issue 14: one crowd recompute, one resolution and one scoring
   per question, through ``crowd_recompute``, ``question_resolve`` and ``question_score``) on the
   first ``--baseline`` questions of the same file, timed, and extrapolated *linearly* to the
   full file (its cost is per question), with the ratio to the batched import.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if "--root" in sys.argv:  # a child importing another checkout's code (``--against``)
    ROOT = Path(sys.argv[sys.argv.index("--root") + 1]).resolve()
sys.path.insert(0, str(ROOT))

SLUG = "pb-scale"
START = dt.datetime(2008, 1, 1, tzinfo=dt.UTC)
SPAN_DAYS = 12 * 365


def _per_question_counts(rng: np.random.Generator, questions: int, forecasts: int) -> np.ndarray:
    """Forecasts per question: a discrete power law (P(n) ∝ n^-2.2, n ≥ 1), then adjusted
    one forecast at a time, on random questions, to sum to ``forecasts`` exactly."""
    counts = np.minimum(rng.zipf(2.2, size=questions), 400).astype(np.int64)
    while (diff := forecasts - int(counts.sum())) != 0:
        pick = rng.integers(0, questions, size=min(abs(diff), questions))
        if diff > 0:
            np.add.at(counts, pick, 1)
        else:
            pick = pick[counts[pick] > 1]
            pick = np.unique(pick)[:-diff]
            counts[pick] -= 1
    return counts


def make_files(
    folder: Path, *, questions: int, forecasts: int, forecasters: int, seed: int = 14
) -> tuple[Path, Path]:
    """Write ``questions.csv`` and ``forecasts.csv`` into ``folder``; the same arguments give
    the same bytes. Returns their paths."""
    rng = np.random.default_rng(seed)
    counts = _per_question_counts(rng, questions, forecasts)
    activity = 1.0 / np.arange(1, forecasters + 1) ** 1.1
    activity /= activity.sum()
    who = rng.choice(forecasters, size=forecasts, p=activity)
    who[:forecasters] = rng.permutation(forecasters)  # everyone forecasts at least once
    rng.shuffle(who)
    open_s = rng.integers(0, SPAN_DAYS * 86400, size=questions)
    length_s = np.exp(rng.uniform(np.log(86400), np.log(3 * 365 * 86400), size=questions))
    length_s = length_s.astype(np.int64)
    q_rows, f_rows = [], []
    pos = 0
    for q in range(questions):
        key = f"pb-{q + 1:05d}"
        opened = START + dt.timedelta(seconds=int(open_s[q]))
        closed = opened + dt.timedelta(seconds=int(length_s[q]))
        n = int(counts[q])
        # Distinct whole seconds within the window (the same forecaster may update).
        offsets = np.sort(rng.choice(int(length_s[q]), size=n, replace=False))
        truth = rng.uniform(0.02, 0.98)
        for k in range(n):
            p = int(np.clip(np.rint(100 * rng.beta(4 * truth + 0.5, 4 * (1 - truth) + 0.5)), 1, 99))
            at = opened + dt.timedelta(seconds=int(offsets[k]))
            f_rows.append((f"pb-user-{who[pos] + 1:04d}", key, f"0.{p:02d}", at.isoformat()))
            pos += 1
        u = rng.uniform()
        outcome = "ANNULLED" if u < 0.02 else ("YES" if rng.uniform() < truth else "NO")
        q_rows.append(
            (key, f"Synthetic question {q + 1}", outcome, opened.isoformat(), closed.isoformat())
        )
    folder.mkdir(parents=True, exist_ok=True)
    qpath, fpath = folder / "questions.csv", folder / "forecasts.csv"
    with qpath.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["question", "title", "resolution", "open_time", "close_time"])
        w.writerows(q_rows)
    with fpath.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["forecaster", "question", "probability", "time"])
        w.writerows(f_rows)
    return qpath, fpath


def subset_files(qpath: Path, fpath: Path, folder: Path, n: int) -> tuple[Path, Path]:
    """The first ``n`` questions of a file pair and their forecasts, written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with qpath.open(newline="") as fh:
        rows = list(csv.reader(fh))
    keep = {r[0] for r in rows[1 : n + 1]}
    out_q, out_f = folder / "questions.csv", folder / "forecasts.csv"
    with out_q.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows[: n + 1])
    with fpath.open(newline="") as src, out_f.open("w", newline="") as fh:
        reader, writer = csv.reader(src), csv.writer(fh)
        writer.writerow(next(reader))
        writer.writerows(r for r in reader if r[1] in keep)
    return out_q, out_f


# --- the runs (each in a child process, on a fresh database) ----------------------------------


def _setup(url: str) -> None:
    """Django on ``url`` with production settings and Celery eager (scoring runs in the
    import's process after commit, as in a deployment without a broker), then ``migrate``."""
    import secrets

    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("PSEUDONYM_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.pop("REDIS_URL", None)
    import logging

    import django
    from django.core.management import call_command

    django.setup()
    logging.disable(logging.INFO)
    call_command("migrate", verbosity=0)


def _fresh(kind: str, tag: str, base: str = "takeoff_pbimp") -> str:
    """A new empty database (dropped first if present) named after ``base`` (``--name``);
    returns its URL."""
    if kind == "sqlite":
        path = Path(f"/tmp/bench_import_scale_{base}_{tag}.sqlite3")
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    name = base if tag == "import" else f"{base}_{tag}"
    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


# The importer's stage announcements by first word; "Writing" alone is the tournament, the
# questions, the forecasters and the window checks, "Writing N forecasts" the forecasts.
STAGE_NAMES = {
    "Validating": "validating",
    "Computing": "crowd histories",
    "Recording": "resolutions",
    "Scoring": "scoring (after commit)",
}


def child_import(url: str, qpath: Path, fpath: Path, profile: bool) -> dict[str, object]:
    """Import the pair with ``import_forecasts``; the time of each announced stage."""
    _setup(url)
    from forecasts.importer import import_forecasts

    marks: list[tuple[str, float]] = []

    def stage(message: str) -> None:
        marks.append((message, time.perf_counter()))

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    pid = _backend_pid()
    db_cpu = _process_cpu(pid)
    cpu = time.process_time()
    start = time.perf_counter()
    report = import_forecasts(
        tournament_slug=SLUG, questions_path=qpath, forecasts_path=fpath, on_stage=stage
    )
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    db_cpu = _process_cpu(pid) - db_cpu
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
    marks.append(("end", start + wall))
    marks = [("Writing forecasts" if n.startswith("Writing ") else n, t) for n, t in marks]
    marks = [("Writing questions" if n == "Writing" else n, t) for n, t in marks]
    stages: dict[str, float] = {}
    for i, (name, at) in enumerate(marks[:-1]):
        key = STAGE_NAMES.get(name.split(" ")[0], name.lower())
        stages[key] = round(stages.get(key, 0.0) + marks[i + 1][1] - at, 3)
    from scoring.models import Score

    return {
        "wall": wall,
        "cpu": cpu,
        "db_cpu": db_cpu,
        "load": os.getloadavg()[0],
        "stages": stages,
        "questions": report.questions_created,
        "forecasts": report.forecasts_created,
        "forecasters": report.forecasters_created,
        "resolutions": report.resolutions_recorded,
        "scores": Score.objects.count(),
    }


def _backend_pid() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a local process (this connection's PostgreSQL backend);
    0 without one (SQLite works in this process)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_per_question(url: str, qpath: Path, fpath: Path) -> dict[str, object]:
    """The per-question path (before issue 14), through the same services: each question
    created, its crowd rebuilt (``crowd_recompute``) and resolved (``question_resolve``) one by
    one in one transaction; after commit each resolution's scoring task runs (eager), with its
    leaderboard rebuild."""
    _setup(url)
    from django.db import transaction
    from django.utils import timezone

    from forecasts.importer import parse_forecasts, parse_questions
    from forecasts.models import Forecast, Forecaster
    from forecasts.services import crowd_recompute
    from markets.models import Question, Resolution, Tournament
    from markets.resolution.manual import question_resolve

    start = time.perf_counter()
    qrows, _ = parse_questions(qpath)
    frows, _, _ = parse_forecasts(fpath, {q.key for q in qrows}, clip=False)
    now = timezone.now()
    with transaction.atomic():
        tournament = Tournament.objects.create(slug=SLUG, name=SLUG)
        questions = {}
        for r in qrows:
            assert r.open_time is not None and r.close_time is not None
            questions[r.key] = Question.objects.create(
                tournament=tournament,
                key=r.key,
                title=r.title,
                open_time=r.open_time,
                close_time=r.close_time,
                status=Question.Status.CLOSED,
            )
        keys = sorted({f.forecaster for f in frows})
        made = Forecaster.objects.bulk_create([Forecaster(source=SLUG, key=k) for k in keys])
        ids = {f.key: f.pk for f in made}
        Forecast.objects.bulk_create(
            [
                Forecast(
                    question=questions[f.question],
                    forecaster_id=ids[f.forecaster],
                    probability=f.probability,
                    time=f.time,
                )
                for f in frows
            ],
            batch_size=5000,
        )
        for q in questions.values():
            crowd_recompute(question_id=q.pk)
        for r in qrows:
            q = questions[r.key]
            assert r.outcome is not None
            question_resolve(
                question_id=q.pk,
                outcome=r.outcome,
                reason="per-question baseline",
                source=Resolution.Source.IMPORT,
                resolved_at=min(q.close_time, now),
                actor_label="import",
            )
    return {"wall": time.perf_counter() - start, "questions": len(qrows)}


def _run_child(args: list[str], cwd: Path | None = None) -> dict[str, object]:
    """Run this script as a child with ``args`` in ``cwd`` (the checkout whose code it runs:
    something at start-up puts the working directory first on ``sys.path``)."""
    import json
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, cwd=cwd or ROOT
    )
    if out.stderr.strip():
        print(out.stderr, file=sys.stderr)
    out.check_returncode()
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import json
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "pg"), default="sqlite")
    parser.add_argument("--questions", type=int, default=15_000)
    parser.add_argument("--forecasts", type=int, default=52_000)
    parser.add_argument("--forecasters", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--baseline", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--name", default="takeoff_pbimp", help="database / file name prefix")
    parser.add_argument("--against", type=Path, help="another checkout to time alongside")
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, url, qpath, fpath = args.child
        if what == "import":
            result = child_import(url, Path(qpath), Path(fpath), args.profile)
        else:
            result = child_per_question(url, Path(qpath), Path(fpath))
        print(json.dumps(result))
        return

    folder = Path(f"/tmp/bench_import_scale_{args.name}")
    t0 = time.perf_counter()
    qpath, fpath = make_files(
        folder / "full",
        questions=args.questions,
        forecasts=args.forecasts,
        forecasters=args.forecasters,
    )
    print(
        f"file: {args.questions:,} resolved questions, {args.forecasts:,} timed forecasts, "
        f"{args.forecasters:,} forecasters ({fpath.stat().st_size / 2**20:.1f} MiB), "
        f"made in {time.perf_counter() - t0:.1f} s"
    )
    walls: dict[str, list[float]] = {"this": [], "against": []}
    cpus: dict[str, list[float]] = {"this": [], "against": []}
    labels = {"this": f"this checkout ({ROOT})", "against": f"against {args.against}"}
    for run in range(args.runs):
        for which in ("this", "against") if args.against else ("this",):
            url = _fresh(args.db, "import", args.name)
            extra = ["--profile"] if args.profile else []
            if which == "against":
                extra += ["--root", str(args.against)]
            root = args.against if which == "against" else ROOT
            result = _run_child(["--child", "import", url, str(qpath), str(fpath), *extra], root)
            walls[which].append(float(result["wall"]))  # type: ignore[arg-type]
            cpus[which].append(float(result["cpu"]) + float(result["db_cpu"]))  # type: ignore[arg-type]
            stages = ", ".join(f"{k} {v:.1f} s" for k, v in result["stages"].items())  # type: ignore[attr-defined]
            print(
                f"run {run + 1}, {labels[which]}: {result['wall']:.1f} s wall, "
                f"{result['cpu']:.1f} s CPU in Python, {result['db_cpu']:.1f} s CPU in the "
                f"PostgreSQL backend, load average {result['load']:.1f} — {stages}"
            )
            print(
                f"       {result['questions']:,} questions, {result['forecasters']:,} forecasters, "
                f"{result['forecasts']:,} forecasts, {result['resolutions']:,} resolutions, "
                f"{result['scores']:,} score rows"
            )
    fast = statistics.median(walls["this"])
    print(
        f"batched import ({args.db}): median {fast:.1f} s wall, "
        f"{statistics.median(cpus['this']):.1f} s CPU (Python + PostgreSQL backend) over "
        f"{len(walls['this'])} run(s)"
    )
    if args.against:
        old_wall, old_cpu = statistics.median(walls["against"]), statistics.median(cpus["against"])
        print(
            f"against {args.against}: median {old_wall:.1f} s wall, {old_cpu:.1f} s CPU; "
            f"ratio old / new: wall {old_wall / fast:.2f}×, "
            f"CPU {old_cpu / statistics.median(cpus['this']):.2f}×"
        )
    if args.baseline:
        sq, sf = subset_files(qpath, fpath, folder / f"first{args.baseline}", args.baseline)
        url = _fresh(args.db, "baseline", args.name)
        base = _run_child(["--child", "per-question", url, str(sq), str(sf)])
        per_q = float(base["wall"]) / args.baseline  # type: ignore[arg-type]
        projected = per_q * args.questions
        print(
            f"per-question path on the first {args.baseline:,} questions: {base['wall']:.1f} s "
            f"({1000 * per_q:.0f} ms per question); extrapolated LINEARLY to {args.questions:,} "
            f"questions: {projected:.0f} s ({projected / 60:.1f} min; a lower bound: its "
            f"leaderboard rebuild per question grows with the tournament)"
        )
        print(f"ratio per-question (extrapolated) / batched: {projected / fast:.0f}×")
    print(machine_line_plain(args.db))


def machine_line_plain(db: str) -> str:
    import platform

    load = os.getloadavg()
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · numpy {np.__version__} · {db} · "
        f"load average at end {load[0]:.2f}"
    )


if __name__ == "__main__":
    main()
