"""The ingest service and ``manage.py ingest_benchmarks`` against the real samples and bad input.

Expected values were read by hand from the files in data/benchmarks/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from markets.benchmarks.feeds import FEEDS, MAX_FEED_BYTES
from markets.benchmarks.ingest import UnknownFeed, benchmark_result_record, feed_ingest
from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    FeedSnapshot,
    Question,
    Resolution,
)
from tests.markets.conftest import (
    DATA,
    METR_SAMPLE,
    OPUS,
    metr_sample_with_opus,
    metr_yaml,
    milestone_question,
    sample,
)

pytestmark = pytest.mark.django_db

SAMPLES = [
    # feed, file, results after collapsing duplicates per system, benchmarks
    ("metr", METR_SAMPLE, 3, {"metr-p50"}),
    (
        "swebench",
        "swebench_leaderboards.2025-12-10.json",
        310,
        {
            "swe-bench-verified",
            "swe-bench-lite",
            "swe-bench-full",
            "swe-bench-bash-only",
            "swe-bench-multimodal",
        },
    ),
    ("mlebench", "mlebench_README_leaderboard.2026-02-26.md", 25, {"mle-bench-all"}),
    ("posttrainbench", "posttrainbench_single_metrics_aggregated.csv", 13, {"posttrainbench"}),
    ("posttrainbench", "posttrainbench_aggregated_avg_Opus-4.6.csv", 1, {"posttrainbench"}),
    ("epoch", "epoch_external_benchmark_metr.2025-12.csv", 3, {"metr-p50"}),
    ("corebench", "hal_corebench_hard.page-text.excerpt.txt", 4, {"core-bench-hard"}),
]


def current(slug: str, system: str) -> BenchmarkResult:
    return BenchmarkResult.objects.get(benchmark__slug=slug, system=system, is_current=True)


def counts() -> dict[str, int]:
    return {
        "results": BenchmarkResult.objects.count(),
        "current": BenchmarkResult.objects.filter(is_current=True).count(),
        "benchmarks": Benchmark.objects.count(),
        "resolutions": Resolution.objects.count(),
        "audit": AuditRecord.objects.count(),
        "ok_snapshots": FeedSnapshot.objects.exclude(outcome=FeedSnapshot.Outcome.FAILED).count(),
    }


@pytest.mark.parametrize(("feed", "name", "expected", "slugs"), SAMPLES)
def test_each_real_sample_ingests_with_a_snapshot(feed, name, expected, slugs):
    raw = sample(name)
    result = feed_ingest(feed=feed, raw=raw, source=name)

    snapshot = result.snapshot
    assert result.ok, snapshot.error
    assert (result.added, result.revised, result.unchanged) == (expected, 0, 0)
    assert snapshot.outcome == FeedSnapshot.Outcome.OK
    assert snapshot.feed == feed
    assert snapshot.source == name
    assert snapshot.sha256 == hashlib.sha256(raw).hexdigest()
    assert bytes(snapshot.raw) == raw
    assert snapshot.size == len(raw)
    assert snapshot.parser_version == FEEDS[feed].parser_version
    assert snapshot.results_added == expected
    assert snapshot.results.count() == expected
    assert set(snapshot.results.values_list("benchmark__slug", flat=True)) == slugs
    assert set(Benchmark.objects.values_list("slug", flat=True)) == slugs


def test_a_system_known_by_its_name_is_not_counted_again_under_metrs_slug():
    """The demo's history.csv and staff name systems as METR's page does ("GPT-5"); METR's
    feed names them by slug ("gpt_5_2025_08_07_inspect"). Ingested under the alias, the
    feed's result is a revision of the known system (a more precise value), not a second
    system on the benchmark."""
    feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)  # creates metr-p50
    benchmark = Benchmark.objects.get(slug="metr-p50")
    BenchmarkResult.objects.filter(benchmark=benchmark).delete()
    FeedSnapshot.objects.all().delete()
    for system, value, day in (("GPT-5", 203.0, "2025-08-07"), (OPUS, 718.8, "2026-02-05")):
        benchmark_result_record(
            benchmark_id=benchmark.pk,
            system=system,
            value=value,
            achieved_on=dt.date.fromisoformat(day),
        )
    result = feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    assert (result.added, result.revised) == (1, 2)  # davinci_002 is new
    systems = list(
        BenchmarkResult.objects.filter(benchmark=benchmark, is_current=True).values_list(
            "system", flat=True
        )
    )
    assert sorted(systems) == sorted(["GPT-5", OPUS, "davinci_002"])
    gpt5 = current("metr-p50", "GPT-5")
    assert gpt5.value == pytest.approx(203.012577) and gpt5.revision_of.value == 203.0
    assert gpt5.extra["slug"] == "gpt_5_2025_08_07_inspect"


def test_metr_values_and_release_dates_match_the_file():
    feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)

    opus = current("metr-p50", OPUS)
    assert opus.value == pytest.approx(718.80683)
    assert opus.achieved_on == dt.date(2026, 2, 5)
    assert opus.extra["ci_low"] == pytest.approx(316.685725)
    gpt5 = current("metr-p50", "GPT-5")
    assert gpt5.value == pytest.approx(203.012577)
    assert gpt5.achieved_on == dt.date(2025, 8, 7)
    assert current("metr-p50", "davinci_002").value == pytest.approx(0.144057)
    metr = Benchmark.objects.get(slug="metr-p50")
    assert (metr.name, metr.unit) == ("METR time horizon (p50)", "minutes")


def test_swebench_values_dates_and_links_match_the_file():
    name = "swebench_leaderboards.2025-12-10.json"
    feed_ingest(feed="swebench", raw=sample(name), source=name)

    trae = current("swe-bench-verified", "TRAE + Doubao-Seed-Code")
    assert trae.value == pytest.approx(78.8)
    assert trae.achieved_on == dt.date(2025, 9, 28)
    assert trae.source_url == "https://github.com/bytedance/trae-agent"
    claude2 = current("swe-bench-verified", "RAG + Claude 2")
    assert (claude2.value, claude2.achieved_on) == (pytest.approx(4.4), dt.date(2023, 10, 10))
    opus = current("swe-bench-bash-only", "Claude 4.5 Opus medium (20251101)")
    assert (opus.value, opus.achieved_on) == (pytest.approx(74.4), dt.date(2025, 11, 24))
    assert BenchmarkResult.objects.filter(benchmark__slug="swe-bench-verified").count() == 153
    verified = Benchmark.objects.get(slug="swe-bench-verified")
    assert (verified.name, verified.unit) == ("SWE-bench Verified", "% resolved")


def test_mlebench_values_and_dates_match_the_table():
    name = "mlebench_README_leaderboard.2026-02-26.md"
    feed_ingest(feed="mlebench", raw=sample(name), source=name)

    disarray = BenchmarkResult.objects.get(system__startswith="Disarray")
    assert disarray.value == pytest.approx(77.78)
    assert disarray.achieved_on == dt.date(2026, 2, 3)
    master = current("mle-bench-all", "ML-Master 2.0 (Deepseek-V3.2-Speciale)")
    assert (master.value, master.achieved_on) == (pytest.approx(56.44), dt.date(2025, 12, 16))
    mle = Benchmark.objects.get(slug="mle-bench-all")
    assert (mle.name, mle.unit) == ("MLE-bench (All)", "% any medal")


def test_posttrainbench_epoch_and_corebench_values_match_the_files():
    for feed, name in [
        ("posttrainbench", "posttrainbench_single_metrics_aggregated.csv"),
        ("epoch", "epoch_external_benchmark_metr.2025-12.csv"),
        ("corebench", "hal_corebench_hard.page-text.excerpt.txt"),
    ]:
        assert feed_ingest(feed=feed, raw=sample(name), source=name).ok

    # avg 0.2316289994386348 in the CSV, as a percentage
    assert current("posttrainbench", "Opus-4.6").value == pytest.approx(23.16289994386348)
    assert current("posttrainbench", "Opus-4.6-1M").value == pytest.approx(24.818813376478985)
    sonnet = current("metr-p50", "claude-3-5-sonnet-20240620")
    assert sonnet.value == pytest.approx(18.21683)
    assert sonnet.achieved_on is None  # the Epoch file has no date column
    assert sonnet.source_url.startswith("https://metr.org/blog/2025-03-19-")
    assert current("core-bench-hard", "gpt-4o-2024-05-13").value == pytest.approx(19.45)
    core = Benchmark.objects.get(slug="core-bench-hard")
    assert (core.name, core.unit) == ("CORE-Bench Hard", "% accuracy")


def test_posttrainbench_aggregated_file_is_weighted_over_base_models():
    name = "posttrainbench_aggregated_avg_Opus-4.6.csv"
    feed_ingest(feed="posttrainbench", raw=sample(name), source=f"data/{name}")
    assert current("posttrainbench", "Opus-4.6").value == pytest.approx(23.1629, abs=1e-4)


def test_same_bytes_twice_adds_nothing():
    raw = sample(METR_SAMPLE)
    first = feed_ingest(feed="metr", raw=raw, source=METR_SAMPLE)
    before = counts()

    second = feed_ingest(feed="metr", raw=raw, source="elsewhere/copy.yaml")

    assert second.snapshot.outcome == FeedSnapshot.Outcome.UNCHANGED
    assert second.duplicate_of == first.snapshot.pk
    assert (second.added, second.revised) == (0, 0)
    assert bytes(second.snapshot.raw) == b""  # the bytes are kept once, in the first snapshot
    assert second.snapshot.sha256 == first.snapshot.sha256
    after = counts()
    assert after == {**before, "ok_snapshots": before["ok_snapshots"] + 1}


def test_a_changed_metr_value_is_recorded_as_a_revision():
    first = feed_ingest(feed="metr", raw=metr_sample_with_opus(870.0), source="metr-early.yaml")
    assert first.added == 3
    published = current("metr-p50", OPUS)
    assert published.value == 870.0

    corrected = feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)

    assert (corrected.added, corrected.revised, corrected.unchanged) == (0, 1, 2)
    assert corrected.snapshot.results_revised == 1
    revision = current("metr-p50", OPUS)
    assert revision.value == pytest.approx(718.80683)
    assert revision.revision_of_id == published.pk
    assert revision.snapshot_id == corrected.snapshot.pk
    published.refresh_from_db()
    assert published.is_current is False
    assert BenchmarkResult.objects.filter(system=OPUS).count() == 2
    assert BenchmarkResult.objects.filter(is_current=True).count() == 3


def test_a_changed_achievement_date_is_a_revision_too():
    feed_ingest(feed="metr", raw=metr_yaml({"m": (100.0, None)}), source="a.yaml")
    result = feed_ingest(feed="metr", raw=metr_yaml({"m": (100.0, "2026-01-02")}), source="b.yaml")
    assert result.revised == 1
    assert current("metr-p50", "m").achieved_on == dt.date(2026, 1, 2)


def test_a_system_missing_from_a_later_whole_table_snapshot_is_retired():
    """METR publishes its whole table: a system it no longer has is no longer current (issue 20,
    case 5; tests/markets/test_feed_retirement.py has the METR 1.0 -> 1.1 case)."""
    feed_ingest(feed="metr", raw=metr_yaml({"a": (1.0, None), "b": (2.0, None)}), source="1")
    second = feed_ingest(feed="metr", raw=metr_yaml({"a": (1.0, None)}), source="2")
    assert (second.unchanged, second.retired) == (1, 1)
    assert not BenchmarkResult.objects.filter(system="b", is_current=True).exists()
    b = BenchmarkResult.objects.get(system="b")
    assert (b.value, b.retired_in) == (2.0, second.snapshot)


def test_a_system_missing_from_a_later_file_of_a_partial_feed_keeps_its_result():
    """A PostTrainBench per-agent file is no whole table: another file withdraws nothing."""
    first = feed_ingest(feed="posttrainbench", raw=b"agent,avg\nA,0.2\nB,0.3\n", source="1")
    second = feed_ingest(feed="posttrainbench", raw=b"agent,avg\nA,0.2\n", source="2")
    assert (first.added, second.unchanged, second.retired) == (2, 1, 0)
    assert current("posttrainbench", "B").value == 30.0


def test_unknown_benchmark_slugs_get_readable_names():
    raw = json.dumps(
        {
            "leaderboards": [
                {"name": "Java", "results": [{"name": "Agent X", "resolved": 12.5, "date": ""}]}
            ]
        }
    ).encode()
    assert feed_ingest(feed="swebench", raw=raw, source="leaderboards.json").ok
    java = Benchmark.objects.get(slug="swe-bench-java")
    assert (java.name, java.unit) == ("SWE-bench Java", "% resolved")


def test_existing_benchmark_rows_are_kept_as_they_are():
    Benchmark.objects.create(slug="metr-p50", name="METR (custom name)", unit="min")
    feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    assert Benchmark.objects.get(slug="metr-p50").name == "METR (custom name)"


def test_unknown_feed_is_refused_before_anything_is_recorded():
    with pytest.raises(UnknownFeed, match="known feeds"):
        feed_ingest(feed="nope", raw=b"x", source="x")
    assert FeedSnapshot.objects.count() == 0


# --- Malformed feeds: a clear message, a failed snapshot, and nothing else --------------------

_METR = sample(METR_SAMPLE)
# Cut in the middle of a key of the first result, as a dropped connection would.
TRUNCATED_METR = _METR[: _METR.index(b"p50_horizon_length") + len(b"p50_horizon_len")]
MALFORMED = [
    pytest.param(
        "metr",
        TRUNCATED_METR,
        "metr: invalid YAML at line 19, column 22: could not find expected ':'",
        id="truncated-yaml",
    ),
    pytest.param(
        "metr",
        _METR[: _METR.index(b"results:")],
        "metr: the top-level 'results' mapping is missing",
        id="truncated-yaml-before-results",
    ),
    pytest.param(
        "swebench",
        json.dumps({"leaderboards": {"name": "Verified"}}).encode(),
        "'leaderboards' must be a list",
        id="json-wrong-shape",
    ),
    pytest.param(
        "swebench",
        json.dumps([{"name": "Verified", "results": []}]).encode(),
        "expected a JSON object with 'leaderboards', got a JSON array",
        id="json-array-at-top",
    ),
    pytest.param(
        "mlebench",
        sample("mlebench_README_leaderboard.2026-02-26.md").replace(b"| All (%) ", b"| Mean ", 1),
        "has no 'All (any medal %)' column",
        id="table-missing-column",
    ),
    pytest.param(
        "epoch",
        b"id,Model version,CI_high\nrec1,gpt-4,1.0\n",
        "lacks required column(s) 'Time horizon'",
        id="csv-missing-column",
    ),
    pytest.param("metr", b"", "metr: input is empty", id="empty-file"),
    pytest.param("swebench", b"  \n\n", "swebench: input is empty", id="blank-file"),
    pytest.param("epoch", "Model version,Time horizon\n".encode("utf-16"), "UTF-16", id="utf16"),
]


@pytest.mark.parametrize(("feed", "raw", "message"), MALFORMED)
def test_malformed_feed_fails_its_snapshot_with_a_clear_message_and_changes_nothing(
    feed, raw, message
):
    feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    milestone_question(threshold=600)
    before = counts()

    result = feed_ingest(feed=feed, raw=raw, source="broken")

    assert not result.ok
    assert message in result.error
    snapshot = result.snapshot
    assert snapshot.outcome == FeedSnapshot.Outcome.FAILED
    assert snapshot.error == result.error
    assert bytes(snapshot.raw) == raw  # the evidence of what arrived
    assert snapshot.sha256 == hashlib.sha256(raw).hexdigest()
    assert (snapshot.results_added, snapshot.results_revised) == (0, 0)
    assert counts() == before


def test_a_50_mb_feed_fails_without_storing_the_bytes_and_changes_nothing():
    feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    before = counts()
    raw = b"results:\n" + b"#" * (50 * 1024 * 1024)

    result = feed_ingest(feed="metr", raw=raw, source="huge.yaml")

    assert not result.ok
    assert "over the limit of" in result.error and "refusing to parse it" in result.error
    assert result.snapshot.size == len(raw)
    assert bytes(result.snapshot.raw) == b""
    assert counts() == before


def test_failed_snapshot_does_not_block_ingesting_the_same_bytes_after_a_parser_fix():
    bad = feed_ingest(feed="metr", raw=TRUNCATED_METR, source="x")
    again = feed_ingest(feed="metr", raw=TRUNCATED_METR, source="x")
    assert not bad.ok and not again.ok  # failures are not deduplicated away
    assert FeedSnapshot.objects.filter(outcome=FeedSnapshot.Outcome.FAILED).count() == 2


def test_a_crashing_parser_fails_the_snapshot_instead_of_half_ingesting(monkeypatch):
    def boom(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr("markets.benchmarks.ingest.parse_feed", boom)
    result = feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    assert not result.ok
    assert "parser failed unexpectedly (KeyError" in result.error
    assert BenchmarkResult.objects.count() == 0


# --- Results entered by hand -----------------------------------------------------------------


def test_a_result_entered_by_hand_is_added_then_revised(django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    bench = Benchmark.objects.create(slug="core-bench-hard", name="CORE-Bench Hard", unit="%")
    first, status = benchmark_result_record(
        benchmark_id=bench.pk, system="Claude Code + Opus 4.5", value=78.0, user=staff
    )
    assert status == "added" and first.entered_by == staff and first.snapshot is None

    same, status = benchmark_result_record(
        benchmark_id=bench.pk, system="Claude Code  + Opus 4.5", value=78.0, user=staff
    )
    assert (status, same.pk) == ("unchanged", first.pk)

    regraded, status = benchmark_result_record(
        benchmark_id=bench.pk,
        system="Claude Code + Opus 4.5",
        value=95.0,
        achieved_on=dt.date(2025, 12, 3),
        user=staff,
    )
    assert status == "revised"
    assert regraded.revision_of == first
    first.refresh_from_db()
    assert not first.is_current


# --- The command ---------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command("ingest_benchmarks", *args, stdout=out)
    return out.getvalue()


def test_command_prints_added_revised_unchanged_counts(tmp_path):
    early = tmp_path / "metr-early.yaml"
    early.write_bytes(metr_sample_with_opus(870.0))
    assert "added 3, revised 0, unchanged 0" in run(str(early), "--feed", "metr")

    output = run(str(DATA / METR_SAMPLE), "--feed", "metr")
    assert "added 0, revised 1, unchanged 2" in output
    assert "identical to snapshot" in run(str(DATA / METR_SAMPLE), "--feed", "metr")


def test_command_reports_a_malformed_file_clearly_and_imports_nothing(tmp_path):
    broken = tmp_path / "leaderboards.json"
    broken.write_text('{"leaderboards": [{"name": "Verified", "results": [')
    with pytest.raises(CommandError) as error:
        run(str(broken), "--feed", "swebench")
    assert "swebench: invalid JSON at line 1" in str(error.value)
    assert "Nothing was imported" in str(error.value)
    assert BenchmarkResult.objects.count() == 0
    assert FeedSnapshot.objects.get().outcome == FeedSnapshot.Outcome.FAILED


def test_command_refuses_a_file_over_the_limit_without_reading_it(tmp_path):
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper
    with pytest.raises(CommandError, match=f"over the limit of {MAX_FEED_BYTES:,} bytes"):
        run(str(huge), "--feed", "metr")
    snapshot = FeedSnapshot.objects.get()
    assert (snapshot.outcome, snapshot.size) == (FeedSnapshot.Outcome.FAILED, 50 * 1024 * 1024)
    assert BenchmarkResult.objects.count() == 0


def test_command_reports_a_missing_file_and_an_unknown_feed(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run(str(tmp_path / "nope.yaml"), "--feed", "metr")
    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        run(str(DATA / METR_SAMPLE), "--feed", "nope")
    assert FeedSnapshot.objects.count() == 0


@time_machine.travel(dt.datetime(2026, 3, 10, tzinfo=dt.UTC), tick=False)
def test_ingest_that_changes_results_enqueues_evaluation_after_commit(
    enqueued, django_capture_on_commit_callbacks
):
    question = milestone_question(threshold=600)
    other = milestone_question(slug="swe-bench-verified", threshold=95)
    settled = milestone_question(threshold=600, status=Question.Status.ANNULLED)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    assert len(callbacks) == 1
    sent = [args[0] for name, args in enqueued if name == "markets.evaluate_question"]
    assert sent == [question.pk]
    assert other.pk not in sent and settled.pk not in sent

    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)  # same bytes
    assert callbacks == [] and enqueued == []


def test_broker_down_at_enqueue_does_not_fail_the_ingest(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    from kombu.exceptions import OperationalError

    from markets import tasks

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr(tasks.evaluate_question_task, "delay", down)
    milestone_question(threshold=600)

    with django_capture_on_commit_callbacks(execute=True):
        result = feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)

    assert result.ok and result.added == 3
    assert "the periodic sweep will evaluate it" in caplog.text
