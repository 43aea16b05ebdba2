"""The significance tests behind every verdict: Diebold–Mariano (Newey–West, HLN), Pesaran–
Timmermann, Benjamini–Hochberg, against hand computations, and their size and power on seeded
synthetic series (no TensorFlow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from forecast.evaluation.metrics import forecast_metrics, metrics_verdict, point_verdict
from forecast.evaluation.significance import (
    benjamini_hochberg,
    diebold_mariano,
    p_text,
    pesaran_timmermann,
    verdict_word,
)

ACTUAL = np.array([10.0, 11.0, 10.5, 12.0, 11.5, 13.0, 12.5, 12.0, 14.0, 13.5, 15.0, 14.0])
MODEL = np.array([10.2, 10.6, 10.9, 11.6, 11.9, 12.4, 12.8, 12.3, 13.1, 13.9, 14.2, 14.6])
NAIVE = np.array([9.5, 10.0, 11.0, 10.5, 12.0, 11.5, 13.0, 12.5, 12.0, 14.0, 13.5, 15.0])


def hand_dm(model: np.ndarray, other: np.ndarray, actual: np.ndarray, h: int) -> tuple:
    """Diebold–Mariano written out step by step: d = e_model² − e_other², its mean, the
    Newey–West long-run variance with h − 1 Bartlett-weighted lags, the HLN factor."""
    d = [(m - a) ** 2 - (o - a) ** 2 for m, o, a in zip(model, other, actual)]
    n = len(d)
    mean = sum(d) / n
    gamma = [sum((d[i] - mean) * (d[i - k] - mean) for i in range(k, n)) / n for k in range(h)]
    variance = gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))
    statistic = mean / math.sqrt(variance / n)
    statistic *= math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return statistic, student_t.cdf(statistic, n - 1)


@pytest.mark.parametrize("horizon", [1, 5])
def test_diebold_mariano_equals_a_hand_computation(horizon):
    statistic, p_value = hand_dm(MODEL, NAIVE, ACTUAL, horizon)
    result = diebold_mariano(ACTUAL, MODEL, NAIVE, horizon=horizon)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.n == 12 and result.defined
    swapped = diebold_mariano(ACTUAL, NAIVE, MODEL, horizon=horizon)
    assert swapped.p_value == pytest.approx(1 - p_value, rel=1e-9)  # the opposite claim


def test_absolute_error_dm_and_untestable_cases():
    absolute = diebold_mariano(ACTUAL, MODEL, NAIVE, kind="absolute")
    d = np.abs(MODEL - ACTUAL) - np.abs(NAIVE - ACTUAL)
    by_hand = d.mean() / math.sqrt(d.var() / 12) * math.sqrt(11 / 12)
    assert absolute.statistic == pytest.approx(by_hand, rel=1e-12)
    same = diebold_mariano(ACTUAL, NAIVE, NAIVE)
    assert not same.defined and "identical" in same.reason
    assert not diebold_mariano(ACTUAL[:1], MODEL[:1], NAIVE[:1]).defined
    assert "too few" in diebold_mariano(ACTUAL[:4], MODEL[:4], NAIVE[:4], horizon=5).reason


def test_pesaran_timmermann_equals_a_hand_computation():
    previous = np.zeros(10)
    actual = np.array([1, 1, -1, 1, -1, 1, 1, -1, 1, 1], dtype=float)  # 7 up of 10
    predicted = np.array([1, 1, -1, 1, 1, 1, -1, -1, 1, -1], dtype=float)  # 6 up of 10
    n, py, px = 10, 0.7, 0.6
    hit = 7 / 10  # bars 0, 1, 2, 3, 5, 7, 8
    expected = py * px + (1 - py) * (1 - px)
    variance = expected * (1 - expected) / n
    variance_expected = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    statistic = (hit - expected) / math.sqrt(variance - variance_expected)
    result = pesaran_timmermann(actual, predicted, previous)
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(norm.sf(statistic))
    assert (result.accuracy, result.up_share, result.market_up_rate) == (0.7, 0.6, 0.7)
    assert result.direction_changes == pytest.approx(5 / 9)  # flips between the 10 forecasts


def test_always_up_in_a_rising_market_is_no_timing_and_not_significant():
    """55 % up days: an always-up forecast is right 55 % of the time, which the old binomial
    test against 50 % called skill on long series; timing is not even defined."""
    generator = np.random.default_rng(0)
    returns = generator.normal(0.0, 0.01, 2000) + 0.00126  # P(up) ≈ 0.55
    prices = 100 * np.exp(np.cumsum(returns))
    previous, actual = prices[:-1], prices[1:]
    always_up = previous * 1.0001
    result = pesaran_timmermann(actual, always_up, previous)
    assert not result.defined and result.reason == "predicts up on every bar: no timing to test"
    assert result.up_share == 1.0 and result.accuracy == result.market_up_rate > 0.53
    assert result.direction_changes == 0.0


def test_dm_size_under_equal_accuracy_and_power_on_ar1(tmp_path):
    """Seeded, 300 repetitions of 250 bars. Null: two independent noisy copies of the same
    forecast (h = 1, and h = 5 with overlapping errors): rejections at 5 % within binomial
    noise of 5 %. Power: an AR(1) return series, the true conditional mean vs naive."""
    generator = np.random.default_rng(42)
    repetitions, n = 300, 250
    for horizon in (1, 5):
        rejections = 0
        for _ in range(repetitions):
            shocks = generator.normal(0, 1, n + horizon)
            path = np.cumsum(shocks)
            actual = path[horizon:]  # h bars after each origin: overlapping errors
            base = path[:n]
            first = base + generator.normal(0, 0.5, n)
            second = base + generator.normal(0, 0.5, n)
            rejections += diebold_mariano(actual, first, second, horizon).p_value < 0.05
        assert 0.02 <= rejections / repetitions <= 0.09, (horizon, rejections)
    rejections = 0
    for _ in range(repetitions):
        returns = np.zeros(n + 1)
        for index in range(1, n + 1):
            returns[index] = 0.3 * returns[index - 1] + generator.normal(0, 0.01)
        prices = 100 * np.exp(np.cumsum(returns))
        previous, actual = prices[:-1], prices[1:]
        conditional_mean = previous * np.exp(0.3 * returns[:-1])
        rejections += diebold_mariano(actual, conditional_mean, previous).p_value < 0.05
    assert rejections / repetitions >= 0.8


def test_benjamini_hochberg_equals_a_hand_computation():
    # p sorted: 0.01, 0.03, 0.04, 0.20 (m = 4): p·m/rank = 0.04, 0.06, 0.0533, 0.2, then the
    # running minimum from the top.
    q = benjamini_hochberg(np.array([0.04, 0.01, np.nan, 0.20, 0.03]))
    np.testing.assert_allclose(q[[1, 4, 0, 3]], [0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert np.isnan(q[2])
    from scipy.stats import false_discovery_control

    p_values = np.random.default_rng(3).uniform(0, 0.2, 40)
    np.testing.assert_allclose(
        benjamini_hochberg(p_values), false_discovery_control(p_values, method="bh")
    )


def test_three_verdicts_in_words():
    assert verdict_word(0.01) == "beats" and verdict_word(0.99) == "worse than"
    assert verdict_word(0.31) == "no better than" and verdict_word(math.nan) == "no better than"
    assert point_verdict(0.981, 0.003, n=429) == (
        "the model beats the naive last-value forecast (rmse_ratio 0.981, DM p 0.003 over 429 bars)"
    )
    assert point_verdict(1.02, 0.999).startswith("the model is worse than")
    assert point_verdict(0.997, 0.31).endswith("(rmse_ratio 0.997, DM p 0.31: within noise)")
    # extreme p-values are bounded, never printed as "p 1" or "p 2e-09"
    assert [p_text(p) for p in (2e-9, 0.0123, 0.9995)] == ["p < 0.001", "p 0.012", "p > 0.999"]
    metrics = forecast_metrics(ACTUAL, MODEL, NAIVE)
    assert metrics["dm_p_value"] == pytest.approx(hand_dm(MODEL, NAIVE, ACTUAL, 1)[1])
    assert metrics_verdict({**metrics, "n_test": 12}).startswith("The model ")
    edge = {"rmse_ratio": 0.999, "dm_p_value": 0.011, "n_test": 1596}
    assert metrics_verdict({**edge, "dm_p_value_drift": 0.09}).endswith(
        "; it is no better than the drift forecast (DM p 0.09), so its edge over naive is the "
        "average drift."
    )
    assert metrics_verdict({**edge, "dm_p_value_drift": 0.02}).endswith(
        "; it beats the drift forecast too (DM p 0.02)."
    )
    assert metrics_verdict({**edge, "dm_p_value": 0.4, "dm_p_value_drift": 0.0004}).endswith(
        "within noise); it beats the drift forecast (DM p < 0.001)."
    )
