"""CORE-Bench Hard: text of the HAL leaderboard table (hal.cs.princeton.edu/corebench_hard).

HAL publishes no machine feed; the input is the page's table as text, one row per line with
``|`` between cells, possibly several captures separated by ``#`` comment lines. Columns vary
between captures and empty HTML cells vanish from the text, so a row can have fewer cells than
its header. The Accuracy column is located by header; when the cell there is not a percentage
the row is shifted and the nearest percentage cell is taken (``extra["aligned"]`` is False).
"""

from __future__ import annotations

import re
from typing import Any

from .base import FeedParseError, ParsedResult, decode_text, finish, make_result, skip

BENCHMARK = "core-bench-hard"

_PERCENT_RE = re.compile(
    r"(?P<value>\d+(?:\.\d+)?)\s*%"
    r"(?:\s*\(\s*[-\u2212](?P<minus>\d+(?:\.\d+)?)\s*/\s*\+(?P<plus>\d+(?:\.\d+)?)\s*\))?"
)
_COST_RE = re.compile(r"\$\s*(?P<value>\d[\d,]*(?:\.\d+)?)")
_MARKS = frozenset({"✓", "✔", "✗", "✘", "\u00d7"})
_HEADER_WORDS = frozenset({"rank", "agent", "accuracy", "verified", "models", "primary model"})
_MISSING = frozenset({"", "-", "\u2014", "n/a"})


def _cells(line: str) -> list[str]:
    cells = [cell.strip() for cell in line.split("|")]
    if line.lstrip().startswith("|"):
        cells = cells[1:]
    while cells and not cells[-1]:
        cells.pop()
    return cells


class CoreBenchFeed:
    name = "corebench"
    parser_version = "corebench-1"
    default_benchmarks: tuple[str, ...] = (BENCHMARK,)
    whole_table = False  # page captures, often excerpts of the table

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        header: list[str] | None = None
        header_line = 0
        accuracy = 0
        capture = 0
        page_url = ""
        parsed: list[ParsedResult] = []
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if stripped.startswith("#"):
                header = None  # a comment separates captures; the next table brings its header
                url = re.search(r"https?://\S+", stripped)
                page_url = page_url or (url.group(0).rstrip(".,;)") if url else "")
                continue
            if "|" not in stripped or re.fullmatch(r"[|\s:-]+", stripped):
                continue
            cells = _cells(line)
            keys = [cell.lower() for cell in cells]
            if any(k in _HEADER_WORDS for k in keys) and not any(map(_PERCENT_RE.fullmatch, cells)):
                found = [i for i, k in enumerate(keys) if k.startswith("accuracy")]
                if not found:
                    raise FeedParseError(
                        f"corebench: the table header at line {number} has no 'Accuracy' column; "
                        f"its columns are {cells}"
                    )
                header, header_line, accuracy = cells, number, found[0]
                capture += 1
                continue
            if header is None:
                continue
            result = self._row(number, cells, header, header_line, accuracy, capture, page_url)
            if result is not None:
                parsed.append(result)
        if capture == 0:
            raise FeedParseError(
                "corebench: no leaderboard table found (no header line with an 'Accuracy' column)"
            )
        return finish(parsed, feed=self.name)

    def _row(
        self,
        number: int,
        cells: list[str],
        header: list[str],
        header_line: int,
        accuracy: int,
        capture: int,
        page_url: str,
    ) -> ParsedResult | None:
        where = f"corebench: line {number}"
        percents = [i for i, cell in enumerate(cells) if _PERCENT_RE.fullmatch(cell)]
        aligned = accuracy in percents
        if not percents:
            cell = cells[accuracy] if accuracy < len(cells) else ""
            if cell.lower() in _MISSING:
                skip(self.name, where, "no accuracy")
                return None
            raise FeedParseError(
                f"{where}, column 'Accuracy': cannot read {cell!r} as a percentage"
            )
        # Vanished empty cells shift a row left: take the percentage closest to the header's slot.
        index = accuracy if aligned else min(percents, key=lambda i: (abs(i - accuracy), i))
        match = _PERCENT_RE.fullmatch(cells[index])
        assert match is not None
        start = 1 if cells and cells[0].isdigit() else 0
        names = [c for c in cells[start:index] if c and c not in _MARKS]
        if not names:
            raise FeedParseError(f"{where}: no agent or model name before the accuracy")
        system = names[0]
        if len(names) > 1 and names[1].lower() not in names[0].lower():
            system = f"{names[0]} ({', '.join(names[1:])})"
        cost = next((m for c in cells[index + 1 :] if (m := _COST_RE.match(c))), None)
        extra: dict[str, Any] = {
            "capture": capture,
            "line": number,
            "header_line": header_line,
            "rank": int(cells[0]) if start else None,
            "aligned": aligned,
            "name_cells": names,
            "verified": True if any(c in {"✓", "✔"} for c in cells[start:index]) else None,
            "ci_minus": float(match["minus"]) if match["minus"] else None,
            "ci_plus": float(match["plus"]) if match["plus"] else None,
            "cost_usd": float(cost["value"].replace(",", "")) if cost else None,
        }
        if page_url:
            extra["page_url"] = page_url
        if aligned:
            extra["columns"] = dict(zip(header, cells, strict=False))
        return make_result(
            benchmark=BENCHMARK,
            system=system,
            value=float(match["value"]),
            where=where,
            extra=extra,
        )
