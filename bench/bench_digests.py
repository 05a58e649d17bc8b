"""Daily digests for 100,000 followers on 10,000 questions, in bounded memory.

Prints figures, asserts nothing. Needs PostgreSQL (DATABASE_URL; default takeoff_bench):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/takeoff_bench \
        .venv/bin/python bench/bench_digests.py

Steps (sizes: ``BENCH_USERS`` default 100,000, ``BENCH_QUESTIONS`` default 10,000, each user
follows ``BENCH_FOLLOWS`` default 5 questions → 500,000 follows):
1. Build the users, the questions (all closing within 24 hours) and the follows (COPY).
2. ``community.jobs.notify_all``: the producers, question by question → one "closes within 24
   hours" notification per follow. Wall time and notifications/s.
3. In a child process each (so that peak RSS is the phase's own):
   - naive baseline: read every pending notification into memory, group by person, render
     each email (what a "load it all, then loop" job does);
   - ours: ``digest_recipients`` (streamed by id, 500 at a time) → ``digests_send`` per batch of
     100 people, as the beat task enqueues them (claim, render, send over one connection of
     Django's email framework — the dummy backend here —, mark sent), in one transaction rolled
     back at the end so that every run sees the same data.
   Wall time, digests/s, peak RSS. Both at the full size and at a tenth of the people
   (``--limit``): ours must show the same peak RSS at both sizes, the naive one grows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

USERS = int(os.environ.get("BENCH_USERS", "100000"))
QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "10000"))
FOLLOWS = int(os.environ.get("BENCH_FOLLOWS", "5"))
SLUG = "bench-digests"
PREFIX = "bdig"


def _setup() -> None:
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.dummy.EmailBackend"
    from _common import setup_django

    setup_django()


def cleanup() -> None:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "DELETE FROM community_notification WHERE user_id IN "
            "(SELECT id FROM auth_user WHERE username LIKE %s)",
            [PREFIX + "%"],
        )
        c.execute(
            "DELETE FROM community_digest WHERE user_id IN "
            "(SELECT id FROM auth_user WHERE username LIKE %s)",
            [PREFIX + "%"],
        )
        c.execute(
            "DELETE FROM community_follow WHERE user_id IN "
            "(SELECT id FROM auth_user WHERE username LIKE %s)",
            [PREFIX + "%"],
        )
        c.execute(
            "DELETE FROM markets_question WHERE tournament_id IN "
            "(SELECT id FROM markets_tournament WHERE slug = %s)",
            [SLUG],
        )
        c.execute("DELETE FROM markets_tournament WHERE slug = %s", [SLUG])
        c.execute("DELETE FROM auth_user WHERE username LIKE %s", [PREFIX + "%"])


def build() -> None:
    import numpy as np
    from _common import Timer
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from community.models import Follow
    from config.bulk import bulk_insert
    from markets.models import Question, Tournament

    now = timezone.now()
    with Timer() as t:
        user_model = get_user_model()
        users = (
            user_model(username=f"{PREFIX}{i}", email=f"{PREFIX}{i}@example.org", password="!")
            for i in range(USERS)
        )
        batch: list = []
        for user in users:
            batch.append(user)
            if len(batch) == 5000:
                user_model.objects.bulk_create(batch)
                batch = []
        if batch:
            user_model.objects.bulk_create(batch)
        tournament = Tournament.objects.create(slug=SLUG, name="Bench digests")
        Question.objects.bulk_create(
            (
                Question(
                    tournament=tournament,
                    key=f"q{i}",
                    title=f"Will benchmark event {i} happen?",
                    open_time=now - dt.timedelta(days=30),
                    close_time=now + dt.timedelta(hours=12),
                    status=Question.Status.OPEN,
                )
                for i in range(QUESTIONS)
            ),
            batch_size=5000,
        )
        user_ids = np.array(
            user_model.objects.filter(username__startswith=PREFIX)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        question_ids = np.array(
            Question.objects.filter(tournament=tournament)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        rng = np.random.default_rng(17)
        rows = (
            (int(uid), int(qid), None, now)
            for uid in user_ids
            for qid in rng.choice(question_ids, size=FOLLOWS, replace=False)
        )
        count = bulk_insert(Follow, ["user_id", "question_id", "tournament_id", "created_at"], rows)
    print(f"built {USERS:,} users, {QUESTIONS:,} questions, {count:,} follows in {t.wall:.1f} s")


def produce() -> None:
    from _common import Timer
    from django.utils import timezone

    from community.jobs import notify_all
    from community.models import Notification

    with Timer() as t:
        made = notify_all(now=timezone.now())
    total = Notification.objects.filter(user__username__startswith=PREFIX).count()
    print(
        f"producers: {made:,} new notifications ({total:,} pending) in {t.wall:.1f} s "
        f"({made / t.wall:,.0f}/s)"
    )


def phase(name: str, limit: int) -> dict:
    """Run one digest phase in a child process; returns its JSON figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--limit", str(limit)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_phase(name: str, limit: int) -> None:
    _setup()
    from _common import peak_rss_mib
    from django.db import transaction
    from django.template.loader import render_to_string
    from django.utils import timezone

    from community.jobs import digest_recipients, digests_send
    from community.models import Notification
    from community.tasks import DIGEST_BATCH

    day = timezone.now().date()
    start_rss = peak_rss_mib()
    t0 = time.perf_counter()
    count = 0
    if name == "naive":
        # Everything in memory at once, then one email each (rendered, not sent or claimed).
        pending = list(
            Notification.objects.filter(
                digest__isnull=True, user__username__startswith=PREFIX
            ).select_related("user", "question__tournament")
        )
        by_user: dict[int, list] = {}
        for n in pending:
            by_user.setdefault(n.user_id, []).append(n)
        for uid in sorted(by_user)[:limit]:
            notes = by_user[uid]
            render_to_string(
                "community/email/digest.html",
                {"user": notes[0].user, "notifications": notes, "kind_links": []},
            )
            count += 1
    else:
        # Ours, rolled back at the end so the naive run and the next size see the same data.
        with transaction.atomic():
            batch: list[int] = []
            for uid in digest_recipients(day=day):
                if count + len(batch) >= limit:
                    break
                batch.append(uid)
                if len(batch) == DIGEST_BATCH:
                    count += digests_send(user_ids=batch, day=day)
                    batch = []
            if batch:
                count += digests_send(user_ids=batch, day=day)
            transaction.set_rollback(True)
    wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "phase": name,
                "digests": count,
                "wall": wall,
                "rss_start": start_rss,
                "rss_peak": peak_rss_mib(),
            }
        )
    )


def main() -> None:
    if "--phase" in sys.argv:
        name = sys.argv[sys.argv.index("--phase") + 1]
        limit = int(sys.argv[sys.argv.index("--limit") + 1])
        run_phase(name, limit)
        return
    _setup()
    from _common import machine_line, table

    print(machine_line())
    cleanup()
    build()
    produce()
    rows = []
    for limit in (USERS // 10, USERS):
        for name in ("naive", "ours"):
            r = phase(name, limit)
            rows.append(
                (
                    name,
                    f"{r['digests']:,}",
                    f"{r['wall']:.1f}",
                    f"{r['digests'] / r['wall']:,.0f}",
                    f"{r['rss_start']:.0f}",
                    f"{r['rss_peak']:.0f}",
                )
            )
    print(
        table(
            ["method", "digests", "wall s", "digests/s", "RSS at start MiB", "peak RSS MiB"], rows
        )
    )
    cleanup()


if __name__ == "__main__":
    main()
