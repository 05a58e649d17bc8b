"""Market exports (``manage.py export_trades``, ``/api/v1/tournaments/<slug>/trades-export/``):
a tournament's play-money trades, or its market price history, as they stood at an as-of time,
as CSV, JSON or Parquet, in a deterministic order, with a manifest that ``verify_export``
replays (docs/methods.md §15.9). The plumbing (CSV cells, times, snapshot, manifest files,
pseudonyms) is the crowd and score exports' (``forecasts.exports``, ``scoring.exports``).

**Datasets.** ``trades``: one row per trade — question key, the market's trade sequence number,
time, trader, outcome index and label, shares and cost (decimal strings with six places, exact
as in the ledger; negative shares: a sale, negative cost: money received). ``history``: the
market price history, a point per trade — question key, sequence, time, outcome index and label,
and that outcome's price after the trade (one row per outcome: yes/no and multiple choice alike).

**Traders** are named as forecasters are elsewhere: a trader who is also a forecaster carries
that forecaster's export pseudonym (keyed for the recipient of an API download;
``forecasts.pseudonyms``), so trades join the forecast and score exports; a bot its public
name (``bot:<name>``); a trader who never forecast ``t_`` + 16 hex digits of the same keyed
HMAC over ``"trader:<user id>"`` (``trader_pseudonym``).

**What an export as of T holds.** Every trade executed at or before T (``Trade.created_at``) on
a market of the tournament's questions. Trades are append-only (``trading.models``), so the rows
of a past as-of time never change and a recompute gives the same bytes.

**Manifest** (``kind: "trades"`` or ``"market_history"``): tournament, as_of, format, columns,
row count, SHA-256 and size of the file, the software version, which pseudonyms name traders,
the markets' questions, and an input digest: SHA-256 over the canonical lines
``json.dumps([question, sequence, time_iso], separators=(",", ":")) + "\\n"`` of the trades
covered, in row order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from forecasts.exports import (
    MANIFEST_VERSION,
    TIME_FORMAT,
    ExportError,
    RenderResult,
    Verification,
    bot_label,
    csv_text,
    default_as_of,
    iso,
    parse_as_of,
    read_manifest,
    sha256_file,
    snapshot,
    software_version,
    write_with_manifest,
)
from forecasts.models import Forecaster
from forecasts.pseudonyms import PseudonymCache, trader_pseudonym
from markets.models import Question, Tournament
from trading.models import Trade
from trading.services import outcome_labels

DATASETS = {"trades": "trades", "history": "market_history"}
"""Dataset name (the command's ``--dataset``, the API's ``dataset``) → manifest ``kind``."""
KINDS = {kind: name for name, kind in DATASETS.items()}
FORMATS = ("csv", "json", "parquet")
TRADE_COLUMNS = (
    "question",
    "sequence",
    "time",
    "trader",
    "outcome",
    "outcome_label",
    "shares",
    "cost",
)
HISTORY_COLUMNS = ("question", "sequence", "time", "outcome", "outcome_label", "price")
COLUMNS = {"trades": TRADE_COLUMNS, "history": HISTORY_COLUMNS}
INPUT_CANONICAL_FORM = (
    'SHA-256 of json.dumps([question, sequence, time], separators=(",", ":")) + "\\n" per '
    "trade covered, in row order"
)


@dataclass(frozen=True)
class MarketExport:
    """What a market export covers: a tournament's ``dataset`` (``trades`` or ``history``) in
    ``fmt`` as of a time, for a recipient's pseudonyms (None: the server's)."""

    tournament: Tournament
    dataset: str
    fmt: str
    as_of: dt.datetime
    recipient: int | None = None

    @property
    def kind(self) -> str:
        return DATASETS[self.dataset]

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.dataset]

    @property
    def pseudonyms(self) -> str:
        return "server" if self.recipient is None else "recipient"

    @property
    def filename(self) -> str:
        suffix = "trades" if self.dataset == "trades" else "market-history"
        return f"{self.tournament.slug}-{suffix}.{self.fmt}"


def market_export_plan(
    *,
    tournament: Tournament,
    dataset: str = "trades",
    fmt: str = "csv",
    as_of: dt.datetime | None = None,
    recipient: int | None = None,
) -> MarketExport:
    """Fix what a market export covers; ``as_of`` defaults to now minus one second (validate a
    user-given time with ``parse_as_of`` first). Raises ``ExportError`` for an unknown dataset
    or format."""
    if dataset not in DATASETS:
        raise ExportError(f"Unknown dataset {dataset!r}: one of {', '.join(DATASETS)}.")
    if fmt not in FORMATS:
        raise ExportError(f"Unknown format {fmt!r}: one of {', '.join(FORMATS)}.")
    return MarketExport(
        tournament=tournament,
        dataset=dataset,
        fmt=fmt,
        as_of=(as_of or default_as_of()).astimezone(dt.UTC),
        recipient=recipient,
    )


def _trader_names(user_ids: set[int], recipient: int | None) -> dict[int, str]:
    """Export names of traders by user id (module doc)."""
    names = PseudonymCache(recipient)
    out: dict[int, str] = {}
    for fid, user_id, source, key, is_bot, username in (
        Forecaster.objects.filter(user_id__in=sorted(user_ids))
        .order_by("pk")
        .values_list("pk", "user_id", "source", "key", "is_bot", "user__username")
    ):
        if user_id in out:
            continue  # the first (lowest id) forecaster of a user
        out[user_id] = (
            bot_label(username or key) if is_bot else names(fid, imported_key=key, source=source)
        )
    for user_id in user_ids - out.keys():
        out[user_id] = trader_pseudonym(user_id, recipient=recipient)
    return out


def _trades(export: MarketExport) -> list[tuple[Any, ...]]:
    """(question key, sequence, time, user id, outcome, shares, cost, prices, labels) of every
    trade covered, in (question key code-point, sequence) order. In the caller's snapshot."""
    questions = {
        q.pk: q for q in Question.objects.filter(tournament=export.tournament, market__isnull=False)
    }
    rows = list(
        Trade.objects.filter(market__question_id__in=list(questions), created_at__lte=export.as_of)
        .order_by("market__question_id", "sequence")
        .values_list(
            "market__question_id",
            "sequence",
            "created_at",
            "account__user_id",
            "outcome",
            "shares",
            "cost",
            "prices",
        )
    )
    out = [
        (questions[qid].key, seq, at, uid, k, shares, cost, prices, outcome_labels(questions[qid]))
        for qid, seq, at, uid, k, shares, cost, prices in rows
    ]
    out.sort(key=lambda r: (r[0], r[1]))
    return out


