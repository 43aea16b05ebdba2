"""The model beside every baseline on the same test bars: the statistical models
(forecast/forecasting/classical.py) fitted on the training rows, each scored against naive,
the model tested against each, and the strongest of naive, drift, ARIMA, ETS and Theta named,
so that no verdict says "beats" unless the model beats the best of them by the same test."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from forecast.base.values import optional
from forecast.evaluation.metrics import rmse
from forecast.evaluation.significance import diebold_mariano
from forecast.forecasting.classical import Baselines, Fitted, fit_baselines


class Predicted(NamedTuple):
    """The statistical models fitted on one block of training rows, and their forecasts."""

    forecasts: dict[str, np.ndarray]  # name → (N - cutoff,) one-step forecasts
    described: dict[str, Any]  # name → label and what was fitted
    notes: list[str]  # the models left out, and why
    models: tuple[Fitted, ...]  # to forecast further ahead, and each fit's seconds


def fitted_predictions(prices: np.ndarray, cutoff: int, fitted: Baselines | None) -> Predicted:
    """The models ``fitted`` on ``prices[:cutoff]`` (the training rows) run over bars
    cutoff..N-1 with their parameters fixed."""
    prices = np.asarray(prices, dtype="float64")  # (N,)
    if fitted is None:
        return Predicted({}, {}, [], ())
    if fitted.rows != cutoff:
        raise ValueError(f"baselines fitted on {fitted.rows} rows, scored from row {cutoff}")
    forecasts, described, notes, models = {}, {}, list(fitted.notes), []
    for model in fitted.fitted:
        forecast = model.one_step(prices, cutoff)  # (N - cutoff,)
        if not np.all(np.isfinite(forecast)):
            notes.append(f"{model.name} left out: its forecasts over the test bars are not finite")
            continue
        forecasts[model.name] = forecast
        described[model.name] = {"label": model.label, **model.details}
        models.append(model)
    return Predicted(forecasts, described, notes, tuple(models))


def fit_and_predict(prices: np.ndarray, cutoff: int, names: tuple[str, ...]) -> Predicted:
    """Fit the named models on ``prices[:cutoff]``, then ``fitted_predictions``."""
    prices = np.asarray(prices, dtype="float64")
    if not names:
        return Predicted({}, {}, [], ())
    return fitted_predictions(prices, cutoff, fit_baselines(prices[:cutoff], names))


def versus_baselines(
    actual: np.ndarray,
    predicted: np.ndarray,
    naive: np.ndarray,
    drift: np.ndarray,
    forecasts: dict[str, np.ndarray],
    described: dict[str, dict[str, Any]],
    notes: list[str],
) -> dict[str, Any]:
    """metrics.json's ``baselines`` (each model: its RMSE, its ratio to naive and DM p
    against naive, then the model's RMSE ratio to it and DM p against it), the notes, and
    the strongest baseline on these bars (lowest RMSE of naive, drift and the fitted ones)
    with the model's DM p against it. No timings: the same run twice writes the same
    metrics.json (the fits' seconds are in baselines.json)."""
    actual = np.asarray(actual, dtype="float64")
    naive_rmse = rmse(actual, naive)
    model_rmse = rmse(actual, predicted)
    table: dict[str, Any] = {}
    for name, forecast in forecasts.items():
        own = rmse(actual, forecast)
        table[name] = {
            **described[name],
            "rmse": own,
            "rmse_ratio": own / naive_rmse if naive_rmse > 0 else math.inf,
            "dm_p_value": optional(diebold_mariano(actual, forecast, naive).p_value),
            "model_rmse_ratio": model_rmse / own if own > 0 else math.inf,
            "model_dm_p_value": optional(diebold_mariano(actual, predicted, forecast).p_value),
        }
    contenders = {"naive": naive_rmse, "drift": rmse(actual, drift)}
    contenders.update({name: row["rmse"] for name, row in table.items()})
    strongest = min(contenders, key=lambda name: contenders[name])
    others = {"naive": naive, "drift": drift, **forecasts}
    return {
        "baselines": table,
        "baseline_notes": notes,
        "strongest_baseline": strongest,
        "strongest_baseline_label": table[strongest]["label"] if strongest in table else strongest,
        "dm_p_value_strongest": optional(
            diebold_mariano(actual, predicted, others[strongest]).p_value
        ),
    }
