"""The SQLite settings (issue 20, case 1): writers queue, readers do not hold the write lock.

Run in a process of its own on a SQLite file with the project's settings, whatever database
the suite runs on (CI: PostgreSQL). Two threads, each with its own connection: a reader that
reads, waits for a writer, and reads again; a writer that inserts a row meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, threading, time
from django.db import OperationalError, connection, transaction
from forecasts.exports import snapshot  # an export's read: config.sqlite.read_transaction

WAIT = 1.5  # seconds the reader keeps its transaction open for the writer

with connection.cursor() as c:
    c.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, v INTEGER)")
    c.execute("PRAGMA journal_mode")
    journal = c.fetchone()[0]
connection.close()


def run(block):
    started, wrote, reader_done = threading.Event(), threading.Event(), threading.Event()
    out = {}

    def count():
        with connection.cursor() as c:
            c.execute("SELECT count(*) FROM probe")
            return c.fetchone()[0]

    def reader():
        try:
            with block():
                out["first"] = count()
                started.set()
                wrote.wait(WAIT)
                out["second"] = count()
        finally:
            reader_done.set()
            connection.close()

    def writer():
        started.wait()
        t = time.monotonic()
        try:
            with transaction.atomic():
                with connection.cursor() as c:
                    c.execute("INSERT INTO probe (v) VALUES (1)")
            out["wrote_while_reading"] = not reader_done.is_set()
            out["write_seconds"] = round(time.monotonic() - t, 2)
        except OperationalError as exc:
            out["error"] = str(exc)
        finally:
            wrote.set()
            connection.close()

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


print(json.dumps({
    "journal_mode": journal,
    "export snapshot": run(snapshot),
    "atomic": run(transaction.atomic),
}))
"""


def test_a_reader_holds_no_write_lock_and_a_second_writer_waits(tmp_path):
    """In an export's read transaction (``forecasts.exports.snapshot`` →
    ``config.sqlite.read_transaction``) the reader keeps its snapshot (0 rows both times) while
    the writer commits at once. In an ordinary (IMMEDIATE) transaction the writer waits for it and
    then succeeds: it is queued, not refused with "database is locked"."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["journal_mode"] == "wal"

    reading = seen["export snapshot"]
    assert "error" not in reading, reading
    assert reading["wrote_while_reading"] is True
    assert reading["write_seconds"] < 1.0
    assert (reading["first"], reading["second"]) == (0, 0)  # its snapshot

    queued = seen["atomic"]
    assert "error" not in queued, queued
    assert queued["wrote_while_reading"] is False
    assert queued["write_seconds"] >= 1.0
    assert (queued["first"], queued["second"]) == (1, 1)
