"""enqueue_debounced: one pending run per task and arguments, re-armed when the run starts."""

from __future__ import annotations

from config.celery import enqueue_debounced, release_debounced


class RecordingTask:
    name = "tests.recording"

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, float]] = []

    def apply_async(self, args: tuple, countdown: float) -> None:
        self.calls.append((args, countdown))


def test_triggers_before_the_run_starts_enqueue_once():
    task = RecordingTask()
    assert enqueue_debounced(task, 7, delay=2.0)
    assert not enqueue_debounced(task, 7, delay=2.0)
    assert enqueue_debounced(task, 8, delay=2.0)  # other arguments: their own run
    assert task.calls == [((7,), 2.0), ((8,), 2.0)]


def test_a_trigger_after_the_run_started_schedules_the_next_run():
    task = RecordingTask()
    enqueue_debounced(task, 7, delay=2.0)
    release_debounced(task, 7)  # what the task does first thing
    assert enqueue_debounced(task, 7, delay=2.0)
    assert len(task.calls) == 2
