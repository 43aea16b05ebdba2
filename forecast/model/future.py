"""Forecast past the last date: recursive multi-step prediction with Monte-Carlo dropout.

Each of S sample paths starts from the same last window; at every step the whole batch
(S, lookback, 1) goes through the network once with dropout active, and each path's
prediction becomes its next input. The spread of the paths gives the bands, which widen
as errors compound along the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.windows import modelled_values, scaled_to_prices
from forecast.model.train import reseed_dropout

QUANTILES = {"median": 0.5, "lo80": 0.1, "hi80": 0.9, "lo95": 0.025, "hi95": 0.975}


@dataclass(frozen=True)
class FutureForecast:
    frame: pd.DataFrame  # date, median, lo80, hi80, lo95, hi95
    paths: np.ndarray  # (samples, days) price paths


def simulate_paths(model, scaler, prices: np.ndarray, lookback: int, target: str, days: int,
                   samples: int, dropout: bool = True) -> np.ndarray:
    """Price paths (samples, days), each step one batched call of the model."""
    import tensorflow as tf

    prices = np.asarray(prices, dtype="float64")  # (N,)
    values = modelled_values(prices, target)[-lookback:]  # (L,)
    scaled = scaler.transform(values.reshape(-1, 1))[:, 0]  # (L,)
    window = np.tile(scaled.astype("float32"), (samples, 1))[..., np.newaxis]  # (S, L, 1)
    previous = np.full(samples, prices[-1])  # (S,) last known close of each path
    paths = np.empty((samples, days))  # (S, days)
    for step in range(days):
        output = model(tf.constant(window), training=dropout)  # (S, 1)
        predicted = np.asarray(output)[:, 0]  # (S,) scaled
        previous = scaled_to_prices(scaler, predicted, previous, target)
        paths[:, step] = previous
        window = np.concatenate([window[:, 1:, :], predicted.reshape(-1, 1, 1)], axis=1)
    return paths


def forecast_future(model, scaler, prices: pd.Series, lookback: int, target: str,
                    dates: pd.DatetimeIndex, samples: int = 100, seed: int = 0
                    ) -> FutureForecast:
    """Median and 80%/95% bands for each future date, from ``samples`` MC-dropout paths."""
    if len(prices) < lookback + (1 if target == "log_return" else 0):
        raise ValueError("not enough prices for one window")
    reseed_dropout(model, seed)  # the same run and seed give the same bands
    paths = simulate_paths(model, scaler, prices.to_numpy(), lookback, target, len(dates),
                           samples)
    frame = pd.DataFrame({"date": pd.DatetimeIndex(dates).strftime("%Y-%m-%d")})
    for column, quantile in QUANTILES.items():
        frame[column] = np.quantile(paths, quantile, axis=0)  # (days,)
    return FutureForecast(frame=frame, paths=paths)
