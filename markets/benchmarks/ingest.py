"""Ingesting benchmark feeds: raw bytes -> FeedSnapshot + BenchmarkResults, and the HTTP fetch.

Every ingestion records a FeedSnapshot, failures included, with the raw bytes (up to
``MAX_FEED_BYTES``), their SHA-256 and the parser version. Rules:

- Bytes identical to an earlier successfully parsed snapshot of the same feed (same parser
  version) are not parsed again: the snapshot is ``unchanged`` and nothing else is written.
- A feed that cannot be parsed records a ``failed`` snapshot with the parser's message and
  changes nothing else: parsing happens before any result is written, and the results of one
  snapshot are written in one transaction.
- A result for a new (benchmark, system) is added. A changed value or achievement date for an
  existing one is a revision: a new row with ``revision_of`` pointing at the old one, which stops
  being current.
- A system missing from a later snapshot: for a feed that publishes its whole table
  (``Feed.whole_table``: METR, Epoch), the source no longer stands by its result, which is
  *retired*: no longer current, with ``retired_at`` and ``retired_in`` (this snapshot). Only
  the feed's own current results on the benchmarks the snapshot covers are retired (never those
  of another feed on the same benchmark, nor results entered by hand). For the other feeds, a
  file adds to what is known and a missing system keeps its result. A retired system that
  comes back in a later snapshot is added again.
- Results that changed (added, revised or retired) are announced with
  :data:`markets.benchmarks.signals.results_changed` inside the same transaction (the milestone
  rules subscribe to it).

The parsers in :mod:`markets.benchmarks.feeds` are pure; this module is where they meet the
database. Nothing here knows about questions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.db import transaction
from django.utils import timezone

from markets.actors import actor_or_none
from markets.benchmarks.feeds import FEEDS, MAX_FEED_BYTES, FeedParseError, ParsedResult, parse_feed
from markets.benchmarks.feeds.base import PERCENT_BENCHMARK_PREFIXES, clean_system
from markets.benchmarks.models import Benchmark, BenchmarkResult, FeedSnapshot
from markets.benchmarks.signals import send_results_changed

logger = logging.getLogger("markets.benchmarks.ingest")

Outcome = FeedSnapshot.Outcome

FETCH_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "Takeoff feed poller (+https://github.com/takeoff)"

# Names and units for benchmarks a feed brings in before anyone created them by hand.
KNOWN_BENCHMARKS: dict[str, dict[str, str]] = {
    "metr-p50": {
        "name": "METR time horizon (p50)",
        "unit": "minutes",
        "description": "Length of human task an AI agent completes with 50% success.",
        "source_url": "https://metr.org/",
    },
    "swe-bench-verified": {
        "name": "SWE-bench Verified",
        "unit": "% resolved",
        "description": "Share of real GitHub issues resolved (human-verified subset).",
        "source_url": "https://www.swebench.com/",
    },
    "swe-bench-lite": {
        "name": "SWE-bench Lite",
        "unit": "% resolved",
        "description": "Share of real GitHub issues resolved (Lite subset).",
        "source_url": "https://www.swebench.com/",
    },
    "swe-bench-full": {
        "name": "SWE-bench (full test set)",
        "unit": "% resolved",
        "description": "Share of real GitHub issues resolved (full test set).",
        "source_url": "https://www.swebench.com/",
    },
    "swe-bench-bash-only": {
        "name": "SWE-bench bash-only",
        "unit": "% resolved",
        "description": "SWE-bench Verified with a minimal bash-only agent.",
        "source_url": "https://www.swebench.com/",
    },
    "swe-bench-multimodal": {
        "name": "SWE-bench Multimodal",
        "unit": "% resolved",
        "description": "Share of visual, user-facing JavaScript issues resolved.",
        "source_url": "https://www.swebench.com/",
    },
    "mle-bench-all": {
        "name": "MLE-bench (All)",
        "unit": "% any medal",
        "description": "Kaggle competitions in which the agent earns any medal, 75 competitions.",
        "source_url": "https://github.com/openai/mle-bench",
    },
    "core-bench-hard": {
        "name": "CORE-Bench Hard",
        "unit": "% accuracy",
        "description": "Reproducing published research code.",
        "source_url": "https://hal.cs.princeton.edu/corebench_hard",
    },
    "posttrainbench": {
        "name": "PostTrainBench",
        "unit": "weighted avg %",
        "description": "Agents post-training weaker open models; instruct baseline 51.1.",
        "source_url": "https://posttrainbench.com/",
    },
}


class UnknownFeed(ValueError):
    """No parser is registered under this feed name."""


class FeedFetchError(Exception):
    """An HTTP fetch that did not produce bytes to ingest; ``retryable`` for transient causes."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class IngestResult:
    snapshot: FeedSnapshot
    added: int = 0
    revised: int = 0
    unchanged: int = 0
    retired: int = 0
    duplicate_of: int | None = None  # the earlier snapshot with the same bytes

    @property
    def ok(self) -> bool:
        return self.snapshot.outcome != Outcome.FAILED

    @property
    def error(self) -> str:
        return self.snapshot.error


