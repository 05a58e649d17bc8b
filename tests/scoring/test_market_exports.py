"""Trades and market history exports (docs/methods.md §15.9): CSV, JSON and Parquet with a
manifest that ``verify_export`` replays byte for byte, traders pseudonymised."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from forecasts import exports
from forecasts.pseudonyms import pseudonym_for_id, trader_pseudonym
from tests.api.conftest import token_client
from tests.factories import ForecasterFactory, UserFactory
from tests.trading.conftest import make_market
from trading.services import Order, trade_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """A tournament ``mkt`` with one market (b = 100): a forecaster-trader moves YES to 0.7,
    then a trader who never forecast buys 10 NO; both an hour ago."""
    from tests.factories import TournamentFactory

    tournament = TournamentFactory(slug="mkt")
    question, _ = make_market(tournament=tournament, key="q-1")
    forecaster = ForecasterFactory(user=UserFactory(username="alice"))
    bob = UserFactory(username="bob")
    t0 = timezone.now() - dt.timedelta(hours=1)
    trade_execute(
        user=forecaster.user, order=Order(question_id=question.pk, outcome=0, target="0.7"), at=t0
    )
    trade_execute(
        user=bob,
        order=Order(question_id=question.pk, outcome=1, shares="10"),
        at=t0 + dt.timedelta(minutes=1),
    )
    return type("World", (), {"question": question, "alice": forecaster, "bob": bob, "t0": t0})


def _export(tmp_path, *extra, name="trades.csv"):
    out = tmp_path / name
    call_command(
        "export_trades", "--tournament", "mkt", "--output", str(out), *extra, stdout=io.StringIO()
    )
    return out, json.loads(exports.manifest_path(out).read_text())


def _verify(manifest, *extra):
    report = io.StringIO()
    call_command("verify_export", str(manifest), "--no-progress", *extra, stdout=report)
    return report.getvalue()


def test_trades_csv_rows_and_pseudonyms(world, tmp_path):
    out, manifest = _export(tmp_path)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["sequence"] for r in rows] == ["1", "2"]
    first, second = rows
    assert (
        first["question"] == "q-1" and first["outcome"] == "0" and first["outcome_label"] == "Yes"
    )
    # Moving YES from 0.5 to 0.7 with b = 100 buys 100·ln(0.7/0.3) = 84.729786 shares (§15.4).
    assert first["shares"] == "84.729786"
    assert second["outcome_label"] == "No" and second["shares"] == "10.000000"
    # The forecaster trades under their forecaster pseudonym; bob under a trader pseudonym.
    assert first["trader"] == pseudonym_for_id(world.alice.pk)
    assert second["trader"] == trader_pseudonym(world.bob.pk)
    assert second["trader"].startswith("t_") and len(second["trader"]) == 18
    assert b"alice" not in out.read_bytes() and b"bob" not in out.read_bytes()
    assert manifest["kind"] == "trades" and manifest["rows"] == 2
    assert manifest["input"]["trades"] == 2 and manifest["questions"] == ["q-1"]
    assert manifest["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert _verify(exports.manifest_path(out)).startswith("MATCH")


def test_history_rows_are_the_prices_after_each_trade(world, tmp_path):
    out, manifest = _export(tmp_path, "--dataset", "history", "--format", "json", name="h.json")
    rows = json.loads(out.read_text())
    assert manifest["kind"] == "market_history" and len(rows) == 4  # 2 trades × 2 outcomes
    assert [(r["sequence"], r["outcome_label"]) for r in rows] == [
        (1, "Yes"),
        (1, "No"),
        (2, "Yes"),
        (2, "No"),
    ]
    assert rows[0]["price"] == pytest.approx(0.7, abs=1e-8)
    assert rows[0]["price"] + rows[1]["price"] == pytest.approx(1.0)
    assert rows[3]["price"] > 0.3  # buying NO raised its price
    assert "trader" not in rows[0]
    assert _verify(exports.manifest_path(out)).startswith("MATCH")


@pytest.mark.parametrize("dataset", ["trades", "history"])
@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_every_format_is_reproducible_byte_for_byte(world, tmp_path, dataset, fmt):
    as_of = (world.t0 + dt.timedelta(minutes=5)).isoformat()
    a, ma = _export(
        tmp_path, "--dataset", dataset, "--format", fmt, "--as-of", as_of, name=f"a.{fmt}"
    )
    b, mb = _export(
        tmp_path, "--dataset", dataset, "--format", fmt, "--as-of", as_of, name=f"b.{fmt}"
    )
    assert a.read_bytes() == b.read_bytes()
    assert ma["output"]["sha256"] == mb["output"]["sha256"]
    # A later trade does not change an export as of before it.
    trade_execute(user=world.bob, order=Order(question_id=world.question.pk, outcome=0, shares="1"))
    assert _verify(exports.manifest_path(a)).startswith("MATCH")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(a)
        assert table.num_rows == ma["rows"] and table.column_names == ma["columns"]


def test_as_of_covers_trades_at_or_before_it_and_verify_catches_a_changed_file(world, tmp_path):
    out, manifest = _export(tmp_path, "--as-of", (world.t0 + dt.timedelta(seconds=30)).isoformat())
    assert manifest["rows"] == 1
    out.write_bytes(out.read_bytes().replace(b"q-1", b"q-2", 1))
    with pytest.raises(CommandError):
        _verify(exports.manifest_path(out))


def test_bad_command_input_is_a_clear_error(world, tmp_path):
    with pytest.raises(CommandError, match="No tournament"):
        call_command("export_trades", "--tournament", "nope", "--output", str(tmp_path / "x"))
    future = (timezone.now() + dt.timedelta(hours=1)).isoformat()
    with pytest.raises(CommandError, match="future"):
        _export(tmp_path, "--as-of", future)
    assert not (tmp_path / "trades.csv").exists()


def test_api_download_verifies_with_its_recipient_and_refuses_others(world, tmp_path):
    researcher = UserFactory(username="researcher", is_staff=True)
    client = token_client(researcher)
    url = "/api/v1/tournaments/mkt/trades-export/"
    r = client.get(url, {"dataset": "trades", "format": "csv"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    as_of = r["X-Takeoff-As-Of"]
    data = b"".join(r.streaming_content)
    assert trader_pseudonym(world.bob.pk, recipient=researcher.pk).encode() in data
    assert pseudonym_for_id(world.alice.pk, recipient=researcher.pk).encode() in data
    assert trader_pseudonym(world.bob.pk).encode() not in data  # not the server's names
    again = client.get(url, {"as_of": as_of})
    assert b"".join(again.streaming_content) == data
    m = client.get(f"{url}manifest/", {"dataset": "trades", "format": "csv", "as_of": as_of})
    assert m.status_code == 200
    manifest = m.json()
    assert manifest["pseudonyms"] == "recipient" and manifest["format"] == "csv"
    parquet = client.get(f"{url}manifest/", {"format": "parquet", "as_of": as_of}).json()
    assert parquet["format"] == "parquet" and parquet["rows"] == manifest["rows"]
    assert manifest["output"]["sha256"] == hashlib.sha256(data).hexdigest()
    (tmp_path / manifest["output"]["file"]).write_bytes(data)
    path = tmp_path / "m.manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="--recipient USERNAME"):
        _verify(path)
    assert _verify(path, "--recipient", "researcher").startswith("MATCH")
    assert client.get(url, {"dataset": "nope"}).status_code == 400
    assert client.get(url, {"format": "xml"}).status_code == 400
    assert token_client(world.bob).get(url).status_code == 403
    assert token_client(world.bob).get(f"{url}manifest/").status_code == 403
