"""A parent and a child resolved at the same moment, in two transactions (docs/methods.md §14.2).

Without a lock, each transaction reads the other's resolution as not there yet (read committed)
and neither resolves the taken branch. ``conditional_reconcile`` locks the conditional row: the
second transaction waits for the first to commit, then sees its resolution. Real threads, each
with its own database connection (PostgreSQL in CI; SQLite serializes the writers anyway).
"""

from __future__ import annotations

import datetime as dt
import os
import threading

import pytest
from django.db import connection, transaction

from markets.models import Question, Resolution
from markets.questions import conditional_create
from markets.resolution.manual import question_resolve
from tests.factories import QuestionFactory, TournamentFactory

UTC = dt.UTC
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


# The test database on SQLite is shared-cache in memory: a second writer gets "database table
# is locked" at once instead of waiting, so there is no interleaving to test. CI runs it.
@pytest.mark.skipif(not ON_POSTGRES, reason="needs two concurrent writers (PostgreSQL)")
@pytest.mark.django_db(transaction=True)
def test_parent_and_child_resolved_concurrently_still_carry_the_taken_branch():
    tournament = TournamentFactory()
    parent = QuestionFactory(tournament=tournament)
    child = QuestionFactory(tournament=tournament)
    c = conditional_create(
        parent=parent, child=child, open_time=dt.datetime(2025, 1, 1, tzinfo=UTC)
    )
    parent_locked = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def resolve_parent() -> None:
        try:
            with transaction.atomic():
                question_resolve(question_id=parent.pk, outcome=Resolution.Outcome.YES)
                parent_locked.set()  # the conditional row is locked until this commits
                release.wait(timeout=10)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            parent_locked.set()
        finally:
            connection.close()

    def resolve_child() -> None:
        try:
            question_resolve(question_id=child.pk, outcome=Resolution.Outcome.NO)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=resolve_parent)
    first.start()
    assert parent_locked.wait(timeout=10)
    second = threading.Thread(target=resolve_child)
    second.start()
    second.join(timeout=0.5)  # blocked behind the first transaction
    release.set()
    first.join(timeout=20)
    second.join(timeout=20)
    assert not errors, errors
    yes = Question.objects.get(pk=c.if_yes_id)
    no = Question.objects.get(pk=c.if_no_id)
    assert yes.resolutions.get(state="final").outcome == "no"
    assert no.resolutions.get(state="final").outcome == "annulled"
