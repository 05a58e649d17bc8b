"""Forecast submissions under load: gunicorn + PostgreSQL, 32 concurrent clients for 60 s.

Prints figures, asserts nothing (STYLE). Everything runs on this machine, on loopback:

    .venv/bin/python bench/bench_api_load.py        # BENCH_SECONDS, BENCH_CLIENTS, BENCH_WORKERS

1. A fresh database (``takeoff_bench_load``, created when missing) gets a tournament with
   ``QUESTIONS`` open questions and one user with an API token per client.
2. gunicorn serves ``config.wsgi`` on 127.0.0.1 (``BENCH_WORKERS`` gthread workers, DEBUG off,
   PostgreSQL, Redis DB 15 as cache and Celery broker — the production layout; no Celery worker
   runs, so the after-commit median fills wait in the queue, which is flushed at the end).
3. ``BENCH_CLIENTS`` asyncio clients (keep-alive, a minimal HTTP/1.1 client) POST
   /api/v1/forecasts/ back to back for ``BENCH_SECONDS``: each a random question and probability.
4. Requests per second, p50/p99 latency, errors by status — and the forecast rows counted in the
   database afterwards, which must equal the accepted (201) requests exactly.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import ensure_database, percentile, process_cpu  # noqa: E402

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/takeoff_bench_load"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "gthread")
QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "32"))
# Keep-alive connections each gthread worker takes; by default the clients spread evenly.
WORKER_CONNECTIONS = int(os.environ.get("BENCH_WORKER_CONNECTIONS", -(-CLIENTS // WORKERS)))
SLUG = "bench-load"

SERVER_ENV = {
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(40),
    "PSEUDONYM_KEY": secrets.token_urlsafe(40),
    "SECURE_SSL_REDIRECT": "false",  # plain HTTP on the loopback, no proxy in front
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    "CONN_MAX_AGE": "600",
    "WEB_ACCESS_LOG": "",  # no access log: this measures the application
    # Generous limits: this measures throughput, not the throttles.
    "THROTTLE_USER": "100000/min",
    "THROTTLE_ANON": "100000/min",
}


def setup() -> tuple[list[str], list[int]]:
    """Migrate, and create the tournament, questions and one token per client."""
    os.environ.update({k: v for k, v in SERVER_ENV.items() if k != "REDIS_URL"})
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from markets.models import Question, Tournament

    call_command("migrate", verbosity=0)
    Tournament.objects.filter(slug=SLUG).delete()
    tournament = Tournament.objects.create(slug=SLUG, name="Load benchmark", min_forecasters=1)
    now = dt.datetime.now(dt.UTC)
    qids = [
        Question.objects.create(
            tournament=tournament,
            key=f"load-{i}",
            title=f"Load question {i}",
            open_time=now - dt.timedelta(days=1),
            close_time=now + dt.timedelta(days=30),
            status=Question.Status.OPEN,
        ).pk
        for i in range(QUESTIONS)
    ]
    User = get_user_model()
    tokens = []
    for i in range(CLIENTS):
        user, _ = User.objects.get_or_create(username=f"load-client-{i}")
        Token.objects.filter(user=user).delete()
        tokens.append(Token.objects.create(user=user).key)
    vacuum()
    return tokens, qids


def vacuum() -> None:
    """VACUUM ANALYZE the database: reclaim the rows earlier runs deleted.

    Autovacuum is off on this machine's PostgreSQL (``SHOW autovacuum``), so without this each
    run would start on the dead rows of the ones before it; a production server vacuums them.
    """
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def forecast_rows() -> int:
    from forecasts.models import Forecast

    return Forecast.objects.filter(question__tournament__slug=SLUG).count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int) -> subprocess.Popen:
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "-c", "config/gunicorn.py",  # the production settings, overridden where stated here
        "config.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(WORKERS),
        "--worker-class", WORKER_CLASS,
        "--threads", str(THREADS),
        "--worker-connections", str(WORKER_CONNECTIONS),
        "--keep-alive", "30",
        "--backlog", "256",
        "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, **SERVER_ENV}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


def stop(proc: subprocess.Popen) -> None:
    """Stop the gunicorn we started (its own process group: master and workers)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


REQUEST_HEAD = (
    "POST /api/v1/forecasts/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
    "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
)


