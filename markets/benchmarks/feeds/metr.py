"""METR time horizons: ``benchmark_results_1_1.yaml`` (Time Horizon 1.1).

``results.<slug>.metrics.p50_horizon_length.estimate`` is the p50 horizon in minutes;
``release_date`` is the model's release (METR publishes no measurement date), used as
``achieved_on``. The slug is the only name the file gives a system; ``SYSTEM_NAMES`` maps the
slugs of systems known under another name to that name (``extra["slug"]`` keeps the slug).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from .base import (
    FeedParseError,
    ParsedResult,
    decode_text,
    finish,
    make_result,
    parse_date,
    skip,
    to_float,
)

BENCHMARK = "metr-p50"

SYSTEM_NAMES: dict[str, str] = {
    "gpt_3_5_turbo_instruct": "gpt-3.5-turbo-instruct",
    "gpt_4": "GPT-4 0314",
    "o1_inspect": "o1",
    "claude_3_7_sonnet_inspect": "Claude 3.7 Sonnet",
    "o3_inspect": "o3",
    "gpt_5_2025_08_07_inspect": "GPT-5",
    "claude_opus_4_5_inspect": "Claude Opus 4.5",
    "gpt_5_2": "GPT-5.2 (high)",
    "claude_opus_4_6_inspect": "Claude Opus 4.6",
}
"""Aliases: METR's result slug → the system's name on METR's own time-horizon page, which is the
name the demo's ``data/benchmarks/history.csv`` and staff use for it. Without it the same model
was two systems on ``metr-p50`` (``GPT-5`` and ``gpt_5_2025_08_07_inspect``, both 203.0
minutes) once the feed was fetched. A slug not listed keeps the slug as its name; two slugs of
one name in a file are collapsed by ``finish`` (the best value kept, the other in ``extra``).
Add a row when METR publishes a model the site already knows under its display name
(docs/operations.md, benchmark feeds)."""


class MetrFeed:
    name = "metr"
    parser_version = "metr-2"  # 2: SYSTEM_NAMES
    default_benchmarks: tuple[str, ...] = (BENCHMARK,)
    # The YAML is METR's whole result set, and a new version (1.0 -> 1.1) replaces it whole.
    whole_table = True

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        document = _load_yaml(text)
        if not isinstance(document, Mapping):
            raise FeedParseError(
                f"metr: expected a YAML mapping at the top level, got {type(document).__name__}"
            )
        results = document.get("results")
        if results is None:
            raise FeedParseError("metr: the top-level 'results' mapping is missing")
        if not isinstance(results, Mapping):
            raise FeedParseError(
                f"metr: 'results' must be a mapping of model slug to result, "
                f"got {type(results).__name__}"
            )
        file_benchmark = document.get("benchmark_name")
        parsed: list[ParsedResult] = []
        for slug, entry in results.items():
            where = f"metr: results.{slug}"
            if not isinstance(entry, Mapping):
                skip(self.name, where, "not a mapping")
                continue
            metrics = _mapping(entry.get("metrics"))
            p50 = _mapping(metrics.get("p50_horizon_length"))
            p50_where = f"{where}.metrics.p50_horizon_length"
            estimate = to_float(p50.get("estimate"), where=f"{p50_where}.estimate")
            if estimate is None:
                skip(self.name, where, "no p50_horizon_length.estimate")
                continue
            extra: dict[str, Any] = {
                "slug": str(slug),
                "benchmark_name": _text(entry.get("benchmark_name") or file_benchmark),
                "ci_low": to_float(p50.get("ci_low"), where=f"{p50_where}.ci_low"),
                "ci_high": to_float(p50.get("ci_high"), where=f"{p50_where}.ci_high"),
                "is_sota_p50": _flag(metrics.get("is_sota_p50")),
            }
            p80 = _mapping(metrics.get("p80_horizon_length"))
            if "estimate" in p80:
                extra["p80_estimate"] = to_float(
                    p80["estimate"], where=f"{where}.metrics.p80_horizon_length.estimate"
                )
            release = entry.get("release_date")
            achieved_on = parse_date(release)
            if release is not None and achieved_on is None:
                extra["release_date_raw"] = str(release)
            parsed.append(
                make_result(
                    benchmark=BENCHMARK,
                    system=SYSTEM_NAMES.get(str(slug), str(slug)),
                    value=estimate,
                    achieved_on=achieved_on,
                    where=where,
                    extra=extra,
                )
            )
        return finish(parsed, feed=self.name)


def _load_yaml(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise FeedParseError(f"metr: invalid YAML{at}: {exc.problem or exc.context}") from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise FeedParseError(f"metr: invalid YAML: {exc}") from None


def _mapping(value: object) -> Mapping[Any, Any]:
    return value if isinstance(value, Mapping) else {}


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return str(value) if value is not None else None
