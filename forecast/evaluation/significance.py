"""Is a difference more than noise? Every verdict the tool prints comes through here.

- **Diebold–Mariano** (``diebold_mariano``): does one forecast have a lower expected loss than
  another on the same bars? The loss differential d_t = L(e_model,t) − L(e_other,t) has its
  mean tested against 0 with a Newey–West long-run variance (Bartlett weights, h − 1 lags:
  h-step forecasts made bar after bar overlap, so their errors are autocorrelated up to lag
  h − 1), and the Harvey–Leybourne–Newbold small-sample correction, compared with Student's
  t on n − 1 degrees of freedom. Squared errors test the RMSE claim, absolute errors the
  MAE/MASE claim; per-bar interval scores test one band against another.
- **Pesaran–Timmermann** (``pesaran_timmermann``): does the forecast *time* the market's
  direction? Directional accuracy against 50 % rewards a forecast that always says "up" in a
  rising market; this test conditions on how often the forecast and the market go up. A
  forecast that never changes its predicted direction has no timing to test (no p-value, and
  says so).
- **Benjamini–Hochberg** (``benjamini_hochberg``): q-values across tickers.
- **Verdicts in three words** (``verdict_word``): *beats* when the one-sided p < 0.05,
  *worse than* when the opposite one-sided p < 0.05, otherwise *no better than* (within
  noise).

SciPy's distributions are imported on first use only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIGNIFICANCE = 0.05
LOSSES = ("squared", "absolute")


@dataclass(frozen=True)
class TestResult:
    """A one-sided test: ``p_value`` small means the first forecast is better (or times the
    market). NaN statistic and p-value where the test is undefined; ``reason`` says why."""

    statistic: float
    p_value: float
    n: int
    reason: str = ""

    @property
    def defined(self) -> bool:
        return math.isfinite(self.p_value)


def _undefined(n: int, reason: str) -> TestResult:
    return TestResult(math.nan, math.nan, n, reason)


def loss(errors: np.ndarray, kind: str = "squared") -> np.ndarray:
    """Per-bar loss of forecast errors: squared or absolute.  (n,) -> (n,)"""
    errors = np.asarray(errors, dtype="float64")
    return errors**2 if kind == "squared" else np.abs(errors)


def newey_west_variance(values: np.ndarray, lags: int) -> float:
    """The long-run variance of a series' mean numerator: γ0 + 2 Σ_{k=1..L} (1 − k/(L+1)) γk,
    with γk the lag-k autocovariance (divided by n)."""
    values = np.asarray(values, dtype="float64")
    centered = values - values.mean()  # (n,)
    n = len(centered)
    variance = float(centered @ centered) / n
    for lag in range(1, min(lags, n - 1) + 1):
        weight = 1.0 - lag / (lags + 1)
        variance += 2.0 * weight * float(centered[lag:] @ centered[:-lag]) / n
    return variance


def loss_differential_test(differential: np.ndarray, horizon: int = 1) -> TestResult:
    """Diebold–Mariano on a per-bar loss differential d (negative: the first forecast lost
    less), with Newey–West (h − 1 lags) and the Harvey–Leybourne–Newbold correction.
    One-sided: p small when the mean of d is below 0."""
    from scipy.stats import t as student_t

    differential = np.asarray(differential, dtype="float64")
    differential = differential[np.isfinite(differential)]
    n = len(differential)
    if n < 2:
        return _undefined(n, f"{n} bar{'' if n == 1 else 's'}: too few to test")
    variance = newey_west_variance(differential, horizon - 1)
    if not variance > 1e-300:
        if not np.any(differential):
            return _undefined(n, "the same loss on every bar (identical forecasts)")
        return _undefined(n, "no variation in the loss differential")
    correction = (n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n
    if correction <= 0:
        return _undefined(n, f"{n} bars are too few for {horizon}-bar-ahead forecasts")
    statistic = float(differential.mean() / math.sqrt(variance / n) * math.sqrt(correction))
    return TestResult(statistic, float(student_t.cdf(statistic, df=n - 1)), n)


def diebold_mariano(
    actual: np.ndarray,
    forecast: np.ndarray,
    other: np.ndarray,
    horizon: int = 1,
    kind: str = "squared",
) -> TestResult:
    """Does ``forecast`` have a lower expected ``kind`` loss than ``other`` on the same bars
    (in time order, h-bar-ahead forecasts)? One-sided p."""
    actual = np.asarray(actual, dtype="float64")
    differential = loss(np.asarray(forecast, dtype="float64") - actual, kind) - loss(
        np.asarray(other, dtype="float64") - actual, kind
    )  # (n,)
    return loss_differential_test(differential, horizon)


@dataclass(frozen=True)
class TimingResult(TestResult):
    """Pesaran–Timmermann, with what it conditions on."""

    accuracy: float = math.nan  # share of bars whose predicted direction was right
    up_share: float = math.nan  # share of bars the forecast said "up"
    market_up_rate: float = math.nan  # share of bars the market went up
    direction_changes: float = math.nan  # share of consecutive bars whose forecast flips


def pesaran_timmermann(
    actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray
) -> TimingResult:
    """Market timing: is the predicted move's sign (from each bar's previous close) right
    more often than the forecast's and the market's own up-rates give by chance?

    Bars where the market or the forecast does not move are left out (no direction). The
    statistic (P − P*)/√(V(P) − V(P*)) is standard normal under no timing; one-sided p.
    """
    from scipy.stats import norm

    actual, predicted, previous = (
        np.asarray(values, dtype="float64") for values in (actual, predicted, previous)
    )
    actual_move, predicted_move = np.sign(actual - previous), np.sign(predicted - previous)
    counted = (actual_move != 0) & (predicted_move != 0)
    n = int(counted.sum())
    moves = predicted_move[predicted_move != 0]
    changes = float(np.mean(moves[1:] != moves[:-1])) if len(moves) > 1 else math.nan
    if n < 2:
        return TimingResult(
            math.nan, math.nan, n, "fewer than 2 bars with a move", direction_changes=changes
        )
    market_up = actual_move[counted] > 0
    forecast_up = predicted_move[counted] > 0
    hit = float(np.mean(market_up == forecast_up))
    py, px = float(market_up.mean()), float(forecast_up.mean())
    shares = dict(accuracy=hit, up_share=px, market_up_rate=py, direction_changes=changes)
    if px in (0.0, 1.0):
        side = "up" if px == 1.0 else "down"
        return TimingResult(
            math.nan, math.nan, n, f"predicts {side} on every bar: no timing to test", **shares
        )
    if py in (0.0, 1.0):
        return TimingResult(
            math.nan,
            math.nan,
            n,
            "the market moved the same way on every bar: no timing to test",
            **shares,
        )
    expected = py * px + (1 - py) * (1 - px)  # P*: the hit rate of independent directions
    variance = expected * (1 - expected) / n
    variance_expected = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    spread = variance - variance_expected
    if spread <= 0:
        return TimingResult(math.nan, math.nan, n, "no variance left to test timing", **shares)
    statistic = (hit - expected) / math.sqrt(spread)
    return TimingResult(float(statistic), float(norm.sf(statistic)), n, **shares)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg q-values (the false discovery rate at which each p would be
    called significant among these), NaN kept as NaN."""
    p_values = np.asarray(p_values, dtype="float64")
    q_values = np.full_like(p_values, np.nan)
    finite = np.flatnonzero(np.isfinite(p_values))
    if len(finite):
        order = finite[np.argsort(p_values[finite], kind="stable")]
        ranked = p_values[order] * len(order) / np.arange(1, len(order) + 1)
        q_values[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q_values


def verdict_word(p_value: float, level: float = SIGNIFICANCE) -> str:
    """'beats' (one-sided p < level), 'worse than' (the opposite one-sided p < level) or
    'no better than' (within noise, or untestable)."""
    if not math.isfinite(p_value):
        return "no better than"
    if p_value < level:
        return "beats"
    if 1 - p_value < level:
        return "worse than"
    return "no better than"


def p_text(p_value: float) -> str:
    """'p 0.012', 'p < 0.001', 'p > 0.999'."""
    if p_value < 0.001:
        return "p < 0.001"
    return f"p {p_value:.2g}" if p_value <= 0.999 else "p > 0.999"
