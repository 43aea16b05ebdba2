"""Forecast past the last bar: recursive multi-step prediction with Monte-Carlo dropout.

Each of S sample paths starts from the same last window; at every step the whole batch
(S, lookback, n_features) goes through the network once with dropout active, and each
path's prediction becomes its next input. The spread of the paths gives the bands, which
widen as errors compound along the horizon.

With input features beside the close, each step recomputes them along every path from its
own predicted closes (log returns, volatility, RSI, MACD) and from the future timestamps
(calendar features). Inputs the model does not predict (volume, range, open, …) are known
for the first step only, so such a model forecasts one bar (``recursable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.features import feature_matrix, recursable, series_values
from forecast.data.interval import format_timestamps
from forecast.data.windows import as_bars, scaled_to_prices
from forecast.errors import UserError
from forecast.model.train import reseed_dropout

QUANTILES = {"median": 0.5, "lo80": 0.1, "hi80": 0.9, "lo95": 0.025, "hi95": 0.975}
# Rows of history kept for recomputing indicators along the paths: an EMA's weight on
# anything older is below 1e-30, so the windows match the training features.
HISTORY_ROWS = 1000


@dataclass(frozen=True)
class FutureForecast:
    frame: pd.DataFrame  # date, median, lo80, hi80, lo95, hi95
    paths: np.ndarray  # (samples, steps) price paths


def simulate_paths(model, scaler, prices, lookback: int, target: str, days: int,
                   samples: int, dropout: bool = True, features: tuple[str, ...] = ("close",),
                   future_index: pd.DatetimeIndex | None = None) -> np.ndarray:
    """Price paths (samples, days), each step one batched call of the model.

    prices: the history (a price Series or array; with features, the bars frame).
    future_index: the timestamps of the steps (needed by calendar features).
    """
    if tuple(features) == ("close",):
        return _close_only_paths(model, scaler, np.asarray(prices, dtype="float64"), lookback,
                                 target, days, samples, dropout)
    import tensorflow as tf

    outputs = int(model.output_shape[-1])
    if days > 1 and outputs > 1:  # direct heads: every step from the known window at once
        if days > outputs:
            raise ValueError("a direct model with inputs beside the close forecasts at most "
                             "model.horizon steps")
        bars = as_bars(prices)
        window = np.repeat(scaled_windows(scaler, bars, [len(bars)], lookback, target, features),
                           samples, axis=0)  # (S, L, F)
        previous = np.full(samples, float(bars["price"].iloc[-1]))
        return recurse_close(model, scaler, window, previous, target, days, dropout,
                             column=features.index("close"), recursive=False)
    if days > 1 and not all(recursable(name) for name in features):
        raise ValueError("inputs the model does not predict allow one step only")
    bars = as_bars(prices).iloc[-(lookback + HISTORY_ROWS):]
    index = pd.DatetimeIndex(bars.index).append(pd.DatetimeIndex(future_index))
    column = features.index("close")
    history = bars["price"].to_numpy(dtype="float64")  # (T,)
    paths = np.empty((len(history) + days, samples))  # (T + days, S) closes per path
    paths[:len(history)] = history[:, np.newaxis]
    known = feature_matrix(features, bars, target)[-lookback:]  # (L, F) before step 0
    window = np.repeat(known[np.newaxis], samples, axis=0)  # (S, L, F)
    for step in range(days):
        rows = len(history) + step
        if step > 0:
            frame = pd.DataFrame({"price": paths[:rows, 0]}, index=index[:rows])
            values = feature_matrix(features, frame, target, paths=paths[:rows])  # (n, S, F)
            window = values[-lookback:].transpose(1, 0, 2)  # (S, L, F)
        scaled = window * scaler.scale_ + scaler.min_  # scikit-learn's transform, (S, L, F)
        output = np.asarray(model(tf.constant(scaled.astype("float32")), training=dropout))
        paths[rows] = scaled_to_prices(scaler, output[:, 0], paths[rows - 1], target, column)
    return paths[len(history):].T  # (S, days)


def _close_only_paths(model, scaler, prices: np.ndarray, lookback: int, target: str,
                      days: int, samples: int, dropout: bool) -> np.ndarray:
    """The reference model's paths: each scaled prediction is the next scaled input."""
    values = series_values(prices, target)[-lookback:]  # (L,)
    scaled = scaler.transform(values.reshape(-1, 1))[:, 0]  # (L,)
    window = np.tile(scaled.astype("float32"), (samples, 1))[..., np.newaxis]  # (S, L, 1)
    previous = np.full(samples, prices[-1])  # (S,) last known close of each path
    return recurse_close(model, scaler, window, previous, target, days, dropout)


