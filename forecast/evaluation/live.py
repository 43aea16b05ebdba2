"""The live record: every journalled forecast matched with the bar that came, and scored.

A journal row resolves when a bar with exactly its target timestamp exists (the target is a
bar of the series' own interval and calendar); a target before the newest bar without one (a
halt, a data gap) stays *unresolved* and is counted; a target after the newest bar is
*pending*. Per horizon: the point forecasts beside the naive forecast issued with them (RMSE,
rmse_ratio, the Diebold–Mariano test with h − 1 lags), each band's coverage with a binomial
95 % interval, and its interval score beside the random walk's band. Too few resolved
forecasts at a horizon are said to be too few, not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.baselines import CLASSICAL, WORDS
from forecast.base.values import optional
from forecast.data.interval import count_words, parse_timestamps
from forecast.evaluation.bands import interval_scores
from forecast.evaluation.metrics import point_verdict, rmse, rmse_ratio
from forecast.evaluation.significance import (
    diebold_mariano,
    loss_differential_test,
    p_text,
    verdict_word,
)
from forecast.forecasting.conformal import LEVELS

MIN_TO_JUDGE = 20  # resolved forecasts a horizon needs before the record says anything


@dataclass(frozen=True)
class LiveRecord:
    rows: pd.DataFrame  # live.csv: one row per resolved forecast
    summary: dict[str, Any]  # live.json
    verdict: str  # the last line, in words


def match(
    journal: pd.DataFrame, bars: pd.DataFrame, timezone: str | None = None
) -> tuple[pd.DataFrame, int, int]:
    """(resolved rows with ``actual``, unresolved count, pending count)."""
    if journal.empty:
        return journal.assign(actual=pd.Series(dtype="float64")), 0, 0
    index = pd.DatetimeIndex(bars.index)
    targets = pd.DatetimeIndex(
        parse_timestamps(
            journal["target"], timezone or (str(index.tz) if index.tz is not None else None)
        )
    )
    position = index.get_indexer(targets)  # -1: no bar at that timestamp
    found = position >= 0
    resolved = journal[found].copy()
    resolved["actual"] = bars["price"].to_numpy(dtype="float64")[position[found]]
    pending = int((~found & (targets > index[-1])).sum())
    return resolved, int((~found).sum()) - pending, pending


def score_rows(resolved: pd.DataFrame) -> pd.DataFrame:
    """live.csv: errors, band hits and interval scores of each resolved forecast."""
    rows = resolved.sort_values(["step", "target", "issued_utc"], kind="stable").copy()
    actual = rows["actual"].to_numpy(dtype="float64")
    rows["error"] = actual - rows["median"].astype("float64")
    rows["naive_error"] = actual - rows["naive"].astype("float64")
    for name, level in LEVELS.items():
        for prefix in ("", "rw_"):
            low = rows[f"{prefix}lo{name}"].astype("float64").to_numpy()
            high = rows[f"{prefix}hi{name}"].astype("float64").to_numpy()
            has_band = np.isfinite(low) & np.isfinite(high)
            inside = (actual >= low) & (actual <= high)
            rows[f"{prefix}inside{name}"] = pd.array(
                np.where(has_band, inside, pd.NA), dtype="boolean"
            )
            rows[f"{prefix}score{name}"] = np.where(
                has_band, interval_scores(actual, low, high, level), np.nan
            )
    columns = [
        "issued_utc",
        "run",
        "origin",
        "step",
        "target",
        "method",
        "actual",
        "median",
        "error",
        "naive",
        "naive_error",
        *[
            f"{prefix}{kind}{name}"
            for name in LEVELS
            for prefix in ("", "rw_")
            for kind in ("inside", "score")
        ],
    ]
    return rows[columns].reset_index(drop=True)


def coverage_interval(hits: int, n: int) -> list[float] | None:
    """The exact (Clopper–Pearson) binomial 95 % interval of a coverage of hits / n."""
    if n == 0:
        return None
    from scipy.stats import binomtest

    interval = binomtest(hits, n).proportion_ci(0.95)
    return [float(interval.low), float(interval.high)]


def horizon_summary(part: pd.DataFrame, horizon: int) -> dict[str, Any]:
    """One horizon of the live record (rows in time order of their targets)."""
    part = part.sort_values(["target", "issued_utc"], kind="stable")
    actual = part["actual"].to_numpy(dtype="float64")
    predicted = part["median"].to_numpy(dtype="float64")
    naive = part["naive"].to_numpy(dtype="float64")
    n = len(part)
    test = diebold_mariano(actual, predicted, naive, horizon)
    summary: dict[str, Any] = {
        "horizon": horizon,
        "n": n,
        "rmse": rmse(actual, predicted),
        "naive_rmse": rmse(actual, naive),
        "rmse_ratio": rmse_ratio(actual, predicted, naive),
        "dm_p_value": optional(test.p_value),
    }
    for name in LEVELS:
        for prefix in ("", "rw_"):
            inside = part[f"{prefix}inside{name}"].dropna().astype(bool)
            hits = int(inside.sum())
            summary[f"{prefix}coverage{name}"] = hits / len(inside) if len(inside) else None
            summary[f"{prefix}coverage{name}_ci"] = coverage_interval(hits, len(inside))
            scores = part[f"{prefix}score{name}"].dropna()
            summary[f"{prefix}winkler{name}"] = float(scores.mean()) if len(scores) else None
        both = part[[f"score{name}", f"rw_score{name}"]].dropna()
        summary[f"dm_p_value{name}"] = (
            optional(
                loss_differential_test(
                    (both[f"score{name}"] - both[f"rw_score{name}"]).to_numpy(), horizon
                ).p_value
            )
            if len(both)
            else None
        )
    summary["verdict"] = (
        f"{count_words(n, 'forecast')} resolved: too few to judge ({MIN_TO_JUDGE} needed)"
        if n < MIN_TO_JUDGE
        else point_verdict(
            summary["rmse_ratio"],
            summary["dm_p_value"],
            "the model",
            "the naive forecast",
            n=n,
            reason=test.reason,
        )
    )
    return summary


def versus_issued_baselines(
    horizons: list[dict[str, Any]], resolved: pd.DataFrame, baseline_rows: pd.DataFrame
) -> None:
    """Add ``baselines`` to each horizon's summary: for each statistical model, on the
    targets where both it and the model were issued from the same origin and resolved, its
    RMSE ratio to naive, the model's RMSE over its, and the model's DM p against it."""
    key = ["model_sha256", "origin", "step"]
    model = resolved.drop_duplicates(key)[
        [*key, "target", "issued_utc", "median", "naive", "actual"]
    ]
    issued = baseline_rows[[*key, "method", "median"]].rename(columns={"median": "baseline"})
    pairs = model.merge(issued, on=key)
    for summary in horizons:
        step = pairs[pairs["step"] == summary["horizon"]]
        if step.empty:
            continue
        summary["baselines"] = {}
        for name, part in step.groupby("method", sort=True):
            part = part.sort_values(["target", "issued_utc"], kind="stable")
            actual = part["actual"].to_numpy(dtype="float64")
            baseline = part["baseline"].to_numpy(dtype="float64")
            naive = part["naive"].to_numpy(dtype="float64")
            predicted = part["median"].to_numpy(dtype="float64")
            own = rmse(actual, baseline)
            summary["baselines"][str(name)] = {
                "n": len(part),
                "rmse_ratio": rmse_ratio(actual, baseline, naive),
                "model_rmse_ratio": rmse(actual, predicted) / own if own > 0 else float("inf"),
                "model_dm_p_value": optional(
                    diebold_mariano(actual, predicted, baseline, summary["horizon"]).p_value
                ),
            }


def live_record(
    journal: pd.DataFrame, bars: pd.DataFrame, timezone: str | None = None
) -> LiveRecord:
    """Every journal row matched with the realized bars, scored per horizon; the statistical
    baselines' rows (issued with the model's) each beside the model on the same targets."""
    is_baseline = journal["method"].isin(CLASSICAL)
    baseline_rows, journal = journal[is_baseline], journal[~is_baseline]
    resolved, unresolved, pending = match(journal, bars, timezone)
    rows = score_rows(resolved) if len(resolved) else pd.DataFrame()
    horizons = (
        [horizon_summary(part, int(step)) for step, part in rows.groupby("step", sort=True)]
        if len(rows)
        else []
    )
    if len(baseline_rows) and len(resolved):
        versus_issued_baselines(horizons, resolved, baseline_rows)
    summary = {
        "forecasts": len(journal),
        "resolved": len(rows),
        "unresolved": unresolved,
        "pending": pending,
        "newest_bar": str(pd.DatetimeIndex(bars.index)[-1]) if len(bars) else None,
        "horizons": horizons,
    }
    counts = (
        f"{count_words(len(rows), 'forecast')} resolved ({unresolved} unresolved: no "
        f"bar at the target; {pending} pending)"
    )
    if not horizons or all(part["n"] < MIN_TO_JUDGE for part in horizons):
        verdict = f"{counts}: too few to judge ({MIN_TO_JUDGE} at a horizon needed)."
    else:
        judged = [part for part in horizons if part["n"] >= MIN_TO_JUDGE]
        parts = []
        for part in judged[:3]:
            text = f"h={part['horizon']}: {part['verdict']}"
            if part.get("coverage95") is not None:
                low, high = part["coverage95_ci"]
                text += (
                    f"; 95 % band covered {part['coverage95']:.1%} "
                    f"(95 % interval {low:.1%}–{high:.1%})"
                )
            issued = part.get("baselines") or {}
            if issued:  # the strongest statistical model issued beside it, on these targets
                name = min(issued, key=lambda key: issued[key]["rmse_ratio"])
                p_value = issued[name]["model_dm_p_value"]
                word = verdict_word(math.nan if p_value is None else p_value)
                test = f"DM {p_text(p_value)}" if p_value is not None else "untestable"
                text += (
                    f"; beside {WORDS[name]} issued with it "
                    f"(its rmse_ratio {issued[name]['rmse_ratio']:.3f}) the model "
                    f"{'is ' if word != 'beats' else ''}{word} it ({test})"
                )
            parts.append(text)
        verdict = f"{counts}. " + "; ".join(parts) + "."
    summary["verdict"] = verdict
    return LiveRecord(rows=rows, summary=summary, verdict=verdict)
