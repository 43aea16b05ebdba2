"""Error metrics in price units, always beside the naive last-value forecast on the same days."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_KEYS = ("rmse", "mae", "mape", "naive_rmse", "naive_mae", "naive_mape", "rmse_ratio")


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error."""
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return float(np.sqrt(np.mean(error ** 2)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error."""
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return float(np.mean(np.abs(error)))


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent (prices are > 0, so it is defined)."""
    actual = np.asarray(actual, dtype="float64")
    error = np.asarray(predicted, dtype="float64") - actual
    return float(np.mean(np.abs(error / actual)) * 100.0)


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray
                     ) -> dict[str, float]:
    """Model and naive errors on exactly the same days; rmse_ratio < 1 means the model
    beat "tomorrow equals today"."""
    if not len(actual) == len(predicted) == len(naive):
        raise ValueError("actual, predicted and naive must cover the same days")
    metrics = {"rmse": rmse(actual, predicted), "mae": mae(actual, predicted),
               "mape": mape(actual, predicted), "naive_rmse": rmse(actual, naive),
               "naive_mae": mae(actual, naive), "naive_mape": mape(actual, naive)}
    metrics["rmse_ratio"] = (metrics["rmse"] / metrics["naive_rmse"]
                             if metrics["naive_rmse"] > 0 else float("inf"))
    return metrics


def predictions_frame(dates: pd.DatetimeIndex, actual: np.ndarray, predicted: np.ndarray,
                      naive: np.ndarray) -> pd.DataFrame:
    """One row per test bar: date (with time and zone when the bars have them), actual,
    predicted, naive."""
    from forecast.data.interval import format_timestamps

    return pd.DataFrame({"date": format_timestamps(pd.DatetimeIndex(dates)),
                         "actual": np.asarray(actual, dtype="float64"),
                         "predicted": np.asarray(predicted, dtype="float64"),
                         "naive": np.asarray(naive, dtype="float64")})


def format_metrics_table(metrics: dict[str, float]) -> str:
    """A short text table: model vs naive RMSE / MAE / MAPE, and the verdict."""
    lines = [f"{'':<8}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}",
             f"{'model':<8}{metrics['rmse']:>12.4f}{metrics['mae']:>12.4f}"
             f"{metrics['mape']:>10.2f}",
             f"{'naive':<8}{metrics['naive_rmse']:>12.4f}{metrics['naive_mae']:>12.4f}"
             f"{metrics['naive_mape']:>10.2f}"]
    ratio = metrics["rmse_ratio"]
    verdict = "beats" if ratio < 1 else "does not beat"
    lines.append(f"rmse_ratio {ratio:.3f}: the model {verdict} the naive last-value forecast")
    return "\n".join(lines)


# --- backtest diagnostics -------------------------------------------------------------------

def mase(actual: np.ndarray, predicted: np.ndarray, training_prices: np.ndarray) -> float:
    """MAE scaled by the in-sample one-step naive MAE on the training prices (< 1: better
    than the naive forecast was in-sample)."""
    scale = float(np.mean(np.abs(np.diff(np.asarray(training_prices, dtype="float64")))))
    return mae(actual, predicted) / scale if scale > 0 else float("inf")


def theil_u(actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray) -> float:
    """Theil's U (the U2 form): RMSE / naive RMSE on the same days."""
    naive_error = rmse(actual, naive)
    return rmse(actual, predicted) / naive_error if naive_error > 0 else float("inf")


def directional_accuracy(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray
                         ) -> tuple[float, int, int]:
    """(share, hits, days): days where the predicted move from today's close has the sign
    of the actual move. Days with no actual or no predicted move are left out (a forecast
    of "no change", like the naive one, has no direction)."""
    actual_move = np.sign(np.asarray(actual, dtype="float64") - previous)
    predicted_move = np.sign(np.asarray(predicted, dtype="float64") - previous)
    counted = (actual_move != 0) & (predicted_move != 0)
    days = int(counted.sum())
    hits = int((actual_move[counted] == predicted_move[counted]).sum())
    return (hits / days if days else float("nan")), hits, days


def binomial_p_value(hits: int, days: int) -> float:
    """One-sided binomial test p-value of ``hits`` of ``days`` against a 50% coin flip."""
    if days == 0:
        return float("nan")
    from scipy.stats import binomtest

    return float(binomtest(hits, days, 0.5, alternative="greater").pvalue)


def best_lag(actual: np.ndarray, predicted: np.ndarray, max_lag: int = 5) -> int:
    """The lag k (−max_lag..max_lag) where the predicted daily changes correlate best with
    the actual changes k days earlier. +1 means the model mostly repeats yesterday's move."""
    actual_change = np.diff(np.asarray(actual, dtype="float64"))
    predicted_change = np.diff(np.asarray(predicted, dtype="float64"))
    best, best_correlation = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, p = actual_change[:len(actual_change) - lag], predicted_change[lag:]
        else:
            a, p = actual_change[-lag:], predicted_change[:len(predicted_change) + lag]
        if len(a) < 3 or np.std(a) == 0 or np.std(p) == 0:
            continue
        correlation = float(np.corrcoef(a, p)[0, 1])
        if correlation > best_correlation:
            best, best_correlation = lag, correlation
    return best


def band_coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of actual values inside [low, high]."""
    actual = np.asarray(actual, dtype="float64")
    return float(np.mean((actual >= low) & (actual <= high)))
