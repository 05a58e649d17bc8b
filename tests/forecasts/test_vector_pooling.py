"""The vector log pool (multiple choice and continuous): SPEC reference values, properties, and
the vectorised history against a re-pool at every event (docs/methods.md §13.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecasts import pooling
from forecasts import vector_pooling as vp

THREE = [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]]


@pytest.mark.parametrize(
    ("probs", "kwargs", "expected"),
    [
        ([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]], {}, [0.339134, 0.321731, 0.339134]),
        (THREE, {}, [0.454346, 0.334765, 0.210889]),
        (THREE, {"extremize": 2.0}, [0.568722, 0.308750, 0.122528]),
        (THREE, {"weights": [1, 2, 3]}, [0.387830, 0.320750, 0.291420]),
        (
            [[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]],
            {},
            [0.224745, 0.275255, 0.275255, 0.224745],
        ),
    ],
)
def test_spec_reference_values(probs, kwargs, expected):
    assert vp.log_pool(probs, **kwargs) == pytest.approx(expected, abs=5e-7)


def test_two_options_equal_the_binary_log_pool():
    pooled = vp.log_pool([[0.2, 0.8], [0.6, 0.4], [0.9, 0.1]])
    assert pooled[0] == pooling.log_pool([0.2, 0.6, 0.9])
    assert pooled[1] == pytest.approx(0.4, abs=1e-15)
    assert pooled[0] == pytest.approx(0.6, abs=1e-15)


@given(
    p=st.lists(st.floats(0.001, 0.999), min_size=1, max_size=8),
    w=st.lists(st.floats(0.1, 10.0), min_size=8, max_size=8),
    d=st.sampled_from([1.0, 1.5, 2.5]),
)
def test_two_options_equal_the_binary_log_pool_with_weights_and_extremizing(p, w, d):
    probs = np.array([[x, 1.0 - x] for x in p])
    pooled = vp.log_pool(probs, w[: len(p)], extremize=d)
    binary = pooling.log_pool(probs[:, 0], w[: len(p)], extremize=d)
    assert pooled[0] == pytest.approx(binary, abs=1e-12)


def _distributions(k: int, n: int):
    raw = arrays(np.float64, (n, k), elements=st.floats(0.01, 1.0))
    return raw.map(lambda a: a / a.sum(axis=1, keepdims=True))


@st.composite
def forecast_sets(draw):
    k = draw(st.integers(2, 6))
    n = draw(st.integers(1, 6))
    return draw(_distributions(k, n))


@given(forecast_sets())
def test_identical_forecasts_pool_to_themselves(probs):
    same = np.repeat(probs[:1], 4, axis=0)
    assert vp.log_pool(same) == pytest.approx(probs[0], abs=1e-12)


@given(forecast_sets(), st.randoms())
def test_permutation_invariance(probs, rnd):
    order = list(range(len(probs)))
    rnd.shuffle(order)
    weights = np.arange(1.0, len(probs) + 1)
    assert vp.log_pool(probs[order], weights[order]) == pytest.approx(
        vp.log_pool(probs, weights), abs=1e-12
    )


@given(forecast_sets(), st.sampled_from([1.0, 2.0, 4.0]))
def test_the_pool_is_a_distribution(probs, d):
    pooled = vp.log_pool(probs, extremize=d)
    assert np.all(pooled >= 0.0)
    assert pooled.sum() == pytest.approx(1.0, abs=1e-12)
    linear = vp.linear_pool(probs)
    assert linear.sum() == pytest.approx(1.0, abs=1e-12)


@given(forecast_sets())
def test_pool_from_sums_equals_the_pool(probs):
    w = np.linspace(0.5, 2.0, len(probs))
    sums = w @ vp.log_terms(probs)
    pooled = vp.pool_from_sums(sums, float(w.sum()), np.ones(probs.shape[1], dtype=bool))
    assert pooled == pytest.approx(vp.log_pool(probs, w), abs=1e-12)


def test_zero_buckets_stay_zero_and_never_make_infinities():
    # Closed bounds: the outer buckets are 0 in every forecast.
    a = np.array([0.0, 0.2, 0.3, 0.5, 0.0])
    b = np.array([0.0, 0.5, 0.3, 0.2, 0.0])
    pooled = vp.log_pool([a, b])
    assert pooled[0] == 0.0 and pooled[-1] == 0.0
    assert pooled[1:4] == pytest.approx(vp.log_pool([a[1:4], b[1:4]]), abs=1e-15)
    sums = vp.log_terms(a) + vp.log_terms(b)
    assert np.all(np.isfinite(sums)) and sums[0] == 0.0
    support = np.array([False, True, True, True, False])
    assert vp.pool_from_sums(sums, 2.0, support) == pytest.approx(pooled, abs=1e-15)


def test_median_and_linear_comparators():
    assert vp.linear_pool(THREE) == pytest.approx([13 / 30, 0.3, 8 / 30])
    med = vp.median_pool(THREE)  # medians [0.5, 0.3, 0.1], renormalised
    assert med == pytest.approx(np.array([0.5, 0.3, 0.1]) / 0.9)
    assert vp.linear_pool(THREE, [1, 0, 0]) == pytest.approx(THREE[0])


@pytest.mark.parametrize(
    "bad",
    [[], [[0.5, np.nan]], [[1.2, -0.2]], [[0.0, 1.0], [1.0, 0.0]]],
)
def test_bad_inputs_are_rejected(bad):
    with pytest.raises(ValueError):
        vp.log_pool(bad)


def test_pool_from_sums_needs_weight():
    with pytest.raises(ValueError):
        vp.pool_from_sums([0.0, 0.0], 0.0, [True, True])


def test_buckets_and_cdf_round_trip_and_quantile_locations():
    x = np.linspace(0.0, 1.0, 201)
    cdf = 0.001 + 0.998 * x  # open bounds, uniform inside
    pmf = vp.buckets_from_cdf(cdf)
    assert pmf.shape == (202,)
    assert pmf.sum() == pytest.approx(1.0)
    assert pmf[0] == pytest.approx(0.001) and pmf[-1] == pytest.approx(0.001)
    assert vp.cdf_from_buckets(pmf) == pytest.approx(cdf, abs=1e-15)
    q = vp.quantile_locations(cdf, [0.0005, 0.5, 0.9995])
    assert q == pytest.approx([0.0, 0.5, 1.0])
    summary = vp.continuous_summary(pmf)
    assert summary == pytest.approx(
        [(0.05 - 0.001) / 0.998, (0.25 - 0.001) / 0.998, 0.5, (0.75 - 0.001) / 0.998,
         (0.95 - 0.001) / 0.998, 0.001, 0.001]
    )  # fmt: skip
    assert summary.nbytes == 56


# --- The history against a re-pool at every event -------------------------------------------


def _reference(times, forecaster, values, support, weights, d, half_life):
    """Re-pool after every event from the active forecasts (O(n²)), the definition."""
    active: dict[int, int] = {}
    out = []
    for j in range(len(times)):
        if np.isnan(values[j, 0]):
            active.pop(int(forecaster[j]), None)
        else:
            active[int(forecaster[j])] = j
        if not active:
            out.append(None)
            continue
        idx = np.array(sorted(active.values()))
        w = weights[idx] * pooling.recency_weights(times[idx], times[j], half_life)
        mean = (w @ vp.log_terms(values[idx])) / w.sum()
        z = np.where(support, d * mean, -np.inf)
        e = np.exp(z - z.max())
        out.append(e / e.sum())
    return out


@settings(max_examples=40, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 4), st.booleans(), st.floats(0.0, 5000.0)),
        min_size=1,
        max_size=40,
    ),
    d=st.sampled_from([1.0, 2.0]),
    half_life=st.sampled_from([None, 60.0, 3600.0]),
    seed=st.integers(0, 2**16),
)
def test_history_equals_a_repool_at_every_event(events, d, half_life, seed):
    rng = np.random.default_rng(seed)
    k = 4
    times = np.cumsum([gap for _, _, gap in events])
    forecaster = np.array([who for who, _, _ in events], dtype=np.int64)
    values = rng.dirichlet(np.ones(k), size=len(events))
    values = np.clip(values, 0.01, None)
    values /= values.sum(axis=1, keepdims=True)
    for j, (_, withdraw, _) in enumerate(events):
        if withdraw:
            values[j] = np.nan
    weights = rng.uniform(0.5, 2.0, size=5)[forecaster]
    support = np.ones(k, dtype=bool)
    hist = vp.pool_history_vectors(
        times, forecaster, values, support, summarize=lambda p: p,
        track_record_weight=weights, extremize=d, half_life=half_life,
    )  # fmt: skip
    want = _reference(times, forecaster, values, support, weights, d, half_life)
    for j, ref in enumerate(want):
        if ref is None:
            assert hist.forecasters[j] == 0 and np.isnan(hist.summary[j]).all()
        else:
            assert hist.summary[j] == pytest.approx(ref, abs=1e-10)
    if want[-1] is not None:
        assert hist.last == pytest.approx(want[-1], abs=1e-10)


def test_history_crosses_chunks_and_rebases():
    # More events than one chunk, and a short half-life spanning thousands of half-lives.
    rng = np.random.default_rng(3)
    n, k = 9000, 3
    times = np.arange(n, dtype=np.float64) * 10.0
    forecaster = rng.integers(0, 50, size=n)
    values = rng.dirichlet(np.ones(k), size=n) * 0.9 + 0.1 / k
    support = np.ones(k, dtype=bool)
    hist = vp.pool_history_vectors(
        times, forecaster, values, support, summarize=lambda p: p, half_life=5.0
    )
    tail = slice(n - 200, n)
    ref = _reference(times[tail], forecaster[tail], values[tail], support, np.ones(200), 1.0, 5.0)
    # With h = 5 s, forecasts older than the last 200 events (2,000 s = 400 half-lives) weigh
    # nothing next to them: the tail alone gives the pool.
    assert hist.last == pytest.approx(ref[-1], abs=1e-12)


def test_history_withdrawing_the_dominant_forecast_repools():
    times = np.array([0.0, 1000.0, 1001.0])
    forecaster = np.array([1, 2, 2])
    values = np.array([[0.7, 0.3], [0.1, 0.9], [np.nan, np.nan]])
    hist = vp.pool_history_vectors(
        times, forecaster, values, np.ones(2, dtype=bool), summarize=lambda p: p, half_life=1.0
    )
    assert hist.summary[2] == pytest.approx([0.7, 0.3], abs=1e-12)


@pytest.mark.parametrize("rows", [None, 1, 3])
def test_the_continuous_summary_leaves_its_input_alone(rows) -> None:
    """A single PMF (or a one-row block) was cumulated in place: the crowd's pooled PMF after
    the summary was its CDF (found by the export test of the final CDF)."""
    rng = np.random.default_rng(5)
    shape = (202,) if rows is None else (rows, 202)
    pmf = rng.dirichlet(np.ones(202), size=None if rows is None else rows).reshape(shape)
    before = pmf.copy()
    vp.continuous_summary(pmf)
    assert np.array_equal(pmf, before)
