"""What every command shares: load the configured data, build a dataset the config's way,
predict the test windows beside the naive forecast, and name counts in the data's own unit."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from forecast.config import Config
from forecast.data.interval import unit_words
from forecast.data.sources import MarketData, load_market
from forecast.data.windows import Dataset, prepare_dataset
from forecast.evaluation.metrics import forecast_metrics, predictions_frame

PREDICT_BATCH = 1024

def dataset_for(config: Config, bars: pd.Series | pd.DataFrame, scaler: Any = None
                ) -> Dataset:
    """Features, split, scale and windows of ``bars`` as ``config`` says (fitting the scaler
    unless given)."""
    label = (str(config.data.path) if config.data.source == "csv"
             else f"data ({config.data.source} {config.data.ticker})")
    return prepare_dataset(bars, config.data.lookback, config.data.test_fraction,
                           config.train.validation_fraction, scaler=scaler, label=label,
                           target=config.data.target, features=config.data.features,
                           horizon=config.model.horizon)


def load_data(config: Config, refresh: bool = False) -> tuple[Config, MarketData]:
    """Load the configured data; the config comes back with interval, calendar and time
    zone resolved from it, as every later step (and the run folder) should see them."""
    market = load_market(config.data, refresh=refresh)
    return replace(config, data=market.data), market


def bar_words(config: Config, count: int) -> str:
    """'250 trading days', '24 hourly bars', '3 months': the data's own unit."""
    return unit_words(config.data.interval, config.data.calendar, count)


def predict_test(model: Any, dataset: Dataset) -> pd.DataFrame:
    """Predict every test day from its window and line it up with actual and naive."""
    scaled = model.predict(dataset.x_test, batch_size=PREDICT_BATCH, verbose=0)[:, 0]  # (n,)
    predicted = dataset.to_prices(scaled)  # (n_test,) prices
    return predictions_frame(dataset.test_dates, dataset.test_prices, predicted,
                             dataset.previous_prices)


def score(predictions: pd.DataFrame) -> dict[str, float]:
    return forecast_metrics(predictions["actual"].to_numpy(),
                            predictions["predicted"].to_numpy(),
                            predictions["naive"].to_numpy())
