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
  horizon, or an earlier horizon's if larger (a band never narrows further ahead); the band
  is forecast × exp(±q). With fewer than 1/α - 1 residuals no finite band
  can promise the level, and the forecast says so.
- **Random walk's band**: the naive forecast (the last close) widened by the same rule from
  the same block's h-bar log returns (the naive forecast's residuals), so the two bands
  differ only by their point forecasts. It is the band to beat.

With ``forecast.adaptive`` each level's α follows adaptive conformal inference
(Gibbs & Candès 2021): after each observed outcome α ← α + γ(α_nominal − miss), for the
model's band and the random walk's alike. Backtests score the bands
(``forecast.evaluation.bands``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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


def widening(widths: np.ndarray) -> np.ndarray:
    """Half-widths per horizon that never shrink as the horizon grows: the running maximum.
    Each horizon's quantile comes from its own residuals, so on a short block the raw ones
    can cross (87.34, 86.76, 87.07, …); taking the larger only widens a band, so each
    horizon keeps at least its own quantile's coverage. NaN (too few residuals) stays NaN,
    and every horizon after it too.  (H,)"""
    return np.maximum.accumulate(np.asarray(widths, dtype="float64"))


def minimum_residuals(level: float) -> int:
    """The fewest residuals for which the rule gives a finite band at ``level``: 4 for 80 %,
    19 for 95 %."""
    return math.ceil(level / (1 - level) - 1e-9)


@dataclass(frozen=True)
class Calibration:
    """The fitted state of the conformal and random-walk bands: per horizon h = 1 … H, the
    absolute log residuals of the model's and of the naive forecast's h-bar forecasts on the
    calibration block (calibration.npz), and the half-widths the quantile rule takes from them
    (calibration.json). A level with too few residuals at a horizon has no band there (NaN).
    """

    model_scores: tuple[np.ndarray, ...]  # per horizon: |log(actual / forecast)|, (n_h,)
    naive_scores: tuple[np.ndarray, ...]  # per horizon: |log(actual / last close)|, (n_h,)
    first: str  # the block's first and last rows, as timestamps
    last: str
    training_rows: int  # the rows calibration read (the run's training rows)
    block_rows: int  # the validation block: the last rows of those

    @property
    def horizons(self) -> int:
        return len(self.model_scores)

    @property
    def counts(self) -> list[int]:
        """Residuals per horizon (an origin has none past the block's end)."""
        return [len(scores) for scores in self.model_scores]

    @property
    def residuals(self) -> int:
        """Origins in the block (residuals at horizon 1)."""
        return self.counts[0] if self.model_scores else 0

    def widths(self, method: str, name: str, alphas: Any = None) -> np.ndarray:
        """Log half-widths per horizon of ``method`` (model, random_walk) at level ``name``
        (80, 95); NaN where the horizon has too few residuals for the level.  (H,)

        ``alphas``: a miscoverage per horizon from adaptive conformal inference in place of
        the nominal 1 − level (``adaptive_quantile``); nominal past its end. A band never
        narrows further ahead (``widening``).
        """
        level = LEVELS[name]
        scores = self.model_scores if method == "model" else self.naive_scores
        widths = []
        for horizon, values in enumerate(scores):
            if len(values) < minimum_residuals(level):
                widths.append(math.nan)
            elif alphas is None or horizon >= len(alphas):
                widths.append(conformal_quantile(values, level))
            else:
                widths.append(adaptive_quantile(np.sort(values), float(alphas[horizon])))
        return widening(np.array(widths))

    def missing(self, steps: int) -> dict[str, int]:
        """Levels without a band somewhere in 1 … ``steps``: name -> the first horizon that
        has too few residuals for it."""
        found = {}
        for name in LEVELS:
            gaps = np.flatnonzero(np.isnan(self.widths("model", name)[:steps]))
            if len(gaps):
                found[name] = int(gaps[0]) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        """calibration.json: the rule, the block, the counts and the fitted half-widths."""

        def listed(values: np.ndarray) -> list[float | None]:
            return [None if math.isnan(value) else float(value) for value in values]

        return {
            "type": "SplitConformal",
            "residual": "log(actual / forecast)",
            "rule": "ceil((n+1)*level)-th smallest |residual|",
            "horizons": self.horizons,
            "residuals": self.residuals,
            "counts": self.counts,
            "levels": {name: level for name, level in LEVELS.items()},
            "model": {name: listed(self.widths("model", name)) for name in LEVELS},
            "random_walk": {name: listed(self.widths("random_walk", name)) for name in LEVELS},
            "block": {
                "first": self.first,
                "last": self.last,
                "training_rows": self.training_rows,
                "rows": self.block_rows,
            },
            "scores": "calibration.npz",
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """calibration.npz: the residuals, one row per horizon (NaN past each one's count)."""

        def padded(scores: tuple[np.ndarray, ...]) -> np.ndarray:
            table = np.full((len(scores), max(self.counts, default=0)), np.nan)  # (H, n)
            for row, values in enumerate(scores):
                table[row, : len(values)] = values
            return table

        return {
            "model_scores": padded(self.model_scores),
            "naive_scores": padded(self.naive_scores),
        }

    @classmethod
    def from_parts(cls, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> Calibration:
        """The inverse of ``to_dict`` and ``arrays``."""

        def rows(table: np.ndarray) -> tuple[np.ndarray, ...]:
            return tuple(row[:count] for row, count in zip(table, record["counts"]))

        block = record["block"]
        return cls(
            model_scores=rows(arrays["model_scores"]),
            naive_scores=rows(arrays["naive_scores"]),
            first=block["first"],
            last=block["last"],
            training_rows=int(block["training_rows"]),
            block_rows=int(block["rows"]),
        )


def calibration_residuals(
    forecaster: Any, training: pd.DataFrame, n_block: int, steps: int
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Per horizon, the model's and the naive forecast's log residuals on the block.

    training: the training rows alone; the block is its last ``n_block`` rows.
    Returns (model residuals per h, naive residuals per h, origins).
    """
    n_rows = len(training)
    first = n_rows - n_block
    if not forecaster.close_only:
        first = max(first, n_rows - MAX_ORIGINS_WITH_FEATURES)
    origins = np.arange(first, n_rows)  # (n,)
    paths = forecaster.paths(training, origins, steps)[:, 0]  # (n, steps)
    log_prices = np.log(training["price"].to_numpy(dtype="float64"))  # (N,)
    model_residuals, naive_residuals = [], []
    for horizon in range(1, steps + 1):
        valid = origins + horizon - 1 < n_rows  # the target row is still a training row
        rows = origins[valid] + horizon - 1
        model_residuals.append(log_prices[rows] - np.log(paths[valid, horizon - 1]))
        naive_residuals.append(log_prices[rows] - log_prices[origins[valid] - 1])
    return model_residuals, naive_residuals, origins


def fit_calibration(
    forecaster: Any, training: pd.DataFrame, n_block: int, steps: int
) -> Calibration:
    """Calibrate the conformal and random-walk bands for horizons 1 … ``steps`` on the last
    ``n_block`` rows of ``training`` (the validation block; none: no band at any level)."""
    if n_block < 1:
        empty = tuple(np.empty(0) for _ in range(steps))
        return Calibration(empty, empty, "", "", len(training), 0)
    model_residuals, naive_residuals, origins = calibration_residuals(
        forecaster, training, n_block, steps
    )
    return calibration_from_residuals(model_residuals, naive_residuals, origins, training)


def calibration_from_residuals(
    model_residuals: list[np.ndarray],
    naive_residuals: list[np.ndarray],
    origins: np.ndarray,
    training: pd.DataFrame,
) -> Calibration:
    """The calibration state of these residuals (the quantile rule is applied on use)."""
    from forecast.data.interval import format_timestamps

    stamps = format_timestamps(pd.DatetimeIndex(training.index)[[origins[0], len(training) - 1]])
    return Calibration(
        model_scores=tuple(np.abs(values) for values in model_residuals),
        naive_scores=tuple(np.abs(values) for values in naive_residuals),
        first=stamps[0],
        last=stamps[1],
        training_rows=len(training),
        block_rows=len(training) - int(origins[0]),
    )


def bands(
    points: np.ndarray,
    last_close: np.ndarray,
    calibration: Calibration,
    alphas: dict[str, dict[str, Any]] | None = None,
) -> dict[str, np.ndarray]:
    """Model and random-walk bands around each forecast path (NaN at horizons where a level
    has too few residuals).

    points: (n, H) or (H,) forecast prices; last_close: (n,) or scalar, each path's origin
    close. ``alphas``: {method: {level name: miscoverage per horizon}} from adaptive
    conformal inference. Returns lo80 … hi95 and rw_lo80 … rw_hi95, each shaped like
    ``points``.
    """
    points = np.asarray(points, dtype="float64")
    steps = points.shape[-1]
    close = (
        np.asarray(last_close, dtype="float64")[..., np.newaxis]
        if points.ndim > 1
        else float(last_close)
    )
    result = {}
    for name in LEVELS:
        model, walk = (
            np.exp(
                calibration.widths(method, name, None if alphas is None else alphas[method][name])[
                    :steps
                ]
            )
            for method in ("model", "random_walk")
        )  # (H,) each
        result[f"lo{name}"] = points / model
        result[f"hi{name}"] = points * model
        result[f"rw_lo{name}"] = close / walk * np.ones_like(points)
        result[f"rw_hi{name}"] = close * walk * np.ones_like(points)
    return result


def adaptive_bands(
    points: np.ndarray,
    actual: np.ndarray,
    scores: np.ndarray,
    level: float,
    step: float,
    horizon: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adaptive conformal inference over a stream of forecasts in time order.

    points, actual: (n,) the forecasts (one per origin, ``horizon`` bars ahead; for the
    random walk, the origin closes) and the outcomes; scores: the calibration block's
    absolute log residuals of that method at that horizon. The band for origin i uses α_i,
    updated with every miss observed by then (the outcomes of origins ≤ i - horizon):
    α ← α + γ(α_nominal − miss).
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
        width = adaptive_quantile(sorted_scores, alpha)
        low[index] = points[index] * math.exp(-width)
        high[index] = points[index] * math.exp(width)
        misses[index] = not low[index] <= actual[index] <= high[index]
    return low, high, alphas


def adaptive_quantile(sorted_scores: np.ndarray, alpha: float) -> float:
    """The half-width at miscoverage α: the ⌈(m+1)(1−α)⌉-th smallest of the m sorted
    scores; α ≤ 0 takes the largest, α ≥ 1 gives a zero-width band."""
    rank = math.ceil((len(sorted_scores) + 1) * (1 - alpha))
    return 0.0 if rank < 1 else float(sorted_scores[min(rank, len(sorted_scores)) - 1])


def journal_alphas(
    resolved: pd.DataFrame, horizons: int, step: float
) -> dict[str, dict[str, np.ndarray]]:
    """Adaptive conformal inference from a lineage's record: per method, level and horizon,
    α = α_nominal + γ Σ (α_nominal − miss) over the resolved forecasts at that horizon (each
    outcome counted once it is known; ``resolved`` holds those, with columns step and
    inside80 / inside95 / rw_inside80 / rw_inside95)."""
    alphas: dict[str, dict[str, np.ndarray]] = {"model": {}, "random_walk": {}}
    for method, prefix in (("model", ""), ("random_walk", "rw_")):
        for name, level in LEVELS.items():
            values = np.full(horizons, 1 - level)
            for horizon, part in resolved.groupby("step"):
                if horizon <= horizons:
                    inside = part[f"{prefix}inside{name}"].dropna().astype(bool)
                    values[int(horizon) - 1] += step * float(((1 - level) - (~inside)).sum())
            alphas[method][name] = values
    return alphas
