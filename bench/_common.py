"""Shared setup for the database benchmarks (bench_crowd, bench_scoring, bench_acx).

- ``setup_django()``: PostgreSQL by default (``takeoff_bench`` on 127.0.0.1, created when
  missing), Celery *not* eager (tasks queue in the in-process ``memory://`` broker and never run,
  so an after-commit task — the median fill, the leaderboard rebuild — is not charged to the
  service that enqueued it; the benches run those steps explicitly and time them apart), then
  ``migrate``.
- Fast data generation with ``config.bulk.bulk_insert`` (COPY on PostgreSQL): forecasters,
  forecast logs from numpy arrays, with a tqdm bar.
- Cleanup by tournament slug with plain DELETEs in dependency order (the ORM's cascade would
  load a million Forecast rows into memory to find their CrowdPoints).
- Timing and memory: ``Timer``, percentiles, current and peak RSS.

Benchmarks print figures and assert nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/takeoff_bench"
UTC = dt.UTC
YEAR = 365 * 24 * 3600.0


# --- Django -------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """CREATE DATABASE when missing (PostgreSQL only)."""
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(*, migrate: bool = True) -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production settings (DEBUG off: no query log), so real keys are required: throwaway ones
    # for the run. Requests through the test client are plain HTTP.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("PSEUDONYM_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    # Tasks go to the in-process memory broker and stay there (no worker): see module docstring.
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.pop("REDIS_URL", None)
    url = os.environ["DATABASE_URL"]
    if url.startswith("postgres"):
        ensure_database(url)
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    from django.db import connection

    if connection.vendor != "postgresql":
        print(
            f"warning: running on {connection.vendor}; the figures that count are PostgreSQL's "
            f"(DATABASE_URL={DEFAULT_DB})",
            file=sys.stderr,
        )


def machine_line() -> str:
    from django.db import connection

    server = "sqlite"
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
    load = os.getloadavg()
    return (
        f"{dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores · "
        f"Python {platform.python_version()} · numpy {np.__version__} · "
        f"{connection.vendor} {server} · load average at start {load[0]:.2f}"
    )


# --- timing and memory ----------------------------------------------------------------------


class Timer:
    """``with Timer() as t: ...`` → ``t.wall``, ``t.cpu`` (this process's CPU seconds)."""

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100])."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(np.ceil(q / 100.0 * len(s))) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def peak_rss_mib() -> float:
    """High-water mark of this process's resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def backend_pid() -> int | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of another local process, e.g. this connection's backend."""
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


