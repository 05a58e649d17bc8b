"""Play-money trades under load next to forecast submissions, same server, same run.

Prints figures, asserts nothing (STYLE). Reuses ``bench_api_load``'s harness (gunicorn +
PostgreSQL + Redis on loopback, minimal keep-alive asyncio clients):

    .venv/bin/python bench/bench_trading_load.py      # BENCH_SECONDS, BENCH_CLIENTS, ...

1. ``bench_api_load.setup``: a tournament with ``BENCH_QUESTIONS`` open questions and one
   token per client; the tournament opts in to markets (grant 10⁹) and each question gets a
   market (b = 100) — through ``trading.services``.
2. Phase A: the clients POST /api/v1/forecasts/ for ``BENCH_SECONDS`` (the baseline).
3. Phase B: the same clients POST /api/v1/trading/trades/ (buy 1–10 shares of a random outcome
   of a random question) for ``BENCH_SECONDS``. A trade locks its market row (trades on one
   question serialize, docs/methods.md §15.6), writes the trade, two ledger entries, two cached
   balances and a position.
4. Per phase: accepted/s, p50/p99 latency; the ratio trades/s ÷ submissions/s; trade rows
   counted afterwards (must equal the accepted requests) and ``ledger_verify``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_api_load as base  # noqa: E402
from bench._common import ensure_database, percentile  # noqa: E402

TRADE_HEAD = (
    "POST /api/v1/trading/trades/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
    "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
)


def open_markets(qids: list[int]) -> None:
    from markets.models import Tournament
    from trading.services import market_open, tournament_markets_set

    tournament = Tournament.objects.get(slug=base.SLUG)
    tournament_markets_set(tournament_id=tournament.pk, starting_grant="1000000000")
    for qid in qids:
        market_open(question_id=qid, b="100")


async def trade_client(
    port: int, token: str, qids: list[int], until: float, out: list, seed: int
) -> None:
    """``bench_api_load.client`` with trades instead of forecasts."""
    rng = random.Random(seed)
    reader = writer = None
    while time.monotonic() < until:
        body = json.dumps(
            {
                "question": rng.choice(qids),
                "outcome": rng.randint(0, 1),
                "shares": rng.randint(1, 10),
            }
        ).encode()
        request = TRADE_HEAD.format(token=token, length=len(body)).encode() + body
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


async def trade_load(port: int, tokens: list[str], qids: list[int], seconds: float) -> list:
    results: list = []
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(trade_client(port, t, qids, until, results, seed=i) for i, t in enumerate(tokens))
    )
    return results


def summary(name: str, results: list, elapsed: float) -> float:
    statuses = Counter(status for _, _, status in results)
    accepted = statuses.get(201, 0)
    latencies = sorted(lat * 1000 for _, lat, _ in results) or [0.0]
    print(
        f"{name}: {accepted} accepted in {elapsed:.1f} s = {accepted / elapsed:.1f}/s; latency ms "
        f"p50 {percentile(latencies, 50):.1f}, p99 {percentile(latencies, 99):.1f}; "
        f"other statuses {dict(statuses - Counter({201: accepted}))}"
    )
    return accepted / elapsed


def main() -> None:
    ensure_database(base.DATABASE_URL)
    tokens, qids = base.setup()
    open_markets(qids)
    from trading.models import Trade
    from trading.services import ledger_verify

    base.flush_redis()
    port = base.free_port()
    server = base.start_gunicorn(port)
    try:
        asyncio.run(base.load(port, tokens, qids, 5.0))  # warm-up
        asyncio.run(trade_load(port, tokens, qids, 5.0))
        trades_before = Trade.objects.count()
        started = time.perf_counter()
        forecasts = asyncio.run(base.load(port, tokens, qids, base.SECONDS))
        forecast_elapsed = time.perf_counter() - started
        started = time.perf_counter()
        trades = asyncio.run(trade_load(port, tokens, qids, base.SECONDS))
        trade_elapsed = time.perf_counter() - started
    finally:
        base.stop(server)
    base.flush_redis()
    print(
        f"gunicorn {base.WORKERS} {base.WORKER_CLASS} workers x {base.THREADS} threads, "
        f"PostgreSQL, Redis; {base.CLIENTS} clients, {base.QUESTIONS} questions, "
        f"{base.SECONDS:.0f} s per phase, {os.cpu_count()} CPUs"
    )
    submissions = summary("forecast submissions", forecasts, forecast_elapsed)
    traded = summary("trades", trades, trade_elapsed)
    print(f"ratio trades/s ÷ submissions/s: {traded / submissions:.2f}")
    accepted = sum(1 for _, _, s in trades if s == 201)
    rows = Trade.objects.count() - trades_before
    print(
        f"trade rows written: {rows}; accepted trades: {accepted} "
        f"({'equal' if rows == accepted else 'DIFFERENT'})"
    )
    problems = ledger_verify()
    print(f"ledger_verify: {'OK' if not problems else problems[:5]}")


if __name__ == "__main__":
    main()
