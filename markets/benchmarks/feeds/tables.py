"""Text tables: CSV with headers, markdown / pipe tables, and markdown cell clean-up."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .base import FeedParseError

# --- CSV ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvTable:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number in the file, row keyed by header)

    def column(self, *candidates: str) -> str | None:
        """The header matching one of ``candidates`` (case- and space-insensitive), in order."""
        by_key = {normalize_header(h): h for h in self.header}
        for candidate in candidates:
            found = by_key.get(normalize_header(candidate))
            if found is not None:
                return found
        return None


def normalize_header(name: str) -> str:
    return re.sub(r"[\s_]+", " ", name.replace("\ufeff", "")).strip().lower()


def read_csv(text: str, *, feed: str, required: Sequence[Sequence[str]]) -> CsvTable:
    """Read a headed CSV; ``required`` lists, per needed column, its accepted header spellings."""
    reader = csv.reader(io.StringIO(text, newline=""))
    numbered: list[tuple[int, list[str]]] = []
    try:
        for record in reader:
            if any(field.strip() for field in record):
                numbered.append((reader.line_num, record))
    except csv.Error as exc:
        raise FeedParseError(f"{feed}: malformed CSV at line {reader.line_num}: {exc}") from None
    if not numbered:
        raise FeedParseError(f"{feed}: CSV has no header row")
    header_line, header = numbered[0]
    header = [h.replace("\ufeff", "").strip() for h in header]
    table = CsvTable(header=header, rows=[])
    missing = [names[0] for names in required if table.column(*names) is None]
    if missing:
        raise FeedParseError(
            f"{feed}: CSV header (line {header_line}) lacks required column(s) "
            f"{', '.join(repr(m) for m in missing)}; found {header}"
        )
    for line, record in numbered[1:]:
        if len(record) > len(header):
            raise FeedParseError(
                f"{feed}: line {line} has {len(record)} fields but the header has {len(header)}"
            )
        row = {
            name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)
        }
        table.rows.append((line, row))
    return table


# --- Markdown / pipe tables ------------------------------------------------------------------

_FOOTNOTE_RE = re.compile(r"\[\^([^\]\s]+)\]")
_LINK_RE = re.compile(r"\[([^\]]*)\]\(\s*([^)\s]*)[^)]*\)")
_BR_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]+>")
_SEPARATOR_CELL_RE = re.compile(r":?-{2,}:?")


@dataclass(frozen=True)
class Cell:
    text: str  # plain text: links reduced to their text, footnotes and tags removed
    links: tuple[str, ...]
    footnotes: tuple[str, ...]
    raw: str


def clean_cell(raw: str) -> Cell:
    text = _BR_RE.sub(" ", raw)
    footnotes = tuple(_FOOTNOTE_RE.findall(text))
    text = _FOOTNOTE_RE.sub("", text)
    links = tuple(url for _, url in _LINK_RE.findall(text) if url)
    text = _LINK_RE.sub(lambda m: m.group(1), text)
    text = _TAG_RE.sub("", text)
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = text.replace("\\|", "|").replace("&amp;", "&").replace("&nbsp;", " ")
    text = re.sub(r"\s+", " ", text).strip()
    return Cell(text=text, links=links, footnotes=footnotes, raw=raw.strip())


def split_row(line: str) -> list[str]:
    """Cells of one markdown table line (escaped pipes stay inside their cell)."""
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", body)]


def is_separator(cells: Iterable[str]) -> bool:
    cells = [c.strip() for c in cells]
    return bool(cells) and all(_SEPARATOR_CELL_RE.fullmatch(c) for c in cells if c) and any(cells)


@dataclass(frozen=True)
class MarkdownTable:
    header_line: int  # 1-based line number of the header row
    header: list[Cell]
    rows: list[tuple[int, list[str]]]  # (line number, raw cells)


def markdown_tables(
    lines: Sequence[str], start: int = 0, stop: int | None = None
) -> list[MarkdownTable]:
    """Markdown tables (header row + separator row + body) among ``lines[start:stop]``."""
    stop = len(lines) if stop is None else stop
    tables: list[MarkdownTable] = []
    i = start
    while i < stop - 1:
        line, nxt = lines[i], lines[i + 1]
        if (
            line.lstrip().startswith("|")
            and nxt.lstrip().startswith("|")
            and is_separator(split_row(nxt))
        ):
            header = [clean_cell(c) for c in split_row(line)]
            rows: list[tuple[int, list[str]]] = []
            j = i + 2
            while j < stop and lines[j].lstrip().startswith("|"):
                rows.append((j + 1, split_row(lines[j])))
                j += 1
            tables.append(MarkdownTable(header_line=i + 1, header=header, rows=rows))
            i = j
        else:
            i += 1
    return tables


def footnote_definitions(lines: Sequence[str]) -> dict[str, str]:
    """``[^id]: text`` definitions, with their indented continuation lines."""
    notes: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        match = re.match(r"\s{0,3}\[\^([^\]\s]+)\]:\s*(.*)", line)
        if match:
            current = match.group(1)
            notes[current] = match.group(2).strip()
        elif current is not None and line.startswith(("    ", "\t")) and line.strip():
            notes[current] = f"{notes[current]} {line.strip()}".strip()
        else:
            current = None
    return {key: clean_cell(value).text for key, value in notes.items()}
