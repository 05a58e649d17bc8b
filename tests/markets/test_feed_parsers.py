"""Feed parsers against the real samples in data/benchmarks/ and against malformed input.

Expected values were read by hand from the sample files, not computed by the parsers.
No database and no Django: the parsers are pure.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from markets.benchmarks.feeds import (
    FEEDS,
    MAX_FEED_BYTES,
    POSTTRAINBENCH_FACTORS,
    FeedParseError,
    ParsedResult,
    PostTrainBenchFeed,
    parse_feed,
    posttrainbench_instruct_baseline,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "benchmarks"

METR = "metr_benchmark_results_1_1.2026-03.excerpt.yaml"
SWEBENCH = "swebench_leaderboards.2025-12-10.json"
MLEBENCH = "mlebench_README_leaderboard.2026-02-26.md"
PTB_SINGLE = "posttrainbench_single_metrics_aggregated.csv"
PTB_OPUS = "posttrainbench_aggregated_avg_Opus-4.6.csv"
PTB_BASELINE = "posttrainbench_aggregated_baseline.csv"
PTB_FACTORS = "posttrainbench_factors.json"
EPOCH = "epoch_external_benchmark_metr.2025-12.csv"
COREBENCH = "hal_corebench_hard.page-text.excerpt.txt"

SAMPLES = [
    ("metr", METR),
    ("swebench", SWEBENCH),
    ("mlebench", MLEBENCH),
    ("posttrainbench", PTB_SINGLE),
    ("posttrainbench", PTB_OPUS),
    ("epoch", EPOCH),
    ("corebench", COREBENCH),
]


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse(feed: str, name: str) -> list[ParsedResult]:
    return parse_feed(feed, sample(name), filename=name)


def by_system(results: list[ParsedResult], benchmark: str | None = None) -> dict[str, ParsedResult]:
    return {r.system: r for r in results if benchmark is None or r.benchmark == benchmark}


# --- every sample -------------------------------------------------------------------------------


@pytest.mark.parametrize(("feed", "name"), SAMPLES)
def test_each_real_sample_parses_into_well_formed_results(feed: str, name: str) -> None:
    results = parse(feed, name)

    assert results
    assert {r.benchmark for r in results} <= set(FEEDS[feed].default_benchmarks)
    for result in results:
        assert result.system and result.system == result.system.strip()
        assert "[" not in result.system and "<br" not in result.system
        assert isinstance(result.value, float) and math.isfinite(result.value)
        assert result.achieved_on is None or isinstance(result.achieved_on, dt.date)
        assert result.source_url == "" or result.source_url.startswith(("http://", "https://"))
        json.dumps(result.extra)  # stored in a JSONField
    pairs = Counter((r.benchmark, r.system) for r in results)
    assert max(pairs.values()) == 1  # one current result per (benchmark, system)


def test_feed_registry_matches_the_contract() -> None:
    assert set(FEEDS) == {"metr", "swebench", "mlebench", "posttrainbench", "epoch", "corebench"}
    for name, feed in FEEDS.items():
        assert feed.name == name
        assert feed.parser_version
        assert feed.default_benchmarks


def test_parsers_do_not_import_django() -> None:
    code = (
        "import sys, markets.benchmarks.feeds; "
        "assert 'django' not in sys.modules, 'django imported'"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, env=env)


# --- METR ---------------------------------------------------------------------------------------


def test_metr_gives_p50_minutes_release_dates_and_ci() -> None:
    results = by_system(parse("metr", METR))

    # METR's slugs of systems known by a name are ingested under it (SYSTEM_NAMES).
    assert set(results) == {"Claude Opus 4.6", "davinci_002", "GPT-5"}
    opus = results["Claude Opus 4.6"]
    assert opus.extra["slug"] == "claude_opus_4_6_inspect"
    assert opus.benchmark == "metr-p50"
    assert opus.value == 718.80683
    assert opus.achieved_on == dt.date(2026, 2, 5)
    assert opus.source_url == ""
    assert opus.extra["ci_low"] == 316.685725
    assert opus.extra["ci_high"] == 3633.786163
    assert opus.extra["is_sota_p50"] is True
    assert opus.extra["benchmark_name"] == "METR-Horizon-v1.1"
    davinci = results["davinci_002"]
    assert (davinci.value, davinci.achieved_on) == (0.144057, dt.date(2020, 5, 28))
    assert davinci.extra["benchmark_name"] == "METR-Horizon-v1.0"
    gpt5 = results["GPT-5"]
    assert (gpt5.value, gpt5.achieved_on) == (203.012577, dt.date(2025, 8, 7))


def test_metr_skips_a_result_without_p50_and_tolerates_missing_optional_fields() -> None:
    raw = b"""