def _decimal(value: Any) -> str:
    return f"{value:.6f}"


def iter_rows(export: MarketExport, trades: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows of ``export`` (its ``columns``), in order: question key (code-point), sequence,
    then outcome index (history). Times are ISO 8601 UTC text, shares and cost decimal text,
    prices floats."""
    if export.dataset == "trades":
        names = _trader_names({t[3] for t in trades}, export.recipient)
        for key, seq, at, uid, k, shares, cost, _prices, labels in trades:
            label = labels[k] if k < len(labels) else str(k)
            yield (key, seq, iso(at), names[uid], k, label, _decimal(shares), _decimal(cost))
        return
    for key, seq, at, _uid, _k, _shares, _cost, prices, labels in trades:
        for j, price in enumerate(prices):
            label = labels[j] if j < len(labels) else str(j)
            yield (key, seq, iso(at), j, label, float(price))


def _csv_cell(value: Any) -> str:
    if isinstance(value, str):
        return csv_text(value)
    return repr(value)


def _csv(export: MarketExport, rows: list[tuple[Any, ...]]) -> Iterator[bytes]:
    yield (",".join(export.columns) + "\n").encode()
    for start in range(0, len(rows), 10_000):
        chunk = rows[start : start + 10_000]
        yield "".join(",".join(map(_csv_cell, r)) + "\n" for r in chunk).encode()


def _json(export: MarketExport, rows: list[tuple[Any, ...]]) -> Iterator[bytes]:
    """An array of row objects, one per line (floats by ``repr``, as ``json.dumps`` does)."""
    if not rows:
        yield b"[]\n"
        return
    columns = export.columns
    lines = [
        json.dumps(dict(zip(columns, r, strict=True)), ensure_ascii=False, separators=(",", ":"))
        for r in rows
    ]
    yield ("[\n" + ",\n".join(lines) + "\n]\n").encode()


def parquet_schema(dataset: str) -> Any:
    """The Parquet schema of a ``dataset`` export: shares and cost as decimal(20, 6)."""
    import pyarrow as pa

    head = [("question", pa.string()), ("sequence", pa.int64()), ("time", pa.string())]
    if dataset == "trades":
        return pa.schema(
            [
                *head,
                ("trader", pa.string()),
                ("outcome", pa.int64()),
                ("outcome_label", pa.string()),
                ("shares", pa.decimal128(20, 6)),
                ("cost", pa.decimal128(20, 6)),
            ]
        )
    return pa.schema(
        [
            *head,
            ("outcome", pa.int64()),
            ("outcome_label", pa.string()),
            ("price", pa.float64()),
        ]
    )


def _parquet(export: MarketExport, rows: list[tuple[Any, ...]]) -> Iterator[bytes]:
    import io
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(export.dataset)
    columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)] if rows else []
    if not columns:
        columns = [[] for _ in export.columns]
    arrays = []
    for name, values in zip(export.columns, columns, strict=True):
        field = schema.field(name)
        if name == "time":
            arrays.append(pa.array(values, pa.string()))
        elif name in ("shares", "cost"):
            arrays.append(pa.array([Decimal(v) for v in values], field.type))
        else:
            arrays.append(pa.array(values, field.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    # The time column is ISO text in every format: one spelling, no timezone metadata to vary.
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        compression="snappy",
        version="2.6",
        write_statistics=True,
        store_schema=True,
    )
    yield buffer.getvalue()


RENDERERS: dict[str, Callable[[MarketExport, list[tuple[Any, ...]]], Iterator[bytes]]] = {
    "csv": _csv,
    "json": _json,
    "parquet": _parquet,
}


def _render(
    export: MarketExport, trades: list[tuple[Any, ...]], result: RenderResult
) -> Iterator[bytes]:
    rows = list(iter_rows(export, trades))
    for data in RENDERERS[export.fmt](export, rows):
        result.size += len(data)
        result._hash.update(data)
        yield data
    result.rows = len(rows)
    result.sha256 = result._hash.hexdigest()


def render_market_export(
    export: MarketExport, result: RenderResult | None = None
) -> Iterator[bytes]:
    """The export's bytes (module doc), read in one snapshot; ``result`` receives rows, size
    and SHA-256."""
    result = result if result is not None else RenderResult()
    with snapshot():
        trades = _trades(export)
    yield from _render(export, trades, result)


def build_market_manifest(
    export: MarketExport, *, out: IO[bytes] | None = None, filename: str = ""
) -> dict[str, Any]:
    """Render the export (to ``out`` if given, else only hashed) and return its manifest
    (module doc)."""
    result = RenderResult()
    with snapshot():
        trades = _trades(export)
    for data in _render(export, trades, result):
        if out is not None:
            out.write(data)
    canonical = "".join(
        json.dumps([t[0], t[1], iso(t[2])], separators=(",", ":")) + "\n" for t in trades
    )
    return {
        "manifest_version": MANIFEST_VERSION,
        "kind": export.kind,
        "tournament": export.tournament.slug,
        "questions": sorted({t[0] for t in trades}),
        "format": export.fmt,
        "columns": list(export.columns),
        "pseudonyms": export.pseudonyms,
        "method": {
            "market_maker": "LMSR",
            "reference": "docs/methods.md §15 (markets), §15.9 (exports)",
        },
        "software": {"takeoff": software_version(), "python": platform.python_version()},
        "as_of": iso(export.as_of),
        "input": {
            "trades": len(trades),
            "sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "canonical_form": INPUT_CANONICAL_FORM,
        },
        "rows": result.rows,
        "output": {"file": filename, "bytes": result.size, "sha256": result.sha256},
        "formatting": {
            "decimals": "shares and cost: decimal text with six places (Parquet decimal(20, 6))",
            "floats": "price: Python repr, shortest round-trip decimal",
            "times": TIME_FORMAT,
            "row_order": "question key (code-point order), sequence, outcome",
        },
    }


def write_market_export(export: MarketExport, path: Path) -> dict[str, Any]:
    """Write FILE and FILE.manifest.json (``forecasts.exports.write_with_manifest``: nothing
    is left behind on an error)."""
    return write_with_manifest(
        path, lambda fh, name: build_market_manifest(export, out=fh, filename=name)
    )


def verify_market_manifest(
    manifest_file: Path,
    *,
    progress: Callable[[int], None] | None = None,
    recipient: int | None = None,
) -> Verification:
    """Regenerate a trades or market-history export as of its manifest's time and compare the
    input digest, row count and bytes (and the file next to the manifest, when there).

    Raises ``ExportError`` when the manifest cannot be read, is not a market manifest, names a
    tournament this database does not have, a format or dataset that does not exist, or needs
    a recipient that was not given."""
    manifest = read_manifest(manifest_file)
    kind = manifest.get("kind")
    dataset = KINDS.get(kind) if isinstance(kind, str) else None
    if dataset is None:
        raise ExportError(f"{manifest_file}: not a trades or market history manifest.")
    if manifest.get("pseudonyms") == "recipient" and recipient is None:
        raise ExportError(
            f"{manifest_file} was made for one recipient's pseudonyms (an API download): "
            "name the recipient (--recipient USERNAME)."
        )
    if manifest.get("pseudonyms") != "recipient":
        recipient = None
    tournament = Tournament.objects.filter(slug=manifest["tournament"]).first()
    if tournament is None:
        raise ExportError(f"Tournament {manifest['tournament']!r} does not exist in this database.")
    export = market_export_plan(
        tournament=tournament,
        dataset=dataset,
        fmt=manifest["format"],
        as_of=parse_as_of(manifest["as_of"], allow_future=True),
        recipient=recipient,
    )
    recomputed = build_market_manifest(export, filename=manifest["output"]["file"])
    if progress is not None:
        progress(recomputed["rows"])
    problems: list[str] = []
    if recomputed["input"]["sha256"] != manifest["input"]["sha256"]:
        problems.append(
            f"the trades covered differ: {recomputed['input']['trades']} trades, sha256 "
            f"{recomputed['input']['sha256']} (manifest: {manifest['input'].get('trades')} "
            f"trades, {manifest['input']['sha256']})"
        )
    if recomputed["rows"] != manifest["rows"]:
        problems.append(f"row count {recomputed['rows']} (manifest: {manifest['rows']})")
    if recomputed["output"]["sha256"] != manifest["output"]["sha256"]:
        problems.append(
            f"recomputed bytes differ: sha256 {recomputed['output']['sha256']} "
            f"(manifest: {manifest['output']['sha256']})"
        )
    file_sha = None
    data_file = manifest_file.with_name(manifest["output"]["file"])
    if data_file.is_file():
        file_sha = sha256_file(data_file)
        if file_sha != manifest["output"]["sha256"]:
            problems.append(
                f"{data_file.name} on disk does not match the manifest (sha256 {file_sha})"
            )
    return Verification(manifest, recomputed, file_sha, problems)


__all__ = [
    "DATASETS",
    "FORMATS",
    "MarketExport",
    "build_market_manifest",
    "market_export_plan",
    "render_market_export",
    "trader_pseudonym",
    "verify_market_manifest",
    "write_market_export",
]
