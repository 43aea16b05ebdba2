"""A walk-forward backtest scored: every method beside naive on the same bars, per fold and
pooled, point forecasts per horizon and bands beside the random walk's, and the verdict in
words (the tests in ``evaluation.significance``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecast.base.baselines import CLASSICAL, WORDS
from forecast.base.values import number, optional, plain
from forecast.evaluation.bands import band_p_values, coverage, score_bands
from forecast.evaluation.metrics import (
    best_lag,
    directional_accuracy,
    forecast_metrics,
    mase,
    point_verdict,
    rmse,
    versus_strongest,
)
from forecast.evaluation.significance import (
    SIGNIFICANCE,
    diebold_mariano,
    p_text,
    pesaran_timmermann,
    verdict_word,
)

if TYPE_CHECKING:
    from forecast.evaluation.backtest import FoldOutcome

# The band methods a backtest scores: the model's conformal band, its MC-dropout band (with
# --samples) and the random walk's band it must beat; beside them the statistical
# baselines' own prediction intervals where they were fitted (CLASSICAL).
SCORED_BANDS = ("conformal", "mc_dropout", "random_walk")


def method_metrics(
    actual: np.ndarray,
    predicted: np.ndarray,
    previous: np.ndarray,
    training_prices: np.ndarray,
    drift: np.ndarray | None = None,
) -> dict[str, Any]:
    """One method's one-step forecasts scored beside naive (the previous close) on the same
    bars, in time order: errors, the Diebold–Mariano p-values against naive (squared and
    absolute error) and, given ``drift``, against the drift forecast; directional accuracy
    with its Pesaran–Timmermann timing test, the up-rates it conditions on and how often the
    predicted direction flips; and the lag diagnostic."""
    point = forecast_metrics(actual, predicted, previous)
    share, _, days = directional_accuracy(actual, predicted, previous)
    timing = pesaran_timmermann(actual, predicted, previous)
    row = {
        "rmse": point["rmse"],
        "mae": point["mae"],
        "mape": point["mape"],
        "mase": mase(actual, predicted, training_prices),
        "rmse_ratio": point["rmse_ratio"],
        "dm_p_value": point["dm_p_value"],
        "dm_p_value_abs": point["dm_p_value_abs"],
    }
    if drift is not None:
        row["dm_p_value_drift"] = optional(diebold_mariano(actual, predicted, drift).p_value)
    row.update(
        directional_accuracy=share,
        direction_days=days,
        timing_p_value=optional(timing.p_value),
        up_share=timing.up_share,
        market_up_rate=timing.market_up_rate,
        direction_changes=timing.direction_changes,
        best_lag=best_lag(actual, predicted),
    )
    return row


def score_rows(
    frame: pd.DataFrame, methods: tuple[str, ...], fold: Any, training_prices: np.ndarray
) -> list[dict[str, Any]]:
    """One row of metrics per method on the bars of ``frame`` (in time order)."""
    rows = []
    for method in methods:
        row = {
            "fold": fold,
            "method": method,
            "start": frame["date"].iloc[0],
            "end": frame["date"].iloc[-1],
            "n": len(frame),
            **method_metrics(
                frame["actual"].to_numpy(),
                frame[method].to_numpy(),
                frame["naive"].to_numpy(),
                training_prices,
                drift=frame["drift"].to_numpy(),
            ),
        }
        if method == "model" and "lo80" in frame:
            row["coverage80"] = coverage(frame["actual"], frame["lo80"], frame["hi80"])
            row["coverage95"] = coverage(frame["actual"], frame["lo95"], frame["hi95"])
        rows.append(row)
    return rows


def score_fold(outcome: FoldOutcome, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    return score_rows(outcome.predictions, methods, outcome.fold.index + 1, outcome.training_prices)


def overall_rows(
    outcomes: list[FoldOutcome], fold_rows: pd.DataFrame, methods: tuple[str, ...]
) -> list[dict[str, Any]]:
    """All folds' days pooled. Each fold's MASE has its own in-sample scale, so the pooled
    MASE is the day-weighted mean of the folds' MASE."""
    pooled = pd.concat([outcome.predictions for outcome in outcomes], ignore_index=True)
    rows = score_rows(pooled, methods, "all", outcomes[0].training_prices)
    for row in rows:
        per_fold = fold_rows[fold_rows["method"] == row["method"]]
        row["mase"] = float(np.average(per_fold["mase"], weights=per_fold["n"]))
    return rows


