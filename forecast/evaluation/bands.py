"""Band scores on the same test bars for every method: coverage, width relative to the random
walk's band, the interval (Winkler) score, and the Diebold–Mariano test of the per-bar
interval scores against the random walk's band.

A band *beats* the random walk's only when its interval score is lower with DM p < 0.05 at
both levels and its coverage is within tolerance of nominal at both; it is *worse than* it
when the random walk's score is lower with p < 0.05 at either level; otherwise it is *no
better than* it. Coverage outside tolerance is named whatever the score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.bands import LEVELS
from forecast.base.values import optional
from forecast.evaluation.significance import loss_differential_test, verdict_word


def interval_scores(
    actual: np.ndarray, low: np.ndarray, high: np.ndarray, level: float
) -> np.ndarray:
    """Per-bar interval (Winkler) score: width, plus 2/α times the miss's distance.  (n,)"""
    actual, low, high = (np.asarray(values, dtype="float64") for values in (actual, low, high))
    alpha = 1 - level
    return (high - low) + (2 / alpha) * (np.maximum(low - actual, 0) + np.maximum(actual - high, 0))


def band_p_values(row: Any) -> str:
    """The DM p-values of a band's interval scores against the random walk's at 80 and 95 %
    as text: '0.031/0.2', '-' where there was nothing to test."""
    values = [optional(row.get(f"dm_p_value{name}")) for name in LEVELS]
    return "/".join("-" if value is None else f"{value:.2g}" for value in values)


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of actual values inside [low, high]."""
    actual = np.asarray(actual, dtype="float64")
    return float(np.mean((actual >= np.asarray(low)) & (actual <= np.asarray(high))))


def coverage_tolerance(level: float, n: int) -> float:
    """How far coverage may sit from nominal and still count as calibrated: 3 points, or
    two binomial standard errors on few bars."""
    return max(0.03, 2 * math.sqrt(level * (1 - level) / max(n, 1)))


def coverage_note(row: dict[str, Any]) -> str:
    """'under-covers: 84.4 % of bars inside the 95 % band' (each level outside tolerance),
    or ''."""
    notes = []
    for name, level in LEVELS.items():
        share = row[f"coverage{name}"]
        if abs(share - level) > coverage_tolerance(level, row["n"]):
            side = "under-covers" if share < level else "over-covers"
            notes.append(f"{side}: {share:.1%} of bars inside the {name} % band")
    return "; ".join(notes)


def score_bands(
    frame: pd.DataFrame, methods: tuple[str, ...], horizon: int = 1
) -> list[dict[str, Any]]:
    """One row per method on the bars of ``frame`` (columns actual and METHOD_lo80 …
    METHOD_hi95, in time order, ``horizon`` bars ahead): coverage, mean width relative to the
    random walk's, the interval score, and against the random walk's band the DM p-values of
    the per-bar interval scores (``dm_p_value80``/``95``), the verdict and whether it
    beats it."""
    rows = []
    actual = frame["actual"].to_numpy()
    scores: dict[str, dict[str, np.ndarray]] = {}
    for method in methods:
        if f"{method}_lo80" not in frame or frame[f"{method}_lo80"].isna().any():
            continue  # not scored at this horizon (MC dropout: one bar ahead only)
        row: dict[str, Any] = {"method": method, "n": len(frame)}
        scores[method] = {}
        for name, level in LEVELS.items():
            low, high = frame[f"{method}_lo{name}"], frame[f"{method}_hi{name}"]
            walk = (frame[f"random_walk_hi{name}"] - frame[f"random_walk_lo{name}"]).mean()
            row[f"coverage{name}"] = coverage(actual, low, high)
            row[f"width{name}_vs_rw"] = float((high - low).mean() / walk) if walk > 0 else math.nan
            scores[method][name] = interval_scores(actual, low, high, level)
            row[f"winkler{name}"] = float(scores[method][name].mean())
        rows.append(row)
    for row in rows:
        if row["method"] == "random_walk" or "random_walk" not in scores:
            row.update(
                dm_p_value80=None,
                dm_p_value95=None,
                verdict=None,
                beats_random_walk=None,
                coverage_note=coverage_note(row),
            )
            continue
        p_values = {
            name: loss_differential_test(
                scores[row["method"]][name] - scores["random_walk"][name], horizon
            ).p_value
            for name in LEVELS
        }
        words = {verdict_word(p) for p in p_values.values()}
        note = coverage_note(row)
        verdict = (
            "beats"
            if words == {"beats"} and not note
            else "worse than"
            if "worse than" in words
            else "no better than"
        )
        row.update(
            {f"dm_p_value{name}": optional(p) for name, p in p_values.items()},
            verdict=verdict,
            beats_random_walk=verdict == "beats",
            coverage_note=note,
        )
    return rows
