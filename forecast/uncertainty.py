"""Calibrated bands: split conformal per horizon, and the random walk's band to beat.

A band that claims 95 % must hold about 95 % of what happens. Split conformal gets there by
construction: forecast the calibration block, take each forecast's residual, and widen the
point forecast by the finite-sample quantile of those residuals.

- **Calibration block**: the validation rows at the end of the training rows (the rows the
  validation windows predict; the model never fitted them). Calibration reads nothing after
  the training rows: it is handed those rows alone.
- **Residuals, per horizon h = 1 … H**: from every origin o in the block (o = the first row
  forecast; rows before o known), the model's deterministic recursive forecast (dropout
  off) of row o+h-1, while that row is still a training row. The residual is
  log(actual / forecast): the residual of the cumulative log return at horizon h, which is
  the target's own space for ``log_return`` models and for ``price`` models makes the band
  scale with the price level (a dollar residual from a $50 stretch would be too narrow at
  $100).
- **Quantile rule**: the ⌈(n+1)(1-α)⌉-th smallest absolute residual of the n at that
  horizon; the band is forecast × exp(±q). With fewer than 1/α - 1 residuals no finite band
  can promise the level, and the forecast says so.
- **Random walk's band**: the naive forecast (the last close) widened by the same rule from
  the same block's h-bar log returns (the naive forecast's residuals), so the two bands
  differ only by their point forecasts. It is the band to beat.

Backtests score every band method on the same test days: coverage, mean width relative to
the random walk's band, and the interval (Winkler) score, at horizons 1, 5 and 20 where the
fold allows. With ``forecast.adaptive`` each level's α follows adaptive conformal inference
(Gibbs & Candès 2021): after each observed outcome α ← α + γ(α_nominal − miss), for the
model's band and the random walk's alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.errors import UserError

LEVELS = {"80": 0.80, "95": 0.95}  # band name -> nominal coverage
SCORED_HORIZONS = (1, 5, 20)
# Without close-only inputs every origin recomputes its features along its own path: the
# calibration of such a model uses its block's last origins only (still far more than
# 1/α - 1).
MAX_ORIGINS_WITH_FEATURES = 200


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ⌈(n+1)·level⌉-th smallest score (inf when n is too small for the level)."""
    scores = np.sort(np.asarray(scores, dtype="float64"))  # (n,)
    rank = math.ceil((len(scores) + 1) * level)
    return float(scores[rank - 1]) if rank <= len(scores) else math.inf


def minimum_residuals(level: float) -> int:
    """The fewest residuals for which the rule gives a finite band at ``level``."""
    return math.ceil(level / (1 - level) - 1e-9)


def recursive_forecasts(model: Any, scaler: Any, bars: pd.DataFrame, origins: np.ndarray,
                        steps: int, lookback: int, target: str, features: tuple[str, ...],
                        future_index: pd.DatetimeIndex | None = None) -> np.ndarray:
    """Deterministic (dropout off) forecasts of ``steps`` bars from each origin.

    origins: (n,) first forecast rows; each forecast reads rows before its origin only.
    Returns (n, steps) prices. ``future_index``: timestamps after the last bar, for an origin
    at len(bars) with calendar features.
    """
    from forecast.model.future import recurse_close, scaled_windows, simulate_paths

    origins = np.asarray(origins, dtype="int64")
    prices = bars["price"].to_numpy(dtype="float64")
    direct = int(model.output_shape[-1])  # model.horizon: steps from one call
    if tuple(features) == ("close",) or steps <= direct:
        windows = scaled_windows(scaler, bars, origins, lookback, target, features)
        return recurse_close(model, scaler, windows, prices[origins - 1],
                             target, steps, dropout=False,
                             column=features.index("close"),
                             recursive=tuple(features) == ("close",))
    if direct > 1:  # simulate_paths would take only the first head
        raise UserError(f"a model.horizon {direct} model with inputs beside the close "
                        f"forecasts at most {direct} bars; ask for fewer")
    index = pd.DatetimeIndex(bars.index)
    if future_index is not None:
        index = index.append(pd.DatetimeIndex(future_index))
    paths = np.full((len(origins), steps), np.nan)  # (n, steps); NaN past the known stamps
    for row, origin in enumerate(origins):
        ahead = min(steps, len(index) - origin)  # calendar features need each step's stamp
        paths[row, :ahead] = simulate_paths(model, scaler, bars.iloc[:origin], lookback, target,
                                            ahead, samples=1, dropout=False,
                                            features=tuple(features),
                                            future_index=index[origin:origin + ahead])[0]
    return paths


