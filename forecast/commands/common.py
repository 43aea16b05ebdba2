"""What every command shares: load the configured data, build a dataset the config's way,
predict the test windows beside the naive forecast, calibrate a run's bands, and name counts
in the data's own unit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.config import Config
from forecast.data.interval import unit_words
from forecast.data.sources import MarketData, load_market
from forecast.data.windows import Dataset, prepare_dataset

# Horizons calibrated when a run is trained: forecasts up to this far read calibration.json.
CALIBRATED_HORIZONS = 30


def dataset_for(config: Config, bars: pd.Series | pd.DataFrame, scaler: Any = None) -> Dataset:
    """Features, split, scale and windows of ``bars`` as ``config`` says (fitting the scaler
    unless given)."""
    label = (
        str(config.data.path)
        if config.data.source == "csv"
        else f"data ({config.data.source} {config.data.ticker})"
    )
    return prepare_dataset(
        bars,
        config.data.lookback,
        config.data.test_fraction,
        config.train.validation_fraction,
        scaler=scaler,
        label=label,
        target=config.data.target,
        features=config.data.features,
        horizon=config.model.horizon,
    )


def load_data(config: Config, refresh: bool = False) -> tuple[Config, MarketData]:
    """Load the configured data; the config comes back with interval, calendar and time
    zone resolved from it, as every later step (and the run folder) should see them."""
    market = load_market(config.data, refresh=refresh)
    return replace(config, data=market.data), market


def newer_bars(
    run: Any, data_path: str | Path | None = None, refresh: bool = False
) -> tuple[pd.DataFrame, str]:
    """(bars, where from) for a run's next step: the CSV ``data_path`` (the run's date, price
    and feature columns), or the run's own source read again up to its newest bar (a CSV that
    grew, Yahoo's cache; ``refresh`` downloads again)."""
    from forecast.data.sources import source_label

    data = run.config.data
    if data_path is not None:
        newer = replace(data, source="csv", path=str(data_path), start=None, end=None)
        return load_market(newer).bars, str(data_path)
    source = replace(data, end=None)
    return load_market(source, refresh=refresh).bars, source_label(source)


def bar_words(config: Config, count: int) -> str:
    """'250 trading days', '24 hourly bars', '3 months': the data's own unit."""
    return unit_words(config.data.interval, config.data.calendar, count)


def predict_test(model: Any, dataset: Dataset) -> pd.DataFrame:
    """Predict every test day from its window and line it up with actual and naive."""
    from forecast.evaluation.backtest import predict_test_prices
    from forecast.evaluation.metrics import predictions_frame

    return predictions_frame(
        dataset.test_dates,
        dataset.test_prices,
        predict_test_prices(model, dataset),
        dataset.previous_prices,
    )


def score(predictions: pd.DataFrame, dataset: Dataset) -> dict[str, Any]:
    """The test metrics beside naive (metrics.json, evaluation.json), and the DM p-value
    against the drift forecast (the last close plus the training rows' average change), so
    that an edge over naive which is only the drift says so."""
    from forecast.base.values import optional
    from forecast.evaluation.backtest import baseline_predictions
    from forecast.evaluation.metrics import forecast_metrics
    from forecast.evaluation.significance import diebold_mariano

    actual = predictions["actual"].to_numpy()
    predicted = predictions["predicted"].to_numpy()
    prices = dataset.prices.to_numpy()
    drift = baseline_predictions(prices, dataset.n_train, len(prices), dataset.lookback)["drift"]
    return {
        **forecast_metrics(actual, predicted, predictions["naive"].to_numpy()),
        "dm_p_value_drift": optional(diebold_mariano(actual, predicted, drift).p_value),
    }


def calibration_steps(forecaster: Any, steps: int = CALIBRATED_HORIZONS) -> int:
    """Horizons to calibrate: ``steps``, at least the model's own H, at most what it can
    forecast."""
    wanted = max(steps, forecaster.horizon)
    limit = forecaster.max_steps
    return wanted if limit is None else min(wanted, limit)


def calibrate_run(run: Any, forecaster: Any, steps: int) -> Any:
    """The run's calibration for horizons 1 … ``steps``: the stored one where it reaches that
    far, else calibrated again on the run's own training rows (the NumPy network, as the
    stored one was) and stored in its place."""
    from forecast.forecasting.conformal import fit_calibration
    from forecast.store import runs

    stored = run.calibration()
    if stored is not None and stored.horizons >= steps:
        return stored
    if stored is not None:
        n_train, n_block = stored.training_rows, stored.block_rows
    else:  # a run from before calibration was stored when training
        dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
        n_train, n_block = dataset.n_train, len(dataset.y_val)
    calibration = fit_calibration(
        forecaster, run.bars.iloc[:n_train], n_block, calibration_steps(forecaster, steps)
    )
    runs.write_calibration(run.path, calibration)
    return calibration
