"""PostTrainBench: CSVs from the project website.

Two result formats are accepted:

(a) ``agent,avg,std,n`` — one row per agent, ``avg`` the already weighted score as a fraction;
(b) ``aggregated_avg_<Agent>.csv`` — rows are the base models the agent post-trained, columns
    the seven benchmarks as fractions. Score = mean over base models of
    Σ_b f_b·x_b / Σ_b f_b with the weights f_b of ``factors.json``, reported in percent.

Both give 23.16 for Opus-4.6 on the published data. ``aggregated_baseline.csv`` (base and
instruct models, no agent) is not a result: ingesting it as one could resolve "reaches the
instruct baseline" questions by itself. Use :func:`posttrainbench_instruct_baseline` instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .base import FeedParseError, ParsedResult, decode_text, finish, make_result, skip, to_float
from .tables import CsvTable, read_csv

BENCHMARK = "posttrainbench"

# data/benchmarks/posttrainbench_factors.json, as published with the v2 leaderboard.
DEFAULT_FACTORS: Mapping[str, float] = MappingProxyType(
    {
        "aime2025": 0.226536549919078,
        "arenahardwriting": 0.0903518275042778,
        "bfcl": 0.0746078457817324,
        "gpqamain": 0.22462215653948,
        "gsm8k": 0.0935882347031865,
        "healthbench": 0.184144830733019,
        "humaneval": 0.106148554819225,
    }
)
# Base (pre-trained) checkpoints, as opposed to their instruct versions: "Qwen3-4B-Base",
# "gemma-3-4b-pt" vs "Qwen3-4B", "gemma-3-4b-it".
BASE_MODEL_RE = re.compile(r"[-_](base|pt)$", re.IGNORECASE)
_AGENT_FILE_RE = re.compile(r"aggregated_avg_(?P<agent>.+?)\.csv$", re.IGNORECASE)


def validate_factors(factors: Mapping[str, float]) -> dict[str, float]:
    clean: dict[str, float] = {}
    for name, weight in factors.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"PostTrainBench factor {name!r} must be a number, got {weight!r}")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"PostTrainBench factor {name!r} must be finite and >= 0")
        clean[str(name)] = float(weight)
    if not clean or sum(clean.values()) <= 0:
        raise ValueError("PostTrainBench factors must contain a positive weight")
    return clean


class PostTrainBenchFeed:
    name = "posttrainbench"
    parser_version = "posttrainbench-1"
    default_benchmarks: tuple[str, ...] = (BENCHMARK,)
    whole_table = False  # an aggregated_avg_<Agent>.csv holds one agent

    def __init__(self, factors: Mapping[str, float] | None = None) -> None:
        self.factors = validate_factors(DEFAULT_FACTORS if factors is None else factors)

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        table = read_csv(text, feed=self.name, required=())
        if table.column("agent") is not None:
            return self._single_metrics(text)
        if table.column("model") is not None:
            return self._aggregated(text, filename)
        raise FeedParseError(
            f"posttrainbench: unrecognised CSV header {table.header}: expected 'agent,avg,std,n' "
            f"or a per-agent aggregated_avg_<Agent>.csv starting with 'model'"
        )

    def _single_metrics(self, text: str) -> list[ParsedResult]:
        table = read_csv(text, feed=self.name, required=(("agent",), ("avg",)))
        agent_col, avg_col = table.column("agent"), table.column("avg")
        std_col, n_col = table.column("std"), table.column("n")
        assert agent_col is not None and avg_col is not None
        parsed: list[ParsedResult] = []
        for line, row in table.rows:
            where = f"posttrainbench: line {line}"
            avg = to_float(row[avg_col], where=f"{where}, column 'avg'")
            if avg is None:
                skip(self.name, where, "no 'avg' value")
                continue
            _check_fraction(avg, where=f"{where}, column 'avg'")
            std = to_float(row[std_col], where=f"{where}, column 'std'") if std_col else None
            n = to_float(row[n_col], where=f"{where}, column 'n'") if n_col else None
            extra: dict[str, Any] = {
                "format": "single_metrics",
                "line": line,
                "std": std * 100 if std is not None else None,  # percentage points
                "n": int(n) if n is not None and n.is_integer() else n,
            }
            parsed.append(
                make_result(
                    benchmark=BENCHMARK,
                    system=row[agent_col],
                    value=avg * 100,
                    where=where,
                    extra=extra,
                )
            )
        return finish(parsed, feed=self.name)

    def _aggregated(self, text: str, filename: str) -> list[ParsedResult]:
        base = re.split(r"[\\/]", filename)[-1]
        if "aggregated_baseline" in base.lower():
            raise FeedParseError(
                "posttrainbench: this is the baseline table (base and instruct models), not an "
                "agent's result; use posttrainbench_instruct_baseline() for the baseline"
            )
        match = _AGENT_FILE_RE.search(base)
        if match is None:
            raise FeedParseError(
                "posttrainbench: a per-model CSV names its agent only in the file name; expected "
                f"'aggregated_avg_<Agent>.csv', got filename={filename!r}"
            )
        agent = match["agent"]
        table = _matrix(text, self.factors)
        scores = _weighted_scores(table, self.factors)
        extra: dict[str, Any] = {
            "format": "aggregated_avg",
            "filename": base,
            "base_models": {model: score * 100 for model, score in scores.items()},
            "n_base_models": len(scores),
            "factors": self.factors,
        }
        ignored = [h for h in table.header[1:] if h not in self.factors]
        if ignored:
            extra["ignored_columns"] = ignored
        value = sum(scores.values()) / len(scores) * 100
        result = make_result(
            benchmark=BENCHMARK, system=agent, value=value, where="posttrainbench", extra=extra
        )
        return finish([result], feed=self.name)


def posttrainbench_instruct_baseline(
    raw: bytes, *, factors: Mapping[str, float] | None = None
) -> float:
    """The instruct baseline in percent from ``aggregated_baseline.csv`` (51.1 on v2 data).

    Mean over the instruct models (rows without a ``-Base``/``-pt`` suffix) of the weighted
    score Σ_b f_b·x_b / Σ_b f_b, times 100.
    """
    weights = validate_factors(DEFAULT_FACTORS if factors is None else factors)
    text = decode_text(raw, feed="posttrainbench baseline")
    scores = _weighted_scores(_matrix(text, weights, feed="posttrainbench baseline"), weights)
    instruct = [score for model, score in scores.items() if not BASE_MODEL_RE.search(model)]
    if not instruct:
        raise FeedParseError(
            "posttrainbench baseline: no instruct model rows (all rows are -Base/-pt models)"
        )
    return sum(instruct) / len(instruct) * 100


def _matrix(text: str, factors: Mapping[str, float], feed: str = "posttrainbench") -> CsvTable:
    required = (("model",), *((name,) for name in factors))
    return read_csv(text, feed=feed, required=required)


def _weighted_scores(table: CsvTable, factors: Mapping[str, float]) -> dict[str, float]:
    """Weighted score (a fraction) per model row; every weighted benchmark must have a value."""
    model_col = table.column("model")
    assert model_col is not None
    columns = {name: table.column(name) for name in factors}
    total = sum(factors.values())
    scores: dict[str, float] = {}
    for line, row in table.rows:
        model = row[model_col]
        if not model:
            raise FeedParseError(f"posttrainbench: line {line}: empty 'model'")
        weighted = 0.0
        for name, weight in factors.items():
            column = columns[name]
            assert column is not None
            where = f"posttrainbench: line {line} ({model}), column '{column}'"
            value = to_float(row[column], where=where)
            if value is None:
                raise FeedParseError(f"{where}: missing value; cannot weight the average")
            weighted += weight * _check_fraction(value, where=where)
        if model in scores:
            raise FeedParseError(f"posttrainbench: line {line}: model {model!r} appears twice")
        scores[model] = weighted / total
    if not scores:
        raise FeedParseError("posttrainbench: the CSV has a header but no rows")
    return scores


def _check_fraction(value: float, *, where: str) -> float:
    if not 0 <= value <= 1:
        raise FeedParseError(f"{where}: {value:g} is not a fraction between 0 and 1")
    return value
