"""Crowd export at scale: a 1,000,000-point history exported as CSV, verified, then tampered with.

Prints figures, asserts nothing (STYLE: benchmarks print, tests assert). Needs PostgreSQL:

    createdb -h 127.0.0.1 -U postgres takeoff_bench     # the script creates it when missing
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \
        .venv/bin/python bench/bench_export.py

Steps:
1. Build one question with N forecast events (default 1,000,000; ``BENCH_POINTS``) from 5,000
   imported forecasters, written with PostgreSQL COPY (psycopg 3 ``cursor.copy``); its crowd
   history is computed by ``forecasts.history.pool_history`` — the function ``crowd_recompute``
   uses — and COPYed as N CrowdPoint rows.
2. ``manage.py export_crowd --format csv`` in a child process: wall time, rows/s, peak RSS, and
   the wall time less start-up (``manage.py export_crowd --help``). In-process, the CSV rendering
   alone and the CSV file + manifest (what export_crowd does after start-up) are timed too.
   Each timing runs ``BENCH_REPEAT`` times (default 3; the machine may be shared) and prints
   its range. A 10x smaller history is exported too: equal peak RSS shows the export runs in
   constant memory. The SHA-256 of the CSV and the manifest's input digest are printed, to
   compare the bytes across versions of the code.
3. ``manage.py verify_export`` on the manifest: must say MATCH.
4. One forecast's probability is changed in the database: verify_export must say MISMATCH (exit
   status 1). The change is then undone and verify_export matches again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/takeoff_bench"
os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

POINTS = int(os.environ.get("BENCH_POINTS", "1000000"))
REPEAT = max(int(os.environ.get("BENCH_REPEAT", "3")), 1)
SMALL = max(POINTS // 10, 1)
FORECASTERS = 5000
SLUG = "bench-export"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        sys.exit("bench_export needs PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def build_question(key: str, n: int, forecasters: list[int]) -> int:
    """N forecast events on one question, COPYed, and its crowd history, COPYed."""
    import numpy as np
    from django.db import connection, transaction

    from forecasts.history import pool_history
    from forecasts.models import CrowdPoint, CrowdState, Forecast
    from markets.models import Question, Tournament

    tournament = Tournament.objects.get(slug=SLUG)
    question = Question.objects.create(
        tournament=tournament,
        key=key,
        title=f"Benchmark question with {n:,} forecast events",
        open_time=T0,
        close_time=T0 + dt.timedelta(days=3650),
        status=Question.Status.OPEN,
    )
    rng = np.random.default_rng(2026 + n)
    who = rng.integers(0, len(forecasters), size=n)
    probs = np.round(rng.uniform(0.001, 0.999, size=n), 3)
    # One event per second, plus a sub-second offset: distinct, increasing times.
    micros = np.arange(n, dtype=np.int64) * 1_000_000 + rng.integers(0, 999_999, size=n)
    ids = np.asarray(forecasters, dtype=np.int64)[who]
    base = T0.timestamp()
    f_table = Forecast._meta.db_table
    p_table = CrowdPoint._meta.db_table
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        with raw.copy(
            f"COPY {f_table} (question_id, forecaster_id, kind, probability, time, rationale, "
            "track_record_weight) FROM STDIN"
        ) as copy:
            for fid, p, us in zip(ids.tolist(), probs.tolist(), micros.tolist(), strict=True):
                t = dt.datetime.fromtimestamp(base + us / 1e6, tz=dt.UTC)
                copy.write_row((question.pk, fid, "forecast", p, t, "", 1.0))
        rows = Forecast.objects.filter(question=question).order_by("time", "id")
        event_ids = list(rows.values_list("id", flat=True))
        times = (base + micros / 1e6).astype(np.float64)
        hist = pool_history(times, ids, probs.astype(np.float64))
        with raw.copy(
            f"COPY {p_table} (question_id, seq, time, forecasters, probability, median, mean, "
            "forecast_id) FROM STDIN"
        ) as copy:
            for i in range(n):
                t = dt.datetime.fromtimestamp(base + int(micros[i]) / 1e6, tz=dt.UTC)
                copy.write_row(
                    (
                        question.pk,
                        i + 1,
                        t,
                        int(hist.forecasters[i]),
                        float(hist.probability[i]),
                        float(hist.median[i]),
                        float(hist.mean[i]),
                        event_ids[i],
                    )
                )
        CrowdState.objects.update_or_create(
            question=question,
            defaults={
                "forecasters": int(hist.forecasters[-1]),
                "probability": float(hist.probability[-1]),
                "median": float(hist.median[-1]),
                "mean": float(hist.mean[-1]),
                "events": n,
            },
        )
        cur.execute(f"ANALYZE {f_table}; ANALYZE {p_table}")
    return question.pk


def build() -> None:
    from django.db import connection

    from forecasts.models import CrowdPoint, Forecast, Forecaster
    from markets.models import Tournament

    old = Tournament.objects.filter(slug=SLUG).first()
    if old is not None:
        with connection.cursor() as cur:
            qids = list(old.questions.values_list("id", flat=True))
            if qids:
                cur.execute(
                    f"DELETE FROM {CrowdPoint._meta.db_table} WHERE question_id = ANY(%s)", [qids]
                )
                cur.execute(
                    f"DELETE FROM {Forecast._meta.db_table} WHERE question_id = ANY(%s)", [qids]
                )
        old.delete()
    Tournament.objects.create(slug=SLUG, name="Export benchmark", min_forecasters=1)
    Forecaster.objects.filter(source=SLUG).delete()
    Forecaster.objects.bulk_create(
        [Forecaster(source=SLUG, key=f"bench-{i:05d}") for i in range(FORECASTERS)]
    )
    forecasters = list(Forecaster.objects.filter(source=SLUG).values_list("id", flat=True))
    started = time.perf_counter()
    build_question("big", POINTS, forecasters)
    build_question("small", SMALL, forecasters)
    print(
        f"build: {POINTS:,} + {SMALL:,} forecast events and crowd points via COPY in "
        f"{time.perf_counter() - started:.1f} s"
    )


# The child reports its own peak RSS, VmHWM of its address space: ru_maxrss (getrusage, wait4)
# survives exec on Linux and would count the pages the child shared with this large process
# between fork and exec.
RSS_WRAPPER = (
    "import atexit, re, runpy, sys\n"
    "def peak():\n"
    "    status = open('/proc/self/status').read()\n"
    "    kb = int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
    "    print('PEAK_RSS_KB=%d' % kb, file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def manage_rss(*args: str) -> tuple[int, float, float, str]:
    """Run manage.py in a child: (exit status, wall seconds, its peak RSS in MiB, output)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, str(ROOT / "manage.py"), *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        cwd=ROOT,
    )
    wall = time.perf_counter() - started
    peak = 0.0
    lines = []
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.startswith("PEAK_RSS_KB="):
            peak = int(line.split("=")[1]) / 1024
        else:
            lines.append(line)
    return proc.returncode, wall, peak, "\n".join(lines)