@dataclass(frozen=True)
class Calibration:
    """The fitted state of the conformal and random-walk bands (calibration.json)."""

    horizons: int
    residuals: int  # origins in the block (residuals at horizon 1)
    counts: list[int]  # residuals per horizon
    model: dict[str, list[float]]  # level -> log half-width per horizon
    random_walk: dict[str, list[float]]  # level -> log half-width per horizon
    first: str  # the block's first and last rows, as timestamps
    last: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": "SplitConformal", "residual": "log(actual / forecast)",
                "rule": "ceil((n+1)*level)-th smallest |residual|",
                "horizons": self.horizons, "residuals": self.residuals, "counts": self.counts,
                "levels": {name: level for name, level in LEVELS.items()},
                "model": self.model, "random_walk": self.random_walk,
                "block": {"first": self.first, "last": self.last}}


def calibration_residuals(model: Any, scaler: Any, training: pd.DataFrame, n_block: int,
                          steps: int, lookback: int, target: str, features: tuple[str, ...]
                          ) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per horizon, the model's and the naive forecast's log residuals on the block.

    training: the training rows alone; the block is its last ``n_block`` rows.
    Returns (model residuals per h, naive residuals per h, origins).
    """
    n_rows = len(training)
    first = n_rows - n_block
    if tuple(features) != ("close",):
        first = max(first, n_rows - MAX_ORIGINS_WITH_FEATURES)
    origins = np.arange(first, n_rows)  # (n,)
    paths = recursive_forecasts(model, scaler, training, origins, steps, lookback, target,
                                features)  # (n, steps)
    log_prices = np.log(training["price"].to_numpy(dtype="float64"))  # (N,)
    model_residuals, naive_residuals = [], []
    for horizon in range(1, steps + 1):
        valid = origins + horizon - 1 < n_rows  # the target row is still a training row
        rows = origins[valid] + horizon - 1
        model_residuals.append(log_prices[rows] - np.log(paths[valid, horizon - 1]))
        naive_residuals.append(log_prices[rows] - log_prices[origins[valid] - 1])
    return model_residuals, naive_residuals, origins


def fit_calibration(model: Any, scaler: Any, training: pd.DataFrame, n_block: int,
                    steps: int, lookback: int, target: str, features: tuple[str, ...],
                    label: str = "the run") -> Calibration:
    """Fit the conformal and random-walk half-widths for horizons 1 … ``steps``."""
    if n_block < 1:
        raise UserError(f"{label}: conformal bands are calibrated on the validation block, "
                        f"and there is none; set train.validation_fraction > 0 or "
                        f"forecast.intervals: mc_dropout")
    model_residuals, naive_residuals, origins = calibration_residuals(
        model, scaler, training, n_block, steps, lookback, target, features)
    return calibration_from_residuals(model_residuals, naive_residuals, origins, training,
                                      label, steps)


def calibration_from_residuals(model_residuals: list[np.ndarray],
                               naive_residuals: list[np.ndarray], origins: np.ndarray,
                               training: pd.DataFrame, label: str, steps: int) -> Calibration:
    """The quantile rule applied to each horizon's residuals (see the module docstring)."""
    from forecast.data.interval import format_timestamps

    counts = [len(residuals) for residuals in model_residuals]
    needed = minimum_residuals(max(LEVELS.values()))
    if counts[-1] < needed:
        raise UserError(f"{label}: the validation block has {counts[-1]} forecasts "
                        f"{steps} bars ahead, and a conformal 95 % band needs at least "
                        f"{needed}; forecast fewer steps, raise train.validation_fraction, or "
                        f"set forecast.intervals: mc_dropout (uncalibrated)")
    widths = {name: [conformal_quantile(np.abs(residuals), level)
                     for residuals in model_residuals] for name, level in LEVELS.items()}
    walk = {name: [conformal_quantile(np.abs(residuals), level)
                   for residuals in naive_residuals] for name, level in LEVELS.items()}
    stamps = format_timestamps(pd.DatetimeIndex(training.index)[[origins[0], len(training) - 1]])
    return Calibration(horizons=steps, residuals=len(origins), counts=counts, model=widths,
                       random_walk=walk, first=stamps[0], last=stamps[1])


