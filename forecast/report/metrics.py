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
    """One row per test day: date, actual, predicted, naive."""
    return pd.DataFrame({"date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d"),
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