results:
  no_metrics_yet:
    release_date: 2026-03-01
  bare_model:
    metrics:
      p50_horizon_length:
        estimate: 12.5
"""
    [result] = parse_feed("metr", raw)

    assert (result.system, result.value, result.achieved_on) == ("bare_model", 12.5, None)
    assert result.extra["ci_low"] is None and result.extra["is_sota_p50"] is None


def test_metr_tolerates_added_unknown_fields() -> None:
    raw = (
        sample(METR)
        .replace(b"results:\n", b"new_top_level: {a: 1}\nresults:\n  surprise: []\n")
        .replace(b"    release_date: 2026-02-05\n", b"    release_date: 2026-02-05\n    new: x\n")
    )

    results = by_system(parse_feed("metr", raw))

    assert results["Claude Opus 4.6"].value == 718.80683
    assert "surprise" not in results


def test_metr_truncated_yaml_fails_with_line_number() -> None:
    raw = sample(METR)
    truncated = raw[: raw.index(b"ci_low: 316") + len(b"ci_lo")]

    with pytest.raises(FeedParseError, match=r"metr: invalid YAML at line \d+"):
        parse_feed("metr", truncated)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"benchmark_name: METR-Horizon-v1.1\n", "'results' mapping is missing"),
        (b"results:\n- a\n- b\n", "'results' must be a mapping"),
        (b"- just\n- a list\n", "expected a YAML mapping at the top level"),
        (b"results:\n  m:\n    metrics: {}\n", "no results found"),
        (
            b"results:\n  m:\n    metrics:\n      p50_horizon_length:\n        estimate: long\n",
            r"results\.m\.metrics\.p50_horizon_length\.estimate: expected a number",
        ),
        (
            b"results:\n  m:\n    metrics:\n      p50_horizon_length:\n        estimate: -3\n",
            "negative value",
        ),
    ],
)
def test_metr_wrong_shape_fails_the_whole_file(raw: bytes, message: str) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed("metr", raw)


# --- SWE-bench ----------------------------------------------------------------------------------


def test_swebench_maps_leaderboards_to_slugs_and_counts() -> None:
    counts = Counter(r.benchmark for r in parse("swebench", SWEBENCH))

    # Verified has 162 rows and Lite 84; same-named rows collapse into one (see below).
    assert counts == {
        "swe-bench-verified": 153,
        "swe-bench-lite": 81,
        "swe-bench-bash-only": 31,
        "swe-bench-full": 23,
        "swe-bench-multimodal": 22,
    }


def test_swebench_verified_entries_read_by_hand() -> None:
    results = parse("swebench", SWEBENCH)
    verified = by_system(results, "swe-bench-verified")

    trae = verified["TRAE + Doubao-Seed-Code"]
    assert (trae.value, trae.achieved_on) == (78.8, dt.date(2025, 9, 28))
    assert trae.extra["checked"] is False
    assert trae.source_url == "https://github.com/bytedance/trae-agent"  # site was a list
    assert trae.extra["sites"] == [
        "https://github.com/bytedance/trae-agent",
        "https://seed.bytedance.com/",
    ]
    assert trae.extra["models"] == ["Doubao-Seed-Code", "Doubao-Seed-1.6"]
    assert trae.extra["orgs"] == ["ByteDance"]

    gpt4 = verified["SWE-agent + GPT 4 (1106)"]
    assert (gpt4.value, gpt4.achieved_on, gpt4.extra["checked"]) == (
        22.4,
        dt.date(2024, 4, 2),
        True,
    )

    claude2 = verified["RAG + Claude 2"]
    assert (claude2.value, claude2.achieved_on) == (4.4, dt.date(2023, 10, 10))
    assert claude2.source_url == ""  # site is null

    assert verified["Tools + Claude 4 Opus (2025-05-22)"].value == 73.2
    assert by_system(results, "swe-bench-full")["RAG + Claude 2"].value == 1.96
    assert by_system(results, "swe-bench-lite")["RAG + Claude 2"].value == 3.0
    sage = by_system(results, "swe-bench-full")["Salesforce AI Research SAGE (bash-only)"]
    assert (sage.value, sage.achieved_on) == (44.25, dt.date(2025, 10, 27))


def test_swebench_normalizes_checked_given_as_bool_null_or_string() -> None:
    verified = by_system(parse("swebench", SWEBENCH), "swe-bench-verified")

    live = verified["live-SWE-agent + Gemini 3 Pro Preview (2025-11-18)"]
    assert live.extra["checked"] is False
    assert live.extra["checked_note"].startswith("false (See README.md")
    assert verified["mini-SWE-agent + GPT-5.1-codex (medium reasoning)"].extra["checked"] is None


def test_swebench_same_name_twice_keeps_best_and_records_the_other() -> None:
    warp = by_system(parse("swebench", SWEBENCH), "swe-bench-verified")["Warp"]

    assert (warp.value, warp.achieved_on) == (75.6, dt.date(2025, 9, 1))
    [other] = warp.extra["other_entries"]
    assert (other["value"], other["achieved_on"]) == (71.0, "2025-06-23")
    assert other["extra"]["folder"] == "20250623_warp"


def test_swebench_tolerates_unknown_fields_unknown_boards_and_odd_dates() -> None:
    document = {
        "generated": "2026-01-01",
        "leaderboards": [
            {
                "name": "Java Verified",
                "new_board_field": 1,
                "results": [
                    {"name": "A", "resolved": 10, "date": "2025-11-24T10:00:00Z", "x": {}},
                    {"name": "B", "resolved": "12.5", "date": "Nov 24, 2025", "site": None},
                    {"name": "C", "resolved": 1.0, "date": "someday", "checked": "true (ok)"},
                    {"name": "D", "resolved": None},
                ],
            }
        ],
    }
    results = by_system(parse_feed("swebench", json.dumps(document).encode()))

    assert set(results) == {"A", "B", "C"}  # D has no value: skipped
    assert {r.benchmark for r in results.values()} == {"swe-bench-java-verified"}
    assert results["A"].achieved_on == dt.date(2025, 11, 24)
    assert (results["B"].value, results["B"].achieved_on) == (12.5, dt.date(2025, 11, 24))
    assert results["C"].achieved_on is None and results["C"].extra["date_raw"] == "someday"
    assert results["C"].extra["checked"] is True


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"name": "Verified", "results": []}], "expected a JSON object with 'leaderboards'"),
        ({"boards": []}, "no 'leaderboards' key"),
        ({"leaderboards": {"Verified": []}}, "'leaderboards' must be a list"),
        ({"leaderboards": [{"name": "Verified", "results": {}}]}, r"leaderboards\[0\]\.results"),
        ({"leaderboards": [{"results": []}]}, r"leaderboards\[0\]\.name"),
        (
            {
                "leaderboards": [
                    {"name": "Verified", "results": [{"name": "X", "resolved": "lots"}]}
                ]
            },
            r"leaderboards\[0\]\.results\[0\] \(X\)\.resolved: expected a number",
        ),
        (
            {"leaderboards": [{"name": "Verified", "results": [{"name": "X", "resolved": True}]}]},
            "boolean",
        ),
        (
            {"leaderboards": [{"name": "Verified", "results": [{"name": "X", "resolved": 140}]}]},
            "not a percentage",
        ),
        ({"leaderboards": [{"name": "Verified", "results": [{"resolved": 1}]}]}, r"\.name"),
        ({"leaderboards": []}, "no results found"),
    ],
)
def test_swebench_json_of_the_wrong_shape_fails_with_its_path(
    document: object, message: str
) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed("swebench", json.dumps(document).encode())


def test_swebench_invalid_json_reports_line_and_column() -> None:
    raw = sample(SWEBENCH)[:5000]

    with pytest.raises(FeedParseError, match=r"invalid JSON at line \d+, column \d+"):
        parse_feed("swebench", raw)


# --- MLE-bench ----------------------------------------------------------------------------------


def test_mlebench_values_dates_links_and_footnotes_read_by_hand() -> None:
    results = by_system(parse("mlebench", MLEBENCH))

    assert len(results) == 25  # 26 rows; PiEvolve (Gemini-3-Pro-Preview) appears twice
    disarray = next(r for r in results.values() if r.extra["agent"] == "Disarray")
    assert disarray.benchmark == "mle-bench-all"
    assert (disarray.value, disarray.achieved_on) == (77.78, dt.date(2026, 2, 3))
    assert disarray.extra["stderr"] == 0.44
    assert disarray.source_url == "https://disarray.ai"
    assert disarray.extra["known_leakage"] is True
    assert disarray.extra["leakage_url"] == "https://github.com/openai/mle-bench/pull/118"
    assert disarray.system.startswith("Disarray (Ensemble (Claude-Opus-4.5")

    aide = results["AIDE (o1-preview)"]
    assert (aide.value, aide.achieved_on) == (17.12, dt.date(2024, 10, 8))
    assert aide.extra["stderr"] == 0.61
    assert aide.extra["splits"]["low"] == {"value": 35.91, "stderr": 1.86}
    assert aide.extra["known_leakage"] is False
    assert aide.extra["running_time_hours"] == 24.0

    loong = results["LoongFlow (Gemini-3-Flash-Preview)"]
    assert (loong.value, loong.extra["stderr"]) == (62.66, 0.76)
    assert loong.extra["value_footnotes"] == ["3"]
    assert (
        loong.extra["footnotes"]["3"] == "Computed by padding incomplete seeds with failing scores."
    )

    operand = results["Operand ensemble (gpt-5 (low verbosity/effort))"]
    assert operand.extra["footnotes"]["2"].endswith("distilled by Gemini-2.5-Pro.")  # 2 lines
    assert results["CAIR MLE-STAR-Pro-1.5 (Gemini-2.5-Pro)"].value == 44.0
    assert results["OpenHands (gpt-4o-2024-08-06)"].source_url == ""
    assert results["ML-Master 2.0 (Deepseek-V3.2-Speciale)"].achieved_on == dt.date(2025, 12, 16)


def test_mlebench_br_becomes_space_and_duplicate_rows_keep_the_best() -> None:
    piev = by_system(parse("mlebench", MLEBENCH))[
        "PiEvolve (Fractal AI Research) (Gemini-3-Pro-Preview)"
    ]

    assert (piev.value, piev.achieved_on) == (61.33, dt.date(2026, 1, 5))
    assert piev.extra["running_time_hours"] == 24.0
    [other] = piev.extra["other_entries"]
    assert other["value"] == 52.0 and other["extra"]["running_time_hours"] == 12.0
    assert "GPT-5-mini" in piev.extra["footnotes"]["4"]


OLDER_README = """# MLE-bench