def scaled_windows(scaler, bars: pd.DataFrame, origins, lookback: int, target: str,
                   features: tuple[str, ...]) -> np.ndarray:
    """The scaled input windows of the ``lookback`` rows before each origin, as the model
    reads them (scikit-learn's transform arithmetic). Returns (n, L, F) float32."""
    scaled = feature_matrix(features, bars, target) * scaler.scale_ + scaler.min_  # (N, F)
    return np.stack([scaled[origin - lookback:origin] for origin in origins]).astype("float32")


def recurse_close(model, scaler, windows: np.ndarray, previous: np.ndarray, target: str,
                  steps: int, dropout: bool, column: int = 0, recursive: bool = True
                  ) -> np.ndarray:
    """Forecast ``steps`` bars from each scaled window, feeding the predictions back in.

    windows: (n, L, F) scaled inputs (F = 1 when ``recursive``); previous: (n,) each
    window's last close. One batched call of the model per H steps (H = the model's
    outputs: 1, or model.horizon for a direct model). Returns (n, steps) prices.
    """
    import tensorflow as tf

    paths = np.empty((len(windows), steps))  # (n, steps)
    previous = np.asarray(previous, dtype="float64")
    step = 0
    while step < steps:
        output = np.asarray(model(tf.constant(windows), training=dropout))  # (n, H)
        used = min(output.shape[1], steps - step)  # a direct model gives H steps per call
        for offset in range(used):
            previous = scaled_to_prices(scaler, output[:, offset], previous, target, column)
            paths[:, step + offset] = previous
        step += used
        if step < steps:
            if not recursive:
                raise ValueError("inputs beside the close allow one call (H steps) only")
            lookback = windows.shape[1]
            windows = np.concatenate([windows, output[:, :used, np.newaxis]],
                                     axis=1)[:, -lookback:]  # (n, L, 1)
    return paths


def forecast_future(model, scaler, prices, lookback: int, target: str,
                    dates: pd.DatetimeIndex, samples: int = 100, seed: int = 0,
                    features: tuple[str, ...] = ("close",)) -> FutureForecast:
    """Median and 80%/95% bands for each future timestamp, from ``samples`` MC-dropout paths.

    prices: the history, a price Series (or, with features, the bars frame)."""
    if len(prices) < lookback + (1 if target == "log_return" else 0):
        raise ValueError("not enough prices for one window")
    reseed_dropout(model, seed)  # the same run and seed give the same bands
    history = prices if tuple(features) != ("close",) else as_bars(prices)["price"].to_numpy()
    paths = simulate_paths(model, scaler, history, lookback, target, len(dates), samples,
                           features=tuple(features), future_index=pd.DatetimeIndex(dates))
    frame = pd.DataFrame({"date": format_timestamps(pd.DatetimeIndex(dates))})
    for column, quantile in QUANTILES.items():
        frame[column] = np.quantile(paths, quantile, axis=0)  # (steps,)
    return FutureForecast(frame=frame, paths=paths)


def recursive_forecasts(model: Any, scaler: Any, bars: pd.DataFrame, origins: np.ndarray,
                        steps: int, lookback: int, target: str, features: tuple[str, ...],
                        future_index: pd.DatetimeIndex | None = None) -> np.ndarray:
    """Deterministic (dropout off) forecasts of ``steps`` bars from each origin.

    origins: (n,) first forecast rows; each forecast reads rows before its origin only.
    Returns (n, steps) prices. ``future_index``: timestamps after the last bar, for an origin
    at len(bars) with calendar features.
    """
    origins = np.asarray(origins, dtype="int64")
    prices = bars["price"].to_numpy(dtype="float64")
    direct = int(model.output_shape[-1])  # model.horizon: steps from one call
    if tuple(features) == ("close",) or steps <= direct:
        windows = scaled_windows(scaler, bars, origins, lookback, target, features)
        return recurse_close(model, scaler, windows, prices[origins - 1],
                             target, steps, dropout=False,
                             column=features.index("close"),
                             recursive=tuple(features) == ("close",))
    if direct > 1:  # simulate_paths would take only the first head
        raise UserError(f"a model.horizon {direct} model with inputs beside the close "
                        f"forecasts at most {direct} bars; ask for fewer")
    index = pd.DatetimeIndex(bars.index)
    if future_index is not None:
        index = index.append(pd.DatetimeIndex(future_index))
    paths = np.full((len(origins), steps), np.nan)  # (n, steps); NaN past the known stamps
    for row, origin in enumerate(origins):
        ahead = min(steps, len(index) - origin)  # calendar features need each step's stamp
        paths[row, :ahead] = simulate_paths(model, scaler, bars.iloc[:origin], lookback, target,
                                            ahead, samples=1, dropout=False,
                                            features=tuple(features),
                                            future_index=index[origin:origin + ahead])[0]
    return paths