def bands(points: np.ndarray, last_close: np.ndarray, calibration: Calibration
          ) -> dict[str, np.ndarray]:
    """Model and random-walk bands around each forecast path.

    points: (n, H) or (H,) forecast prices; last_close: (n,) or scalar, each path's origin
    close. Returns lo80 … hi95 and rw_lo80 … rw_hi95, each shaped like ``points``.
    """
    points = np.asarray(points, dtype="float64")
    steps = points.shape[-1]
    close = np.asarray(last_close, dtype="float64")[..., np.newaxis] if points.ndim > 1 \
        else float(last_close)
    result = {}
    for name in LEVELS:
        model = np.exp(np.asarray(calibration.model[name][:steps]))  # (H,)
        walk = np.exp(np.asarray(calibration.random_walk[name][:steps]))  # (H,)
        result[f"lo{name}"] = points / model
        result[f"hi{name}"] = points * model
        result[f"rw_lo{name}"] = close / walk * np.ones_like(points)
        result[f"rw_hi{name}"] = close * walk * np.ones_like(points)
    return result


# --- scoring --------------------------------------------------------------------------------

def winkler(actual: np.ndarray, low: np.ndarray, high: np.ndarray, level: float) -> float:
    """The mean interval (Winkler) score: width, plus 2/α times each miss's distance."""
    actual, low, high = (np.asarray(values, dtype="float64") for values in (actual, low, high))
    alpha = 1 - level
    score = (high - low) + (2 / alpha) * (np.maximum(low - actual, 0)
                                          + np.maximum(actual - high, 0))
    return float(np.mean(score))


def coverage_tolerance(level: float, n: int) -> float:
    """How far coverage may sit from nominal and still count as calibrated: 3 points, or
    two binomial standard errors on few days."""
    return max(0.03, 2 * math.sqrt(level * (1 - level) / max(n, 1)))


def score_bands(frame: pd.DataFrame, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per method × level on the days of ``frame`` (columns actual and
    METHOD_lo80 … METHOD_hi95): coverage, mean width relative to the random walk's, the
    interval score, and whether it beats the random walk's band."""
    rows = []
    actual = frame["actual"].to_numpy()
    for method in methods:
        if f"{method}_lo80" not in frame or frame[f"{method}_lo80"].isna().any():
            continue  # not scored at this horizon (MC dropout: one bar ahead only)
        row: dict[str, Any] = {"method": method, "n": len(frame)}
        for name, level in LEVELS.items():
            low, high = frame[f"{method}_lo{name}"], frame[f"{method}_hi{name}"]
            walk = (frame[f"random_walk_hi{name}"] - frame[f"random_walk_lo{name}"]).mean()
            row[f"coverage{name}"] = float(np.mean((actual >= low) & (actual <= high)))
            row[f"width{name}_vs_rw"] = float((high - low).mean() / walk) if walk > 0 \
                else math.nan
            row[f"winkler{name}"] = winkler(actual, low, high, level)
        rows.append(row)
    walk_row = next((row for row in rows if row["method"] == "random_walk"), None)
    for row in rows:
        row["beats_random_walk"] = None if walk_row is None or row is walk_row else bool(
            all(row[f"winkler{name}"] < walk_row[f"winkler{name}"]
                and abs(row[f"coverage{name}"] - level) <= coverage_tolerance(level, row["n"])
                for name, level in LEVELS.items()))
    return rows


def adaptive_bands(points: np.ndarray, actual: np.ndarray, scores: np.ndarray, level: float,
                   step: float, horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive conformal inference over a stream of forecasts in time order.

    points, actual: (n,) the forecasts (one per origin, ``horizon`` bars ahead; for the
    random walk, the origin closes) and the outcomes; scores: the calibration block's
    absolute log residuals of that method at that horizon. The band for origin i uses α_i, updated with every miss
    observed by then (the outcomes of origins ≤ i - horizon): α ← α + γ(α_nominal − miss).
    α ≤ 0 takes the largest calibration residual; α ≥ 1 a zero-width band.
    Returns (low, high, α per origin).
    """
    sorted_scores = np.sort(np.asarray(scores, dtype="float64"))  # (m,)
    nominal = 1 - level
    alphas = np.empty(len(points))  # (n,)
    low, high = np.empty(len(points)), np.empty(len(points))
    misses = np.zeros(len(points), dtype=bool)
    alpha = nominal
    for index in range(len(points)):
        observed = index - horizon  # the newest origin whose outcome is known now
        if observed >= 0:
            alpha += step * (nominal - float(misses[observed]))
        alphas[index] = alpha
        rank = math.ceil((len(sorted_scores) + 1) * (1 - alpha))
        width = 0.0 if rank < 1 else float(sorted_scores[min(rank, len(sorted_scores)) - 1])
        low[index] = points[index] * math.exp(-width)
        high[index] = points[index] * math.exp(width)
        misses[index] = not low[index] <= actual[index] <= high[index]
    return low, high, alphas