def horizon_table(outcomes: list[FoldOutcome]) -> pd.DataFrame | None:
    """The model's point forecasts h bars ahead beside the naive forecast (the origin's
    close) on the same pooled bars, per horizon (horizons.csv); with statistical baselines,
    each one's ``rmse_ratio`` to naive (``arima_rmse_ratio`` …) and the model's DM p against
    it (``dm_p_value_arima`` …), h - 1 lags."""
    frames = [outcome.bands for outcome in outcomes if outcome.bands is not None]
    if not frames:
        return None
    rows = []
    for horizon, part in pd.concat(frames, ignore_index=True).groupby("horizon", sort=True):
        actual = part["actual"].to_numpy()
        metrics = forecast_metrics(
            actual, part["conformal"].to_numpy(), part["naive"].to_numpy(), horizon=int(horizon)
        )
        rows.append(
            {
                "horizon": int(horizon),
                "n": len(part),
                "rmse": metrics["rmse"],
                "naive_rmse": metrics["naive_rmse"],
                "rmse_ratio": metrics["rmse_ratio"],
                "mae": metrics["mae"],
                "naive_mae": metrics["naive_mae"],
                "dm_p_value": metrics["dm_p_value"],
                "dm_p_value_abs": metrics["dm_p_value_abs"],
            }
        )
        for name in CLASSICAL:
            if name not in part or part[name].isna().any():
                continue  # not fitted in every fold
            forecast = part[name].to_numpy()
            rows[-1][f"{name}_rmse_ratio"] = rmse(actual, forecast) / metrics["naive_rmse"]
            rows[-1][f"dm_p_value_{name}"] = optional(
                diebold_mariano(actual, part["conformal"], forecast, int(horizon)).p_value
            )
    return pd.DataFrame(rows)


def band_table(outcomes: list[FoldOutcome]) -> pd.DataFrame | None:
    """Every band method scored on the same pooled test bars, per horizon (bands.csv)."""
    frames = [outcome.bands for outcome in outcomes if outcome.bands is not None]
    if not frames:
        return None
    pooled = pd.concat(frames, ignore_index=True)
    rows = []
    for horizon, part in pooled.groupby("horizon", sort=True):
        for row in score_bands(part, (*SCORED_BANDS, *CLASSICAL), int(horizon)):
            rows.append({"horizon": int(horizon), **row})
    return pd.DataFrame(rows)


def backtest_verdict(summary: dict[str, Any]) -> str:
    """The plain last line: is the model better than the naive forecast (and than drift),
    with the test that says so, and is its band better than the random walk's?"""
    model = summary["overall"]["model"]
    n = model.get("n")
    line = point_verdict(
        model["rmse_ratio"],
        model["dm_p_value"],
        f"The {summary['model']}",
        "the naive forecast",
        n=n,
    )
    line += (
        f" over all folds; lower RMSE in {summary['folds_lower_rmse']} of "
        f"{summary['folds']} folds, significantly in {summary['folds_beat_naive']}"
    )
    drift = summary["versus_drift"]
    if drift != "beats":
        drift_p = number(model.get("dm_p_value_drift"))
        test = f"DM {p_text(drift_p)}" if math.isfinite(drift_p) else "untestable"
        line += f". It is {drift} the drift forecast ({test})" + (
            ": its edge over naive is the average drift" if summary["beat_naive"] else ""
        )
    line += "."
    strongest = summary.get("strongest_baseline")
    if strongest not in (None, "naive", "drift"):
        row = summary["overall"][strongest]
        ratio = model["rmse"] / row["rmse"] if row["rmse"] > 0 else math.inf
        p_value = summary.get("dm_p_value_strongest")
        beaten = verdict_word(number(p_value)) == "beats"
        subject = "But it" if summary["beat_naive"] and not beaten else "It"
        label = summary["strongest_baseline_label"]
        line += f" {versus_strongest(label, ratio, p_value, subject)}."
    scored = summary.get("bands") and summary.get("band_method") != "none"
    return line + (f" {band_verdict(summary)}" if scored else "")


