"""Pure parsers for benchmark feeds: raw bytes in, :class:`ParsedResult` rows out.

No Django here (the ingest service stores snapshots and results); only the standard library
and PyYAML. Every failure to read a feed is a :class:`FeedParseError` saying what and where.

Benchmark slugs produced:

- ``metr``: metr-p50 (minutes)
- ``epoch``: metr-p50 (minutes; Epoch's copy of METR's numbers)
- ``swebench``: swe-bench-verified, swe-bench-lite, swe-bench-full (the "Test" board),
  swe-bench-bash-only, swe-bench-multimodal; an unknown board X gives swe-bench-<slug of X>
- ``mlebench``: mle-bench-all (percent of competitions with any medal)
- ``posttrainbench``: posttrainbench (weighted average, percent)
- ``corebench``: core-bench-hard (accuracy, percent)

Feeds whose every file is the source's whole table (``whole_table``): ``metr`` and ``epoch``. The
ingest service retires their results that a later snapshot no longer has.
"""

from __future__ import annotations

from .base import MAX_FEED_BYTES, Feed, FeedParseError, ParsedResult, check_size
from .corebench import CoreBenchFeed
from .epoch import EpochFeed
from .metr import MetrFeed
from .mlebench import MleBenchFeed
from .posttrainbench import (
    DEFAULT_FACTORS as POSTTRAINBENCH_FACTORS,
)
from .posttrainbench import (
    PostTrainBenchFeed,
    posttrainbench_instruct_baseline,
)
from .swebench import SweBenchFeed

__all__ = [
    "FEEDS",
    "MAX_FEED_BYTES",
    "POSTTRAINBENCH_FACTORS",
    "CoreBenchFeed",
    "EpochFeed",
    "Feed",
    "FeedParseError",
    "MetrFeed",
    "MleBenchFeed",
    "ParsedResult",
    "PostTrainBenchFeed",
    "SweBenchFeed",
    "parse_feed",
    "posttrainbench_instruct_baseline",
]

FEEDS: dict[str, Feed] = {
    feed.name: feed
    for feed in (
        MetrFeed(),
        SweBenchFeed(),
        MleBenchFeed(),
        PostTrainBenchFeed(),
        EpochFeed(),
        CoreBenchFeed(),
    )
}


def parse_feed(feed: str, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
    """Parse ``raw`` with the parser registered as ``feed``.

    Raises FeedParseError for an unknown feed name, input over MAX_FEED_BYTES (checked before
    anything is decoded), empty or non-UTF-8 input, and anything the feed's parser cannot read.
    """
    check_size(raw, feed=feed)
    parser = FEEDS.get(feed)
    if parser is None:
        raise FeedParseError(f"unknown feed {feed!r}; known feeds: {', '.join(sorted(FEEDS))}")
    return parser.parse(raw, filename=filename)
