"""MLE-bench: the leaderboard table of the openai/mle-bench README (markdown).

Its column set has changed several times (columns added, reordered, renamed), so every column
is found by its header, never by position. Cells look like ``77.78 ± 0.44[^3]`` (mean ± standard
error, footnote), agents like ``[PiEvolve](https://…)<br>(Fractal AI Research)``.

Benchmark versions are kept apart: a "Version" column's v1 (or no such column) reports on
``mle-bench-all``; any other version on a benchmark of its own (``mle-bench-all-v2``), so a v2
score is never read as a revision of a v1 one. A row the source flags — a "Known Leakage" ✓ —
carries ``extra["flag"]``: the milestone rule sends such a result to staff review instead of
proposing from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .base import FeedParseError, ParsedResult, decode_text, finish, make_result, parse_date, skip
from .tables import Cell, MarkdownTable, clean_cell, footnote_definitions, markdown_tables

BENCHMARK = "mle-bench-all"

_HEADING_RE = re.compile(r"\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_VALUE_RE = re.compile(
    r"(?P<value>\d+(?:\.\d+)?)\s*%?\s*(?:(?:±|\+/-|\+-)\s*(?P<se>\d+(?:\.\d+)?)\s*%?)?"
)
_MISSING = frozenset({"", "-", "\u2014", "\u2013", "n/a", "na", "tbd"})
_YES = frozenset({"✓", "✔", "✅", "yes", "y", "true"})
_NO = frozenset({"", "-", "\u2014", "x", "✗", "✘", "❌", "no", "n", "false"})


def _key(header: Cell) -> str:
    text = header.text.lower().replace("(%)", "").replace("%", "")
    return re.sub(r"\s+", " ", text).strip()


def _is_all(key: str) -> bool:
    return key == "all" or key.startswith("all ") or "any medal" in key


_COLUMNS: dict[str, Callable[[str], bool]] = {
    "agent": lambda k: k == "agent" or k.startswith("agent "),
    "llm": lambda k: k.startswith("llm") or k in {"model", "models", "model(s)", "model(s) used"},
    "all": _is_all,
    "date": lambda k: k == "date" or k.startswith("date "),
    "leakage": lambda k: k.startswith("known leakage"),
    "version": lambda k: k in {"version", "benchmark version", "mle-bench version"},
    "running_time": lambda k: k.startswith("running time"),
    "low": lambda k: k.startswith("low") or k == "lite",
    "medium": lambda k: k.startswith("medium"),
    "high": lambda k: k.startswith("high"),
}
_REQUIRED = {"agent": "Agent", "all": "All (any medal %)"}


def _locate(header: Sequence[Cell]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = _key(cell)
        for role, matches in _COLUMNS.items():
            if role not in found and matches(key):
                found[role] = index
                break
    return found


class MleBenchFeed:
    name = "mlebench"
    parser_version = "mlebench-2"
    default_benchmarks: tuple[str, ...] = (BENCHMARK,)
    # A v2 row replacing a v1 row is a new benchmark version, not a withdrawal of the v1 result.
    whole_table = False

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        lines = text.splitlines()
        table = _leaderboard_table(lines)
        columns = _locate(table.header)
        headers = [cell.text for cell in table.header]
        for role, label in _REQUIRED.items():
            if role not in columns:
                raise FeedParseError(
                    f"mlebench: the leaderboard table (line {table.header_line}) has no "
                    f"'{label}' column; its columns are {headers}"
                )
        notes = footnote_definitions(lines)
        parsed = [
            result
            for line, raw_cells in table.rows
            if (result := self._row(line, raw_cells, table, columns, notes)) is not None
        ]
        return finish(parsed, feed=self.name)

    def _row(
        self,
        line: int,
        raw_cells: list[str],
        table: MarkdownTable,
        columns: dict[str, int],
        notes: dict[str, str],
    ) -> ParsedResult | None:
        width = len(table.header)
        if len(raw_cells) > width and any(c.strip() for c in raw_cells[width:]):
            raise FeedParseError(
                f"mlebench: line {line} has {len(raw_cells)} cells but the header "
                f"(line {table.header_line}) has {width}; an unescaped '|' in a cell?"
            )
        cells = [clean_cell(c) for c in raw_cells[:width]]
        cells += [clean_cell("")] * (width - len(cells))

        def cell(role: str) -> Cell | None:
            return cells[columns[role]] if role in columns else None

        value_cell = cells[columns["all"]]
        value_header = table.header[columns["all"]].text
        where = f"mlebench: line {line}, column '{value_header}'"
        if value_cell.text.lower() in _MISSING:
            skip(self.name, f"line {line}", f"no value in column '{value_header}'")
            return None
        match = _VALUE_RE.fullmatch(value_cell.text)
        if match is None:
            raise FeedParseError(f"{where}: cannot read {value_cell.raw!r} as 'value ± stderr'")

        agent = cells[columns["agent"]]
        llm = cell("llm")
        if not agent.text:
            raise FeedParseError(f"mlebench: line {line}: the Agent cell is empty")
        llm_text = llm.text if llm is not None else ""
        system = agent.text
        # "Agent (LLM)", unless there is no LLM or the agent's name already says it.
        named = re.search(rf"(?<!\w){re.escape(llm_text)}(?!\w)", agent.text, re.IGNORECASE)
        if llm_text.lower() not in _MISSING and not named:
            system = f"{agent.text} ({llm_text})"

        row_notes = list(dict.fromkeys(note for c in cells for note in c.footnotes))
        extra: dict[str, Any] = {
            "line": line,
            "agent": agent.text,
            "llm": llm_text or None,
            "value_column": value_header,
            "stderr": float(match["se"]) if match["se"] else None,
            "value_footnotes": list(value_cell.footnotes),
            "footnotes": {note: notes.get(note, "") for note in row_notes},
            "splits": {
                role: split
                for role in ("low", "medium", "high")
                if (c := cell(role)) is not None and (split := _split(c)) is not None
            },
            "known_leakage": None,
            "columns": {
                table.header[i].text: c.text
                for i, c in enumerate(cells)
                if i not in (columns["agent"], columns["all"], columns.get("llm"))
            },
        }
        leakage = cell("leakage")
        if leakage is not None:
            extra["known_leakage"] = _yes_no(leakage)
            if leakage.links:
                extra["leakage_url"] = leakage.links[0]
            if extra["known_leakage"]:
                extra["flag"] = "the source marks this result as having known leakage" + (
                    f" ({extra['leakage_url']})" if "leakage_url" in extra else ""
                )
        benchmark = BENCHMARK
        version_cell = cell("version")
        if version_cell is not None and version_cell.text.lower() not in _MISSING:
            version = _version(version_cell.text)
            if version is None:
                raise FeedParseError(
                    f"mlebench: line {line}: cannot read the version {version_cell.raw!r}"
                )
            extra["version"] = version
            if version != "v1":
                benchmark = f"{BENCHMARK}-{version}"
        running = cell("running_time")
        if running is not None and re.fullmatch(r"\d+(?:\.\d+)?", running.text):
            extra["running_time_hours"] = float(running.text)
        date_cell = cell("date")
        achieved_on = parse_date(date_cell.text) if date_cell is not None else None
        if date_cell is not None and date_cell.text and achieved_on is None:
            extra["date_raw"] = date_cell.text
        return make_result(
            benchmark=benchmark,
            system=system,
            value=float(match["value"]),
            achieved_on=achieved_on,
            source_url=agent.links[0] if agent.links else "",
            where=where,
            extra=extra,
        )


def _leaderboard_table(lines: list[str]) -> MarkdownTable:
    """The first table of the "Leaderboard" section, else the first table with an All column."""
    for index, line in enumerate(lines):
        heading = _HEADING_RE.fullmatch(line)
        if heading and re.match(r"leaderboard\b", heading.group(2), re.IGNORECASE):
            level = len(heading.group(1))
            end = next(
                (
                    j
                    for j in range(index + 1, len(lines))
                    if (h := _HEADING_RE.fullmatch(lines[j])) and len(h.group(1)) <= level
                ),
                len(lines),
            )
            section = markdown_tables(lines, index + 1, end)
            if section:
                return section[0]
    tables = markdown_tables(lines)
    if not tables:
        raise FeedParseError(
            "mlebench: no markdown table found (expected a '## Leaderboard' table)"
        )
    for table in tables:
        if "all" in _locate(table.header):
            return table
    raise FeedParseError(
        "mlebench: no 'Leaderboard' section and no table with an 'All' column; tables found at "
        f"line(s) {', '.join(str(t.header_line) for t in tables)}"
    )


def _version(text: str) -> str | None:
    """``v2``, ``2``, ``2.0``, ``V2`` → ``v2``; ``1.1`` → ``v1-1``; None when unreadable."""
    match = re.fullmatch(r"v?(\d+)(?:\.(\d+))?", text.strip().lower())
    if match is None:
        return None
    major, minor = match.group(1), match.group(2)
    return f"v{major}" if minor in (None, "0") else f"v{major}-{minor}"


def _split(cell: Cell) -> dict[str, float | None] | None:
    match = _VALUE_RE.fullmatch(cell.text)
    if match is None:
        return None
    return {"value": float(match["value"]), "stderr": float(match["se"]) if match["se"] else None}


def _yes_no(cell: Cell) -> bool | None:
    text = cell.text.lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    return None