def benchmark_defaults(slug: str) -> dict[str, str]:
    known = KNOWN_BENCHMARKS.get(slug)
    if known is not None:
        return dict(known)
    base, _, version = slug.rpartition("-v")
    if version.replace("-", "").isdigit() and base in KNOWN_BENCHMARKS:
        known = dict(KNOWN_BENCHMARKS[base])  # another version of a known benchmark
        known["name"] = f"{known['name']} v{version.replace('-', '.')}"
        return known
    if slug.startswith("swe-bench-"):
        board = slug.removeprefix("swe-bench-").replace("-", " ")
        return {"name": f"SWE-bench {board.title()}", "unit": "% resolved"}
    percent = slug.startswith(PERCENT_BENCHMARK_PREFIXES)
    return {"name": slug.replace("-", " ").title(), "unit": "%" if percent else ""}


def _filename(source: str) -> str:
    path = urlsplit(source).path if "://" in source else source
    return posixpath.basename(path.replace("\\", "/"))


def _same_bytes(feed: str, sha256: str, parser_version: str) -> int | None:
    return (
        FeedSnapshot.objects.filter(
            feed=feed, sha256=sha256, parser_version=parser_version, outcome=Outcome.OK
        )
        .order_by("fetched_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )


def _same_result(current: BenchmarkResult, value: float, achieved_on: dt.date | None) -> bool:
    return (
        math.isclose(current.value, value, rel_tol=1e-9, abs_tol=1e-9)
        and current.achieved_on == achieved_on
    )


def feed_record_failure(
    *,
    feed: str,
    source: str,
    error: str,
    raw: bytes | None = None,
    size: int | None = None,
    etag: str = "",
    last_modified: str = "",
) -> FeedSnapshot:
    """Record a failed ingestion (unparseable bytes, an oversized file, a fetch that failed).

    ``raw`` is None when no bytes arrived; bytes over MAX_FEED_BYTES are hashed but not kept.
    """
    parser = FEEDS.get(feed)
    keep = raw if raw is not None and len(raw) <= MAX_FEED_BYTES else b""
    return FeedSnapshot.objects.create(
        feed=feed,
        source=source[:500],
        fetched_at=timezone.now(),
        etag=etag[:200],
        last_modified=last_modified[:100],
        sha256=hashlib.sha256(raw).hexdigest() if raw is not None else "",
        raw=keep,
        size=(len(raw) if raw is not None else 0) if size is None else size,
        parser_version=parser.parser_version if parser else "",
        outcome=Outcome.FAILED,
        error=error,
    )


def feed_ingest(
    *, feed: str, raw: bytes, source: str, etag: str = "", last_modified: str = ""
) -> IngestResult:
    """Ingest one feed's raw bytes. Never raises for bad content: see the snapshot's outcome."""
    parser = FEEDS.get(feed)
    if parser is None:
        raise UnknownFeed(f"Unknown feed {feed!r}; known feeds: {', '.join(sorted(FEEDS))}.")
    raw = bytes(raw)
    sha256 = hashlib.sha256(raw).hexdigest()
    fields: dict[str, Any] = {
        "feed": feed,
        "source": source[:500],
        "etag": etag[:200],
        "last_modified": last_modified[:100],
        "sha256": sha256,
        "size": len(raw),
        "parser_version": parser.parser_version,
    }
    if len(raw) <= MAX_FEED_BYTES:
        earlier = _same_bytes(feed, sha256, parser.parser_version)
        if earlier is not None:
            snapshot = FeedSnapshot.objects.create(**fields, outcome=Outcome.UNCHANGED)
            return IngestResult(snapshot=snapshot, duplicate_of=earlier)
    try:
        parsed = parse_feed(feed, raw, filename=_filename(source))
    except FeedParseError as exc:
        error = str(exc)
    except Exception as exc:  # a parser bug must fail the snapshot, not half-ingest
        logger.exception("%s: parser crashed on %s", feed, source)
        error = f"{feed}: the parser failed unexpectedly ({type(exc).__name__}: {exc})"
    else:
        return _store_snapshot(fields, raw, parsed)
    snapshot = feed_record_failure(
        feed=feed, source=source, error=error, raw=raw, etag=etag, last_modified=last_modified
    )
    logger.warning("%s: snapshot %s failed: %s", feed, snapshot.pk, error)
    return IngestResult(snapshot=snapshot)


@transaction.atomic
def _store_snapshot(fields: dict[str, Any], raw: bytes, parsed: list[ParsedResult]) -> IngestResult:
    now = timezone.now()
    benchmarks = _lock_benchmarks({p.benchmark for p in parsed})
    # Checked again under the benchmark locks: two workers fetching the same bytes at once.
    earlier = _same_bytes(fields["feed"], fields["sha256"], fields["parser_version"])
    if earlier is not None:
        snapshot = FeedSnapshot.objects.create(**fields, fetched_at=now, outcome=Outcome.UNCHANGED)
        return IngestResult(snapshot=snapshot, duplicate_of=earlier)
    snapshot = FeedSnapshot.objects.create(**fields, fetched_at=now, raw=raw, outcome=Outcome.OK)
    current = {
        (r.benchmark_id, r.system): r
        for r in BenchmarkResult.objects.filter(benchmark__in=benchmarks.values(), is_current=True)
    }
    counts = {"added": 0, "revised": 0, "unchanged": 0}
    changed: set[int] = set()
    for item in parsed:
        benchmark = benchmarks[item.benchmark]
        _, status = _record(
            benchmark,
            current.get((benchmark.pk, item.system)),
            system=item.system,
            value=item.value,
            achieved_on=item.achieved_on,
            source_url=item.source_url,
            extra=item.extra,
            snapshot=snapshot,
            now=now,
        )
        counts[status] += 1
        if status != "unchanged":
            changed.add(benchmark.pk)
    retired = 0
    if FEEDS[fields["feed"]].whole_table:
        seen = {(benchmarks[p.benchmark].pk, p.system) for p in parsed}
        retired, retired_benchmarks = _retire_missing(
            [b.pk for b in benchmarks.values()], seen, snapshot=snapshot, now=now
        )
        changed |= retired_benchmarks
    snapshot.results_added = counts["added"]
    snapshot.results_revised = counts["revised"]
    snapshot.results_retired = retired
    snapshot.save(update_fields=["results_added", "results_revised", "results_retired"])
    if changed:
        send_results_changed(
            benchmark_ids=changed, now=now, trigger=f"ingest:snapshot:{snapshot.pk}"
        )
    logger.info(
        "%s: snapshot %s: %d added, %d revised, %d unchanged, %d retired",
        fields["feed"],
        snapshot.pk,
        counts["added"],
        counts["revised"],
        counts["unchanged"],
        retired,
    )
    return IngestResult(snapshot=snapshot, retired=retired, **counts)


def _retire_missing(
    benchmark_ids: list[int],
    seen: set[tuple[int, str]],
    *,
    snapshot: FeedSnapshot,
    now: dt.datetime,
) -> tuple[int, set[int]]:
    """Retire the current results of ``snapshot``'s feed on ``benchmark_ids`` whose (benchmark,
    system) is not in ``seen`` (the whole-table snapshot just stored). The caller holds the
    benchmarks' locks. Returns how many were retired and on which benchmarks."""
    missing = [
        (pk, benchmark_id)
        for pk, benchmark_id, system in BenchmarkResult.objects.filter(
            benchmark_id__in=benchmark_ids, is_current=True, snapshot__feed=snapshot.feed
        ).values_list("pk", "benchmark_id", "system")
        if (benchmark_id, system) not in seen
    ]
    if not missing:
        return 0, set()
    retired = BenchmarkResult.objects.filter(
        pk__in=[pk for pk, _ in missing], is_current=True
    ).update(is_current=False, retired_at=now, retired_in=snapshot)
    assert retired == len(missing), "the benchmark locks serialize writers"
    return retired, {benchmark_id for _, benchmark_id in missing}


def _lock_benchmarks(slugs: set[str]) -> dict[str, Benchmark]:
    """Get or create the benchmarks, then lock them: one writer of results per benchmark."""
    for slug in sorted(slugs):
        Benchmark.objects.get_or_create(slug=slug, defaults=benchmark_defaults(slug))
    locked = Benchmark.objects.select_for_update().filter(slug__in=slugs).order_by("pk")
    return {b.slug: b for b in locked}


def _record(
    benchmark: Benchmark,
    current: BenchmarkResult | None,
    *,
    system: str,
    value: float,
    achieved_on: dt.date | None,
    source_url: str,
    extra: dict[str, Any],
    snapshot: FeedSnapshot | None,
    now: dt.datetime,
    user: Any = None,
) -> tuple[BenchmarkResult, str]:
    """Add, revise or keep one result; the caller holds the benchmark's lock."""
    if current is not None and _same_result(current, value, achieved_on):
        return current, "unchanged"
    if current is not None:
        updated = BenchmarkResult.objects.filter(pk=current.pk, is_current=True).update(
            is_current=False
        )
        assert updated == 1, "the benchmark lock serializes writers"
    result = BenchmarkResult.objects.create(
        benchmark=benchmark,
        system=system,
        value=value,
        achieved_on=achieved_on,
        source_url=source_url,
        first_seen=now,
        snapshot=snapshot,
        entered_by=actor_or_none(user),
        revision_of=current,
        is_current=True,
        extra=extra,
    )
    return result, "added" if current is None else "revised"


@transaction.atomic
def benchmark_result_record(
    *,
    benchmark_id: int,
    system: str,
    value: float,
    achieved_on: dt.date | None = None,
    source_url: str = "",
    extra: dict[str, Any] | None = None,
    user: Any = None,
) -> tuple[BenchmarkResult, str]:
    """Record a result entered by hand (admin): added, revised or unchanged, like a feed's."""
    system = clean_system(system)
    if not system:
        raise ValueError("A result needs the system's name.")
    if not math.isfinite(value):
        raise ValueError("A result's value must be a finite number.")
    now = timezone.now()
    benchmark = Benchmark.objects.select_for_update().get(pk=benchmark_id)
    current = BenchmarkResult.objects.filter(
        benchmark=benchmark, system=system, is_current=True
    ).first()
    result, status = _record(
        benchmark,
        current,
        system=system,
        value=value,
        achieved_on=achieved_on,
        source_url=source_url,
        extra=dict(extra or {}),
        snapshot=None,
        now=now,
        user=user,
    )
    if status != "unchanged":
        send_results_changed(
            benchmark_ids=[benchmark.pk], now=now, trigger=f"manual:result:{result.pk}"
        )
    return result, status


# --- HTTP ------------------------------------------------------------------------------------


def http_client() -> httpx.Client:
    return httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True)


def _conditional_base(feed: str, url: str) -> FeedSnapshot | None:
    """The last snapshot of this URL whose content we hold: its validators make the request
    conditional. A failed snapshot is skipped, so a fixed parser gets the bytes again."""
    return (
        FeedSnapshot.objects.filter(feed=feed, source=url[:500])
        .exclude(outcome=Outcome.FAILED)
        .order_by("-fetched_at", "-pk")
        .first()
    )


def feed_fetch(*, feed: str, url: str, client: httpx.Client | None = None) -> IngestResult:
    """Fetch ``url`` conditionally and ingest it; 304 records an ``unchanged`` snapshot.

    Raises FeedFetchError when no bytes arrived (network error, HTTP error status); the caller
    decides between retrying and :func:`feed_record_failure`. An oversized body is not retried:
    it is recorded as failed here.
    """
    parser = FEEDS.get(feed)
    if parser is None:
        raise UnknownFeed(f"Unknown feed {feed!r}; known feeds: {', '.join(sorted(FEEDS))}.")
    base = _conditional_base(feed, url)
    headers = {"User-Agent": USER_AGENT}
    if base is not None and base.etag:
        headers["If-None-Match"] = base.etag
    if base is not None and base.last_modified:
        headers["If-Modified-Since"] = base.last_modified
    own_client = client is None
    http = client or http_client()
    try:
        with http.stream("GET", url, headers=headers) as response:
            status = response.status_code
            etag = response.headers.get("ETag", "")
            last_modified = response.headers.get("Last-Modified", "")
            if status == 304 and base is not None:
                snapshot = FeedSnapshot.objects.create(
                    feed=feed,
                    source=url[:500],
                    etag=(etag or base.etag)[:200],
                    last_modified=(last_modified or base.last_modified)[:100],
                    sha256=base.sha256,
                    size=0,
                    parser_version=parser.parser_version,
                    outcome=Outcome.UNCHANGED,
                )
                return IngestResult(snapshot=snapshot)
            if status == 429 or status >= 500:
                raise FeedFetchError(f"{feed}: HTTP {status} from {url}", retryable=True)
            if not 200 <= status < 300:
                raise FeedFetchError(f"{feed}: HTTP {status} from {url}", retryable=False)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
                return _too_large(feed, url, int(declared), etag, last_modified)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    return _too_large(feed, url, size, etag, last_modified, at_least=True)
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FeedFetchError(f"{feed}: fetching {url} failed: {exc!r}", retryable=True) from exc
    finally:
        if own_client:
            http.close()
    return feed_ingest(
        feed=feed, raw=b"".join(chunks), source=url, etag=etag, last_modified=last_modified
    )


def _too_large(
    feed: str, url: str, size: int, etag: str, last_modified: str, *, at_least: bool = False
) -> IngestResult:
    amount = f"more than {MAX_FEED_BYTES:,}" if at_least else f"{size:,}"
    error = (
        f"{feed}: the response from {url} is {amount} bytes, over the limit of "
        f"{MAX_FEED_BYTES:,} bytes ({MAX_FEED_BYTES // (1024 * 1024)} MiB); download stopped"
    )
    snapshot = feed_record_failure(
        feed=feed, source=url, error=error, size=size, etag=etag, last_modified=last_modified
    )
    return IngestResult(snapshot=snapshot)