class Phases:
    """Time (and peak RSS after) each call of wrapped functions: ``f = phases.wrap("name", f)``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.rss: dict[str, float] = {}

    def wrap(self, name: str, fn: Any) -> Any:
        def inner(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.rss[name] = peak_rss_mib()

        return inner

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.rss[name] = peak_rss_mib()

    def reset(self) -> None:
        self.seconds.clear()
        self.rss.clear()

    def line(self, total: float, rest_label: str = "rest") -> str:
        parts = [f"{k} {v:.2f} s" for k, v in self.seconds.items()]
        parts.append(f"{rest_label} {total - sum(self.seconds.values()):.2f} s")
        return ", ".join(parts)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table; numbers are expected pre-formatted."""
    data = [[str(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in data)) if data else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in data:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(out)


# --- data -----------------------------------------------------------------------------------


def progress(iterable: Iterable[Any], total: int, desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    return iter(
        tqdm(
            iterable,
            total=total,
            desc=desc,
            unit="row",
            unit_scale=True,
            mininterval=0.5,
            leave=False,
            file=sys.stderr,
        )
    )


def iso_times(seconds: np.ndarray) -> list[str]:
    """Unix seconds → ISO 8601 UTC strings at microsecond precision (vectorized)."""
    us = np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype("datetime64[us]")
    return np.datetime_as_string(us, unit="us", timezone="UTC").tolist()


def make_tournament(slug: str, **fields: Any):
    from markets.models import Tournament

    return Tournament.objects.create(slug=slug, name=f"Bench: {slug}", min_forecasters=1, **fields)


def make_question(
    tournament, key: str, open_time: dt.datetime, close_time: dt.datetime, **fields: Any
):
    from markets.models import Question

    fields.setdefault("status", Question.Status.OPEN)
    return Question.objects.create(
        tournament=tournament,
        key=key,
        title=f"Bench question {key}",
        open_time=open_time,
        close_time=close_time,
        **fields,
    )


def make_forecasters(source: str, n: int, prefix: str = "f") -> np.ndarray:
    """Create ``n`` imported forecasters (source, key) with COPY; their ids in creation order."""
    from django.utils import timezone

    from config.bulk import bulk_insert
    from forecasts.models import Forecaster

    start = Forecaster.objects.filter(source=source).count()
    now = timezone.now()
    keys = [f"{prefix}{i:07d}" for i in range(start, start + n)]
    bulk_insert(
        Forecaster,
        ("source", "key", "created_at"),
        progress(zip(repeat(source), keys, repeat(now)), n, f"forecasters ({source})"),
    )
    ids = dict(Forecaster.objects.filter(source=source, key__in=keys).values_list("key", "id"))
    return np.array([ids[k] for k in keys], dtype=np.int64)


def insert_forecasts(
    question_id: int,
    times: np.ndarray,
    forecaster_ids: np.ndarray,
    probs: np.ndarray,
    track_record_weight: np.ndarray | None = None,
    desc: str = "forecasts",
) -> int:
    """COPY a forecast log (sorted by time; NaN probability = withdrawal) into Forecast rows.

    Ids are assigned in row order, so (time, id) order is the given order.
    """
    from config.bulk import bulk_insert
    from forecasts.models import Forecast

    n = len(times)
    probs = np.asarray(probs, dtype=np.float64)
    withdrawal = np.isnan(probs)
    kinds = np.where(withdrawal, "withdrawal", "forecast").tolist()
    p = [None if w else v for w, v in zip(withdrawal.tolist(), probs.tolist(), strict=True)]
    acc = (
        np.ones(n)
        if track_record_weight is None
        else np.asarray(track_record_weight, dtype=np.float64)
    )
    rows = zip(
        repeat(question_id),
        np.asarray(forecaster_ids).tolist(),
        kinds,
        p,
        iso_times(times),
        repeat(""),
        acc.tolist(),
    )
    return bulk_insert(
        Forecast,
        (
            "question_id",
            "forecaster_id",
            "kind",
            "probability",
            "time",
            "rationale",
            "track_record_weight",
        ),
        progress(rows, n, desc),
    )


def analyze(*models: Any) -> None:
    """Refresh planner statistics after a bulk load (autovacuum would, a little later)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def cleanup(slug: str) -> None:
    """Delete a bench tournament and everything hanging off it, plus its imported forecasters."""
    from django.db import connection, transaction

    from forecasts.models import (
        CohortState,
        CrowdPoint,
        CrowdState,
        Forecast,
        Forecaster,
        MedianCheckpoint,
        TrackRecordWeight,
    )
    from markets.models import AuditRecord, Question, Resolution, Tournament
    from scoring.models import LeaderboardEntry, Score

    t = connection.ops.quote_name
    tid = Tournament.objects.filter(slug=slug).values_list("id", flat=True).first()
    with transaction.atomic(), connection.cursor() as cursor:
        if tid is not None:
            q = f"(SELECT id FROM {t(Question._meta.db_table)} WHERE tournament_id = %s)"
            for model in (
                CrowdPoint,
                Score,
                CrowdState,
                CohortState,
                MedianCheckpoint,
                AuditRecord,
                Forecast,
            ):
                cursor.execute(
                    f"DELETE FROM {t(model._meta.db_table)} WHERE question_id IN {q}", [tid]
                )
            for model in (LeaderboardEntry, TrackRecordWeight):
                cursor.execute(
                    f"DELETE FROM {t(model._meta.db_table)} WHERE tournament_id = %s", [tid]
                )
            cursor.execute(
                f"DELETE FROM {t(Resolution._meta.db_table)} WHERE question_id IN {q}", [tid]
            )
            cursor.execute(
                f"DELETE FROM {t(Question._meta.db_table)} WHERE tournament_id = %s", [tid]
            )
            members = Tournament.members.through._meta.db_table
            cursor.execute(f"DELETE FROM {t(members)} WHERE tournament_id = %s", [tid])
            cursor.execute(f"DELETE FROM {t(Tournament._meta.db_table)} WHERE id = %s", [tid])
        # Imported forecasters are keyed by source = slug; only delete those left with no rows.
        f = t(Forecaster._meta.db_table)
        unused = " ".join(
            f"AND NOT EXISTS (SELECT 1 FROM {t(m._meta.db_table)} x WHERE x.forecaster_id = {f}.id)"
            for m in (Forecast, Score, LeaderboardEntry, TrackRecordWeight)
        )
        cursor.execute(f"DELETE FROM {f} WHERE source = %s {unused}", [slug])


def fmt_s(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def fmt_ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"