async def client(
    port: int, token: str, qids: list[int], until: float, out: list, seed: int
) -> None:
    """One keep-alive connection posting forecasts back to back.

    A minimal HTTP/1.1 client on asyncio streams: it costs a small fraction of the server's CPU
    per request, so the two cores measure the server rather than the load generator (httpx
    took about as much CPU per request as the server itself).
    """
    rng = random.Random(seed)
    reader = writer = None
    while time.monotonic() < until:
        body = json.dumps(
            {"question": rng.choice(qids), "probability": round(rng.uniform(0.01, 0.99), 3)}
        ).encode()
        request = REQUEST_HEAD.format(token=token, length=len(body)).encode() + body
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status: int | str = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            status, close = type(exc).__name__, True
        out.append((started, time.perf_counter() - started, status))
        if close and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def load(port: int, tokens: list[str], qids: list[int], seconds: float) -> list:
    results: list = []
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(client(port, t, qids, until, results, seed=i) for i, t in enumerate(tokens))
    )
    return results


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (0 for one that is gone)."""
    return sum(c for c in map(process_cpu, pids) if not math.isnan(c))


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def server_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def postgres_pids() -> list[int]:
    """Backends serving the benchmark database (the server's connections)."""
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(DATABASE_URL) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [pid for (pid,) in rows]


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def main() -> None:
    ensure_database(DATABASE_URL)
    tokens, qids = setup()
    flush_redis()
    port = free_port()
    server = start_gunicorn(port)
    try:
        asyncio.run(load(port, tokens, qids, 5.0))  # warm-up: every thread's connection
        before = forecast_rows()
        gunicorn, backends = server_pids(server.pid), postgres_pids()
        cpu_before = (cpu_seconds(gunicorn), cpu_seconds(backends), time.process_time())
        busy_before = machine_busy_seconds()
        started = time.perf_counter()
        results = asyncio.run(load(port, tokens, qids, SECONDS))
        elapsed = time.perf_counter() - started
        cpu_after = (cpu_seconds(gunicorn), cpu_seconds(backends), time.process_time())
        busy = machine_busy_seconds() - busy_before
    finally:
        stop(server)
    after = forecast_rows()
    flush_redis()

    statuses = Counter(status for _, _, status in results)
    accepted = statuses.get(201, 0)
    latencies = sorted(lat * 1000 for _, lat, _ in results)
    errors = len(results) - accepted
    print(
        f"gunicorn {WORKERS} {WORKER_CLASS} workers x {THREADS} threads "
        f"(up to {WORKER_CONNECTIONS} connections each), PostgreSQL, Redis; "
        f"{CLIENTS} clients, {QUESTIONS} questions, {SECONDS:.0f} s on loopback, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"requests: {len(results)} in {elapsed:.1f} s = {len(results) / elapsed:.1f} req/s")
    print(f"accepted (201): {accepted} = {accepted / elapsed:.1f} submissions/s")
    print(
        f"latency ms: p50 {percentile(latencies, 50):.1f}, p90 {percentile(latencies, 90):.1f}, "
        f"p99 {percentile(latencies, 99):.1f}, max {latencies[-1]:.1f}"
    )
    print(f"errors: {errors} {dict(statuses - Counter({201: accepted}))}")
    first = min(start for start, _, _ in results)
    windows = Counter(int((start - first) // 10) for start, _, _ in results)
    print(
        "requests/s in each 10 s: "
        + ", ".join(f"{windows[w] / 10:.0f}" for w in range(int(SECONDS // 10)))
    )
    n = max(len(results), 1)
    used = [(b - a) * 1000 / n for a, b in zip(cpu_before, cpu_after, strict=True)]
    print(
        f"CPU per request: gunicorn {used[0]:.2f} ms, PostgreSQL backends {used[1]:.2f} ms, "
        f"load generator {used[2]:.2f} ms"
    )
    ours = sum(b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    print(
        f"machine: {busy / elapsed:.2f} of {os.cpu_count()} cores busy; this benchmark's "
        f"processes {ours / elapsed:.2f}, everything else {(busy - ours) / elapsed:.2f}"
    )
    rows = after - before
    verdict = "equal" if rows == accepted else "DIFFERENT"
    print(
        f"forecast rows written during the run: {rows}; accepted requests: {accepted} ({verdict})"
    )


if __name__ == "__main__":
    main()