def render_only(question_key: str) -> tuple[int, float]:
    """In-process: the CSV bytes alone (no input digest), streamed to nowhere."""
    from forecasts import exports
    from markets.models import Tournament

    export = exports.crowd_export_plan(
        tournament=Tournament.objects.get(slug=SLUG),
        fmt="csv",
        question_key=question_key,
        as_of=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    )
    result = exports.RenderResult()
    started = time.perf_counter()
    for _ in exports.render(export, result):
        pass
    return result.rows, time.perf_counter() - started


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """``a`` or ``a–b``: the range of repeated measurements."""
    lo, hi = min(values), max(values)
    return (
        fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"
    )


def rates(rows: int, seconds: list[float]) -> str:
    return spread([rows / s for s in seconds], "{:,.0f}") + " rows/s"


def main() -> None:
    setup_django()
    from django.db import connection

    from forecasts.models import Forecast
    from markets.models import Question

    print(
        f"PostgreSQL {connection.cursor().connection.info.server_version}, database "
        f"{connection.settings_dict['NAME']}, {POINTS:,} points, {REPEAT} run(s) per timing"
    )
    if os.environ.get("BENCH_REUSE") and Question.objects.filter(tournament__slug=SLUG).exists():
        print("build: reusing the existing benchmark history (BENCH_REUSE)")
    else:
        build()
    out_dir = Path(tempfile.mkdtemp(prefix="takeoff-bench-export-"))
    as_of = "2100-01-01T00:00:00Z"

    runs = [render_only("big") for _ in range(REPEAT)]
    rows = runs[0][0]
    seconds = [s for _, s in runs]
    print(
        f"CSV rendering alone (in-process): {rows:,} rows in {spread(seconds)} s "
        f"= {rates(rows, seconds)}"
    )

    from forecasts import exports
    from markets.models import Tournament

    inproc = out_dir / "inprocess.csv"
    export = exports.crowd_export_plan(
        tournament=Tournament.objects.get(slug=SLUG),
        fmt="csv",
        question_key="big",
        as_of=exports.parse_as_of(as_of),
    )
    seconds = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        exports.write_export(export, inproc)
        seconds.append(time.perf_counter() - started)
    print(
        f"CSV file + manifest (input digest over {POINTS:,} forecast events), in-process: "
        f"{spread(seconds)} s = {rates(POINTS, seconds)}"
    )

    def export_crowd(key: str, path: Path) -> tuple[int, float, float, str]:
        return manage_rss(
            "export_crowd",
            "--tournament",
            SLUG,
            "--question",
            key,
            "--format",
            "csv",
            "--output",
            str(path),
            "--as-of",
            as_of,
            "--no-progress",
        )

    # Start-up: Python, Django and the command's imports, with no database work.
    startup = [manage_rss("export_crowd", "--help")[1:3] for _ in range(REPEAT)]
    start_wall = sorted(w for w, _ in startup)[len(startup) // 2]
    big = out_dir / "big.csv"
    children = [export_crowd("big", big) for _ in range(REPEAT)]
    code, _, rss, out = children[-1]
    walls = [w for _, w, _, _ in children]
    print(
        f"export_crowd (CSV + manifest with input digest), {POINTS:,} rows: {spread(walls)} s "
        f"wall = {rates(POINTS, walls)} incl. process start; less Django start-up "
        f"({start_wall:.2f} s, export_crowd --help): "
        f"{rates(POINTS, [w - start_wall for w in walls])}; "
        f"peak RSS {spread([r for _, _, r, _ in children], '{:.0f}')} MiB; "
        f"{big.stat().st_size / 2**20:.0f} MiB written (exit {code})"
    )
    manifest = big.with_name(big.name + ".manifest.json")
    digest = json.loads(manifest.read_text())["input"]
    print(
        f"    bytes: CSV sha256 {exports.sha256_file(big)}, "
        f"input sha256 {digest['sha256']} ({digest['forecast_events']:,} events)"
    )
    small = out_dir / "small.csv"
    _, wall_s, rss_s, _ = export_crowd("small", small)
    print(
        f"export_crowd, {SMALL:,} rows: {wall_s:.2f} s; peak RSS {rss_s:.0f} MiB "
        f"(constant memory: {rss:.0f} MiB for 10x the rows)"
    )
    print(
        f"baseline: export_crowd --help peak RSS {spread([r for _, r in startup], '{:.0f}')} MiB "
        f"({spread([w for w, _ in startup])} s)"
    )
    if code:
        print(out)

    children = [manage_rss("verify_export", str(manifest), "--no-progress") for _ in range(REPEAT)]
    code, _, rss, out = children[-1]
    print(
        f"verify_export: exit {code} in {spread([w for _, w, _, _ in children])} s, peak RSS "
        f"{rss:.0f} MiB: {out.strip().splitlines()[-1]}"
    )

    question = Question.objects.get(tournament__slug=SLUG, key="big")
    victim = Forecast.objects.filter(question=question).order_by("time", "id")[POINTS // 2]
    original = victim.probability
    Forecast.objects.filter(pk=victim.pk).update(probability=0.5 if original != 0.5 else 0.51)
    code, wall, _, out = manage_rss("verify_export", str(manifest), "--no-progress")
    lines = [line for line in out.strip().splitlines() if line.strip()]
    print(f"after changing forecast {victim.pk} ({original} → other): exit {code} in {wall:.2f} s")
    for line in lines[-4:]:
        print(f"    {line}")
    Forecast.objects.filter(pk=victim.pk).update(probability=original)
    code, wall, _, out = manage_rss("verify_export", str(manifest), "--no-progress")
    print(f"after undoing the change: exit {code}: {out.strip().splitlines()[-1]}")
    print(f"files in {out_dir}")


if __name__ == "__main__":
    main()
