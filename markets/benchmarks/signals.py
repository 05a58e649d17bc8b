"""What ingestion tells the rest of the system.

``results_changed`` is sent inside the transaction that added or revised results, with
``benchmark_ids`` (the benchmarks whose current results changed), ``now`` (the ingestion time)
and ``trigger`` (a label for logs and audit records, e.g. ``ingest:snapshot:12``). Receivers run
in that transaction, so what they write commits or rolls back with the results; the milestone
rules subscribe (``markets.resolution.milestones.milestones_after_results``, connected in
``MarketsConfig.ready``). Ingestion itself knows nothing about questions.
"""

from django.dispatch import Signal

results_changed = Signal()


def send_results_changed(*, benchmark_ids: set[int] | list[int], now, trigger: str) -> None:
    """Tell subscribers that these benchmarks' current results changed (inside the caller's
    transaction). A receiver's exception propagates and rolls the ingestion back."""
    results_changed.send(
        sender="markets.benchmarks", benchmark_ids=list(benchmark_ids), now=now, trigger=trigger
    )