## Leaderboard

| Agent | LLM(s) used | Low == Lite (%) | Medium (%) | High (%) | All (%) | Running Time (hours) | Date | Grading Reports Available | Source Code Available |
|-------|-------------|-----------------|------------|----------|---------|----------------------|------|---------------------------|----------------------|
| [Thesis](https://thesislabs.ai) | gpt-5-codex | 65.15 ± 2.14 | 45.61 ± 10.15 | 31.11 ± 3.14 | 48.44 ± 5.14 | 24 | 2025-11-10 | ✓ | X |
| AIDE | o1-preview | 34.3 ± 2.4 | 8.8 ± 1.1 | 10.0 ± 1.9 | 16.9 ± 1.1 | 24 | 2024-10-08 | ✓ | ✓ |

## Benchmarking

| Competition ID | Category | Dataset Size (GB) |
|----------------|----------|-------------------|
| aerial-cactus-identification | Image Classification | 0.0254 |
"""  # noqa: E501 (the README's own line)


def test_mlebench_older_column_set_is_read_by_header_names() -> None:
    results = by_system(parse_feed("mlebench", OLDER_README.encode()))

    assert set(results) == {"Thesis (gpt-5-codex)", "AIDE (o1-preview)"}
    aide = results["AIDE (o1-preview)"]
    assert (aide.value, aide.achieved_on, aide.extra["stderr"]) == (16.9, dt.date(2024, 10, 8), 1.1)
    assert aide.extra["known_leakage"] is None  # no such column then


def test_mlebench_any_medal_column_in_a_table_without_leaderboard_heading() -> None:
    raw = """Intro text.

| Split | Competitions |
|---|---|
| Low | 22 |

| Date | Any Medal (%) | Model | Agent |
|:---|---:|---|---|
| 2024-10-08 | 16.9 ± 1.1 | o1-preview | AIDE |
| 2024-10-08 | - | gpt-4o | MLAB |
"""
    [result] = parse_feed("mlebench", raw.encode())  # MLAB has no value: skipped

    assert (result.system, result.value, result.achieved_on) == (
        "AIDE (o1-preview)",
        16.9,
        dt.date(2024, 10, 8),
    )
    assert result.extra["value_column"] == "Any Medal (%)"


def test_mlebench_tolerates_an_added_column() -> None:
    raw = sample(MLEBENCH).decode()
    lines = raw.splitlines()
    lines[2] = lines[2].replace("| Date |", "| Cost ($) | Date |")
    lines[3] = lines[3].replace("|------|", "|---|------|")
    lines = [
        line.replace("| 2024-10-08 |", "| 12 | 2024-10-08 |") if "o1-preview" in line else line
        for line in lines
    ]
    results = by_system(parse_feed("mlebench", "\n".join(lines).encode()))

    assert results["AIDE (o1-preview)"].achieved_on == dt.date(2024, 10, 8)
    assert results["AIDE (o1-preview)"].extra["columns"]["Cost ($)"] == "12"


@pytest.mark.parametrize(
    ("column", "message"),
    [("All (%)", r"no 'All \(any medal %\)' column"), ("Agent", "no 'Agent' column")],
)
def test_mlebench_table_missing_a_column_fails_naming_it(column: str, message: str) -> None:
    lines = sample(MLEBENCH).decode().splitlines()
    header = [cell.strip() for cell in lines[2].strip().strip("|").split("|")]
    drop = header.index(column)

    def without(line: str) -> str:
        if not line.lstrip().startswith("|"):
            return line
        cells = line.strip().strip("|").split("|")
        return "|" + "|".join(cells[:drop] + cells[drop + 1 :]) + "|"

    raw = "\n".join(without(line) for line in lines).encode()
    with pytest.raises(FeedParseError, match=message):
        parse_feed("mlebench", raw)


def test_mlebench_unreadable_value_cell_fails_with_line() -> None:
    raw = sample(MLEBENCH).replace(b"17.12 \xc2\xb1 0.61", b"about seventeen")

    with pytest.raises(FeedParseError, match=r"line 25, column 'All \(%\)'.*about seventeen"):
        parse_feed("mlebench", raw)


def test_mlebench_text_without_a_table_fails() -> None:
    with pytest.raises(FeedParseError, match="no markdown table found"):
        parse_feed("mlebench", b"## Leaderboard\n\nComing soon.\n")


# --- PostTrainBench -----------------------------------------------------------------------------


def test_posttrainbench_single_metrics_in_percent() -> None:
    results = by_system(parse("posttrainbench", PTB_SINGLE))

    assert len(results) == 13
    opus = results["Opus-4.6"]
    assert opus.benchmark == "posttrainbench"
    assert opus.value == pytest.approx(23.16289994386348, abs=1e-9)
    assert opus.extra["std"] == pytest.approx(1.8034286817758392)
    assert opus.extra["n"] == 3
    assert opus.achieved_on is None
    assert results["Opus-4.6-1M"].value == pytest.approx(24.818813376478985)
    assert results["GPT-5.1-Codex-Max High"].extra["n"] == 2


def test_posttrainbench_per_agent_file_weighted_by_factors_matches_single_metrics() -> None:
    [opus] = parse("posttrainbench", PTB_OPUS)
    single = by_system(parse("posttrainbench", PTB_SINGLE))["Opus-4.6"]

    assert opus.system == "Opus-4.6"
    assert opus.value == pytest.approx(23.16, abs=0.005)
    assert opus.value == pytest.approx(single.value, abs=1e-9)
    assert opus.extra["n_base_models"] == 4
    assert opus.extra["base_models"]["Qwen3-1.7B-Base"] == pytest.approx(13.90177, abs=1e-5)


def test_posttrainbench_bundled_factors_are_the_published_file() -> None:
    assert dict(POSTTRAINBENCH_FACTORS) == json.loads(sample(PTB_FACTORS))


def test_posttrainbench_factors_can_be_overridden() -> None:
    feed = PostTrainBenchFeed(factors={"gsm8k": 2.0})
    [opus] = feed.parse(sample(PTB_OPUS), filename=PTB_OPUS)

    # gsm8k column of the Opus-4.6 file, by hand: mean of the four base models.
    gsm8k = [0.27141774071266117, 0.5218599949456659, 0.5804902704068738, 0.26787970684862267]
    assert opus.value == pytest.approx(sum(gsm8k) / 4 * 100)


def test_posttrainbench_instruct_baseline_is_51_1() -> None:
    baseline = posttrainbench_instruct_baseline(sample(PTB_BASELINE))

    assert baseline == pytest.approx(51.1359, abs=1e-4)
    assert round(baseline, 1) == 51.1


def test_posttrainbench_instruct_baseline_needs_instruct_rows() -> None:
    base_only = b"\n".join(
        line for line in sample(PTB_BASELINE).splitlines() if b"Base" in line or b"model" in line
    )
    with pytest.raises(FeedParseError, match="no instruct model rows"):
        posttrainbench_instruct_baseline(base_only)


def test_posttrainbench_baseline_file_is_not_ingested_as_a_result() -> None:
    with pytest.raises(FeedParseError, match="posttrainbench_instruct_baseline"):
        parse("posttrainbench", PTB_BASELINE)


def test_posttrainbench_per_agent_file_needs_its_file_name() -> None:
    with pytest.raises(FeedParseError, match=r"aggregated_avg_<Agent>\.csv"):
        parse_feed("posttrainbench", sample(PTB_OPUS))


def test_posttrainbench_tolerates_extra_columns() -> None:
    lines = sample(PTB_OPUS).decode().splitlines()
    raw = "\n".join(f"{line},{'new_bench' if i == 0 else '0.5'}" for i, line in enumerate(lines))
    [opus] = parse_feed("posttrainbench", raw.encode(), filename=PTB_OPUS)

    assert opus.value == pytest.approx(23.1629, abs=1e-4)
    assert opus.extra["ignored_columns"] == ["new_bench"]


@pytest.mark.parametrize(
    ("raw", "filename", "message"),
    [
        (b"agent,score\nX,0.2\n", "", "lacks required column.*'avg'"),
        (
            b"model,aime2025,arenahardwriting,bfcl,gpqamain,gsm8k,healthbench\nQwen3-4B-Base,0,0,0,0,0,0\n",
            PTB_OPUS,
            "lacks required column.*'humaneval'",
        ),
        (b"name,value\nX,1\n", "", "unrecognised CSV header"),
        (b"agent,avg,std,n\nX,23.1,0.01,3\n", "", "23.1 is not a fraction"),
        (b"agent,avg,std,n\nX,high,0.01,3\n", "", "line 2, column 'avg': expected a number"),
    ],
)
def test_posttrainbench_bad_csv_fails_clearly(raw: bytes, filename: str, message: str) -> None:
    with pytest.raises(FeedParseError, match=message):
        parse_feed("posttrainbench", raw, filename=filename)


# --- Epoch --------------------------------------------------------------------------------------


def test_epoch_csv_with_bom_gives_metr_minutes_without_dates() -> None:
    assert sample(EPOCH).startswith(b"\xef\xbb\xbf")
    results = by_system(parse("epoch", EPOCH))

    assert len(results) == 3
    sonnet = results["claude-3-5-sonnet-20240620"]
    assert sonnet.benchmark == "metr-p50"
    assert sonnet.value == 18.21683
    assert sonnet.achieved_on is None
    assert (sonnet.extra["ci_low"], sonnet.extra["ci_high"]) == (9.492954, 34.472569)
    assert sonnet.source_url.startswith("https://metr.org/blog/2025-03-19-")
    assert results["claude-3-7-sonnet-20250219_16K"].value == 54.226342


def test_epoch_uses_a_date_column_when_one_exists_and_ignores_unknown_columns() -> None:
    raw = (
        b"Model version,Time horizon,Release date,Brand new\nm1,5.5,2025-02-24,x\nm2,,2025-03-01,y"
    )
    [result] = parse_feed("epoch", raw)  # m2 has no value: skipped

    assert (result.system, result.value, result.achieved_on) == ("m1", 5.5, dt.date(2025, 2, 24))


def test_epoch_csv_missing_required_column_fails_naming_it() -> None:
    raw = sample(EPOCH).replace(b"Time horizon", b"Horizon")

    with pytest.raises(FeedParseError, match=r"lacks required column.*'Time horizon'"):
        parse_feed("epoch", raw)


# --- CORE-Bench (HAL page text) ------------------------------------------------------------------


def test_corebench_page_text_with_shifted_columns() -> None:
    results = by_system(parse("corebench", COREBENCH))

    assert {r.benchmark for r in results.values()} == {"core-bench-hard"}
    assert len(results) == 4
    pareto = results["CORE-Agent Pareto optimal (Claude Opus 4.1 (August 2025))"]
    assert (pareto.value, pareto.achieved_on, pareto.extra["aligned"]) == (51.11, None, True)
    assert pareto.extra["cost_usd"] == 412.42
    gpt4o = results["gpt-4o-2024-05-13"]  # a vanished cell shifts this row left by one
    assert (gpt4o.value, gpt4o.extra["aligned"]) == (19.45, False)
    assert (gpt4o.extra["ci_minus"], gpt4o.extra["ci_plus"]) == (1.66, 0.55)
    assert gpt4o.extra["cost_usd"] == 134.43
    assert results["claude-3-5-sonnet-20241022"].value == 37.78
    assert results["Claude Opus 4.1 High (August 2025)"].value == 42.22  # truncated row


def test_corebench_header_without_accuracy_fails() -> None:
    raw = "Rank | Agent | Models | Verified | Score | Cost (USD)\n1 | A | m | ✓ | 50% | $1".encode()

    with pytest.raises(FeedParseError, match="no 'Accuracy' column"):
        parse_feed("corebench", raw)


def test_corebench_text_without_table_fails() -> None:
    with pytest.raises(FeedParseError, match="no leaderboard table found"):
        parse_feed("corebench", b"HAL leaderboard is loading...\n")


# --- input that no parser should read -----------------------------------------------------------


@pytest.mark.parametrize("feed", sorted(FEEDS))
@pytest.mark.parametrize("raw", [b"", b"   \n\t\n", b"\xef\xbb\xbf"])
def test_empty_input_fails(feed: str, raw: bytes) -> None:
    with pytest.raises(FeedParseError, match="input is empty"):
        parse_feed(feed, raw)


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_non_utf8_garbage_fails(feed: str) -> None:
    raw = bytes(range(0x80, 0x100)) * 4

    with pytest.raises(FeedParseError, match="not valid UTF-8"):
        parse_feed(feed, raw)


def test_utf16_and_binary_input_fail_clearly() -> None:
    with pytest.raises(FeedParseError, match="UTF-16"):
        parse_feed("epoch", "Model version,Time horizon\n".encode("utf-16"))
    with pytest.raises(FeedParseError, match="NUL bytes"):
        parse_feed("epoch", b"Model version,Time horizon\nm\x00,1\n")


class _NoDecode(bytes):
    def decode(self, *args: object, **kwargs: object) -> str:
        raise AssertionError("decoded a feed over the size limit")


@pytest.mark.parametrize("feed", sorted(FEEDS))
def test_fifty_megabyte_input_is_refused_before_decoding(feed: str) -> None:
    raw = _NoDecode(b"a" * (50 * 1024 * 1024))

    with pytest.raises(FeedParseError, match="over the limit of 20,971,520 bytes"):
        parse_feed(feed, raw)
    with pytest.raises(FeedParseError, match="over the limit"):
        FEEDS[feed].parse(raw)


def test_input_at_the_size_limit_is_not_refused_for_its_size() -> None:
    raw = sample(PTB_SINGLE)
    # Blank lines of 100 kB each (under the csv module's field limit), up to exactly the limit.
    line = b" " * 99_999 + b"\n"
    padding = line * ((MAX_FEED_BYTES - len(raw)) // len(line))
    padding += b"\n" * (MAX_FEED_BYTES - len(raw) - len(padding))
    assert len(raw + padding) == MAX_FEED_BYTES
    results = parse_feed("posttrainbench", raw + padding)

    assert len(results) == 13


def test_unknown_feed_name_fails_listing_known_feeds() -> None:
    with pytest.raises(FeedParseError, match=r"unknown feed 'hal'.*corebench, epoch, metr"):
        parse_feed("hal", b"x")
