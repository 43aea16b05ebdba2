"""Band scores on the same test bars for every method: coverage, width relative to the random
walk's band, and the interval (Winkler) score."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from forecast.forecasting.conformal import LEVELS



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
