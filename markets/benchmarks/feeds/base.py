"""Types and helpers shared by the feed parsers. Standard library only — never Django.

Policy shared by every parser, so that a snapshot fails loudly rather than half-silently:

- A record whose value is *missing* (absent, null, empty, ``-``, NaN) is skipped and logged.
- A value that is present but cannot be read (text where a number belongs, a negative time,
  a percentage above 100, a fraction where a percentage belongs) fails the whole feed.
- A feed that yields no result at all fails: an empty leaderboard is a broken fetch, not news.
- Several records of one system on one benchmark are collapsed to the best one, the others kept
  in ``extra["other_entries"]``: the ingest service keeps one current result per (benchmark,
  system), and two rows of a single snapshot must not look like a revision of each other.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

logger = logging.getLogger("markets.benchmarks.feeds")

MAX_FEED_BYTES = 20 * 1024 * 1024
SYSTEM_MAX_CHARS = 300  # BenchmarkResult.system
SOURCE_URL_MAX_CHARS = 500  # BenchmarkResult.source_url

# Benchmarks whose unit is a percentage (0-100); every other one (METR) is minutes.
PERCENT_BENCHMARK_PREFIXES = ("swe-bench-", "mle-bench-", "core-bench-", "posttrainbench")


@dataclass(frozen=True)
class ParsedResult:
    """One published result, in the benchmark's unit (minutes for METR, percent otherwise)."""

    benchmark: str
    system: str
    value: float
    achieved_on: dt.date | None = None
    source_url: str = ""
    # JSON-serializable details; excluded from hashing so that results can live in sets.
    extra: dict[str, Any] = field(default_factory=dict, hash=False)


class FeedParseError(ValueError):
    """The raw bytes of a feed cannot be turned into results; the message says what and where."""


class Feed(Protocol):
    """A feed's parser. ``whole_table``: each file is the source's whole table (a new file
    replaces the last one), so a result of this feed missing from its latest snapshot is no
    longer current (the ingest service retires it); otherwise files add to what is known."""

    name: str
    parser_version: str
    default_benchmarks: tuple[str, ...]
    whole_table: bool

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]: ...


def check_size(raw: bytes, *, feed: str) -> None:
    """Refuse input over MAX_FEED_BYTES before any copy or decode: a huge upload costs nothing."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(f"{feed}: raw feed content must be bytes, not {type(raw).__name__}")
    size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if size > MAX_FEED_BYTES:
        raise FeedParseError(size_error(feed, size))


def size_error(feed: str, size: int) -> str:
    return (
        f"{feed}: input is {size:,} bytes, over the limit of {MAX_FEED_BYTES:,} bytes "
        f"({MAX_FEED_BYTES // (1024 * 1024)} MiB); refusing to parse it"
    )


def decode_text(raw: bytes, *, feed: str) -> str:
    """Size-check, then decode UTF-8 (a leading BOM is dropped). Refuses empty and binary input."""
    check_size(raw, feed=feed)
    data = raw if isinstance(raw, bytes) else bytes(raw)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FeedParseError(f"{feed}: input looks like UTF-16 (byte-order mark); expected UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FeedParseError(
            f"{feed}: input is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}, line {line})"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise FeedParseError(f"{feed}: input contains NUL bytes (line {line}); binary file?")
    if not text.strip():
        raise FeedParseError(f"{feed}: input is empty")
    return text


_MISSING_TEXT = frozenset({"", "-", "\u2014", "\u2013", "n/a", "na", "nan", "none", "null"})
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def to_float(value: object, *, where: str) -> float | None:
    """A number from a feed field: ``None`` when missing, FeedParseError when unreadable."""
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int: True must not become 1.0
        raise FeedParseError(f"{where}: expected a number, got the boolean {value}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        # No thousands separators: "12,5" would be ambiguous (12.5 or 125), so it fails.
        text = value.strip()
        if text.lower() in _MISSING_TEXT:
            return None
        if not _NUMBER_RE.fullmatch(text):
            raise FeedParseError(f"{where}: expected a number, got {value!r}")
        number = float(text)
    else:
        raise FeedParseError(f"{where}: expected a number, got {type(value).__name__}")
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise FeedParseError(f"{where}: value is infinite")
    return number


def check_value(benchmark: str, value: float, *, where: str) -> float:
    """Reject values outside the benchmark's unit: negative, or a percentage above 100."""
    if value < 0:
        raise FeedParseError(f"{where}: negative value {value:g} for {benchmark}")
    if benchmark.startswith(PERCENT_BENCHMARK_PREFIXES) and value > 100:
        raise FeedParseError(f"{where}: {value:g} is not a percentage (0-100) for {benchmark}")
    return value


_DATE_FORMATS = ("%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y")


def parse_date(value: object) -> dt.date | None:
    """Tolerant date reading: ISO dates and datetimes, a few common spellings; else ``None``.

    Month-only ("2025-06") and day-first/month-first slash dates are ambiguous and give ``None``.
    """
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text.replace(" UTC", "+00:00")).date()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def clean_url(url: object) -> str:
    """A usable http(s) link for ``source_url``, or ``""``."""
    if not isinstance(url, str):
        return ""
    url = url.strip()
    if not re.match(r"https?://\S+$", url) or len(url) > SOURCE_URL_MAX_CHARS:
        return ""
    return url


def clean_system(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip()
    if len(name) > SYSTEM_MAX_CHARS:
        name = name[: SYSTEM_MAX_CHARS - 1].rstrip() + "…"
    return name


def make_result(
    *,
    benchmark: str,
    system: str,
    value: float,
    where: str,
    achieved_on: dt.date | None = None,
    source_url: object = "",
    extra: dict[str, Any] | None = None,
) -> ParsedResult:
    system = clean_system(system)
    if not system:
        raise FeedParseError(f"{where}: the system name is empty")
    extra = dict(extra or {})
    url = clean_url(source_url)
    if source_url and not url:
        extra["source_url_raw"] = str(source_url)
    return ParsedResult(
        benchmark=benchmark,
        system=system,
        value=check_value(benchmark, value, where=where),
        achieved_on=achieved_on,
        source_url=url,
        extra=extra,
    )


def finish(results: Iterable[ParsedResult], *, feed: str) -> list[ParsedResult]:
    """Collapse duplicates to the best entry per (benchmark, system); refuse an empty outcome.

    Best = highest value (every benchmark here is higher-is-better); on a tie, the earlier
    ``achieved_on``, then feed order. Feed order is otherwise preserved.
    """
    groups: dict[tuple[str, str], list[ParsedResult]] = {}
    for result in results:
        groups.setdefault((result.benchmark, result.system), []).append(result)
    if not groups:
        raise FeedParseError(f"{feed}: no results found")
    out: list[ParsedResult] = []
    for entries in groups.values():
        if len(entries) == 1:
            out.append(entries[0])
            continue
        best = max(
            enumerate(entries),
            key=lambda pair: (
                pair[1].value,
                -(pair[1].achieved_on or dt.date.max).toordinal(),
                -pair[0],
            ),
        )[1]
        others = [
            {
                "value": other.value,
                "achieved_on": other.achieved_on.isoformat() if other.achieved_on else None,
                "source_url": other.source_url,
                "extra": other.extra,
            }
            for other in entries
            if other is not best
        ]
        logger.info(
            "%s: %d entries for %s on %s; keeping %g",
            feed,
            len(entries),
            best.system,
            best.benchmark,
            best.value,
        )
        out.append(replace(best, extra={**best.extra, "other_entries": others}))
    return out


def skip(feed: str, where: str, why: str) -> None:
    logger.warning("%s: skipped %s: %s", feed, where, why)