def band_verdict(summary: dict[str, Any]) -> str:
    """The configured band method against the random walk's band, horizon by horizon: the
    verdict of the per-bar interval scores' DM test at 80 and 95 %, and any coverage outside
    tolerance."""
    method = summary.get("band_method", summary.get("intervals", "conformal"))  # or older
    rows = [row for row in summary["bands"] if row["method"] == method]
    walk = {row["horizon"]: row for row in summary["bands"] if row["method"] == "random_walk"}
    if not rows:
        return "No model band was scored (mc_dropout needs --samples)."
    parts = []
    for row in rows:
        other = walk[row["horizon"]]
        text = (
            f"h={row['horizon']}: {row['verdict']} (interval score {row['winkler95']:.3g} "
            f"vs {other['winkler95']:.3g} at 95 %, DM p {band_p_values(row)} at 80/95 %)"
        )
        if row.get("coverage_note"):
            text += f", {row['coverage_note']}"
        parts.append(text)
    adaptive = " adaptive" if summary.get("adaptive") else ""
    return f"Its{adaptive} {method} band vs the random walk's: " + "; ".join(parts) + "."


def strongest_baseline(
    outcomes: list[FoldOutcome], overall: pd.DataFrame, methods: tuple[str, ...]
) -> dict[str, Any]:
    """What each fold's statistical models were (backtest.json), the notes on those left
    out, and the strongest baseline over all folds (lowest pooled RMSE of naive, drift and
    the statistical models) with the model's DM p against it on the pooled bars."""
    fitted = [name for name in methods if name in CLASSICAL]
    fits = [
        {"fold": outcome.fold.index + 1, **outcome.baselines}
        for outcome in outcomes
        if outcome.baselines
    ]  # each: name → label and orders
    notes = [
        f"fold {outcome.fold.index + 1}: {note}"
        for outcome in outcomes
        for note in outcome.baseline_notes
    ]
    contenders = ["naive", "drift", *fitted]
    strongest = min(contenders, key=lambda name: float(overall.loc[name, "rmse"]))
    pooled = pd.concat([outcome.predictions for outcome in outcomes], ignore_index=True)
    test = diebold_mariano(pooled["actual"], pooled["model"], pooled[strongest])
    label = strongest
    if strongest in WORDS:
        labels = [fit[strongest]["label"] for fit in fits if strongest in fit]
        distinct = list(dict.fromkeys(labels))  # in fold order, each once
        label = (
            f"{labels[0]} (every fold)"
            if len(distinct) == 1
            else f"{WORDS[strongest]} refitted per fold ({', '.join(distinct)})"
        )
    return {
        "baseline_fits": fits,
        "baseline_notes": notes,
        "strongest_baseline": strongest,
        "strongest_baseline_label": label,
        "dm_p_value_strongest": optional(test.p_value),
    }


def backtest_summary(
    config: Any,
    outcomes: list[FoldOutcome],
    methods: tuple[str, ...],
    samples: int = 0,
    methods_label: str = "model",
) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None, pd.DataFrame | None]:
    """The folds scored, ``methods`` (the model first) on the same bars: (the table of every
    fold × method and the pooled rows, backtest.json, the band table, the horizon table)."""
    fold_rows = pd.DataFrame([row for outcome in outcomes for row in score_fold(outcome, methods)])
    table = pd.concat(
        [fold_rows, pd.DataFrame(overall_rows(outcomes, fold_rows, methods))], ignore_index=True
    )
    model_folds = fold_rows[fold_rows["method"] == "model"]
    overall = table[(table["fold"] == "all")].set_index("method")
    model = plain(overall.loc["model"].to_dict())
    summary = {
        "folds": len(outcomes),
        "samples": samples,
        "target": config.data.target,
        "model": methods_label,
        "folds_lower_rmse": int((model_folds["rmse_ratio"] < 1).sum()),
        "folds_beat_naive": int((model_folds["dm_p_value"].astype("float64") < SIGNIFICANCE).sum()),
        "overall": {method: plain(overall.loc[method].to_dict()) for method in methods},
        "versus_naive": verdict_word(number(model["dm_p_value"])),
        "versus_drift": verdict_word(number(model["dm_p_value_drift"])),
    }
    summary["beat_naive"] = summary["versus_naive"] == "beats"
    summary.update(strongest_baseline(outcomes, overall, methods))
    bands, horizons = band_table(outcomes), horizon_table(outcomes)
    if bands is not None:
        summary.update(
            band_method=config.forecast.band_method,
            adaptive=config.forecast.adaptive,
            bands=[plain(row) for row in bands.to_dict(orient="records")],
        )
    if horizons is not None:
        summary["horizons"] = [plain(row) for row in horizons.to_dict(orient="records")]
    return table, summary, bands, horizons
