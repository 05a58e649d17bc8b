"""Epoch AI benchmarking data: ``external_benchmark_metr.csv`` (UTF-8 with a BOM).

``Model version`` and ``Time horizon`` (METR p50, minutes), with ``CI_low``/``CI_high`` and a
``Source link``. The file has no date; a date column, should one appear, is used.
"""

from __future__ import annotations

from typing import Any

from .base import ParsedResult, decode_text, finish, make_result, parse_date, skip, to_float
from .tables import read_csv

BENCHMARK = "metr-p50"
_DATE_COLUMNS = ("Date", "Release date", "release_date", "Publication date", "Model release date")


class EpochFeed:
    name = "epoch"
    parser_version = "epoch-1"
    default_benchmarks: tuple[str, ...] = (BENCHMARK,)
    whole_table = True  # Epoch's whole METR table, one file

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        table = read_csv(
            text, feed=self.name, required=(("Model version", "model"), ("Time horizon",))
        )
        model_col = table.column("Model version", "model")
        horizon_col = table.column("Time horizon")
        assert model_col is not None and horizon_col is not None
        optional = {
            "ci_low": table.column("CI_low", "CI low"),
            "ci_high": table.column("CI_high", "CI high"),
            "average_score": table.column("average_score"),
        }
        link_col = table.column("Source link")
        source_col = table.column("Source")
        id_col = table.column("id")
        notes_col = table.column("Notes")
        date_col = table.column(*_DATE_COLUMNS)
        parsed: list[ParsedResult] = []
        for line, row in table.rows:
            where = f"epoch: line {line}"
            value = to_float(row[horizon_col], where=f"{where}, column '{horizon_col}'")
            if value is None:
                skip(self.name, where, f"no '{horizon_col}' value")
                continue
            extra: dict[str, Any] = {
                key: to_float(row[col], where=f"{where}, column '{col}'")
                for key, col in optional.items()
                if col is not None
            }
            extra["line"] = line
            for key, col in (("id", id_col), ("source", source_col), ("notes", notes_col)):
                if col is not None and row[col]:
                    extra[key] = row[col]
            achieved_on = parse_date(row[date_col]) if date_col is not None else None
            if date_col is not None and row[date_col] and achieved_on is None:
                extra["date_raw"] = row[date_col]
            parsed.append(
                make_result(
                    benchmark=BENCHMARK,
                    system=row[model_col],
                    value=value,
                    achieved_on=achieved_on,
                    source_url=row[link_col] if link_col is not None else "",
                    where=where,
                    extra=extra,
                )
            )
        return finish(parsed, feed=self.name)
