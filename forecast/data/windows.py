"""Time-ordered split, a MinMax scaler fitted on training rows only, and lookback windows.

Row layout for a series of N closes, lookback L, n_train training rows:

    rows  0 .. n_train-1   training rows (the scaler sees only these)
    rows  n_train .. N-1   test rows (the model never trains on them)

A window predicts row t from rows t-L .. t-1. Training/validation windows predict rows
L .. n_train-1 (validation = the last of them, in time order); test windows predict every
test row, their first inputs reaching back into the end of the training rows.

What the network models is ``target``: ``price`` (scaled closes in, next close out) or
``log_return`` (scaled daily log returns in, next log return out; row t holds
log(p_t / p_{t-1}), so row 0 has none and windows start one row later). Either way
``Dataset.to_prices`` turns predictions back into prices, so metrics stay in price units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from forecast.errors import DataError, RunError

FEATURE_RANGE = (0.0, 1.0)


TARGETS = ("price", "log_return")


def target_offset(target: str) -> int:
    """Rows at the start with no modelled value (a log return needs a previous close)."""
    return 1 if target == "log_return" else 0


def split_sizes(n_rows: int, test_fraction: float, lookback: int,
                validation_fraction: float, target: str = "price") -> tuple[int, int, int]:
    """(n_train_rows, n_validation_windows, n_test_rows) for a series of ``n_rows``."""
    n_test = max(1, int(n_rows * test_fraction))
    n_train = n_rows - n_test
    n_windows = max(0, n_train - lookback - target_offset(target))
    n_validation = math.ceil(n_windows * validation_fraction) if validation_fraction > 0 else 0
    return n_train, n_validation, n_test


def required_rows(test_fraction: float, lookback: int, validation_fraction: float,
                  target: str = "price") -> int:
    """The fewest rows that give one training window, one validation window (when asked
    for) and one test day."""
    n_rows = lookback + 2
    while True:
        n_train, n_validation, _ = split_sizes(n_rows, test_fraction, lookback,
                                               validation_fraction, target)
        n_fit = n_train - lookback - target_offset(target) - n_validation
        if n_fit >= 1 and (validation_fraction == 0 or n_validation >= 1):
            return n_rows
        n_rows += 1


def fit_scaler(train_prices: np.ndarray) -> MinMaxScaler:
    """Fit MinMaxScaler to training prices only.  # train_prices: (n_train,)"""
    scaler = MinMaxScaler(feature_range=FEATURE_RANGE)
    scaler.fit(np.asarray(train_prices, dtype="float64").reshape(-1, 1))  # (n_train, 1)
    return scaler


def scaler_to_dict(scaler: MinMaxScaler) -> dict[str, Any]:
    """The fitted state under scikit-learn's attribute names (JSON, never a pickle)."""
    return {
        "type": "MinMaxScaler",
        "feature_range": [float(v) for v in scaler.feature_range],
        "data_min_": scaler.data_min_.tolist(),
        "data_max_": scaler.data_max_.tolist(),
        "data_range_": scaler.data_range_.tolist(),
        "scale_": scaler.scale_.tolist(),
        "min_": scaler.min_.tolist(),
        "n_samples_seen_": int(scaler.n_samples_seen_),
        "n_features_in_": int(scaler.n_features_in_),
    }


def scaler_from_dict(state: dict[str, Any], source: str = "scaler.json") -> MinMaxScaler:
    """Rebuild a fitted MinMaxScaler from ``scaler_to_dict`` output, checking its shapes."""
    try:
        scaler = MinMaxScaler(feature_range=tuple(float(v) for v in state["feature_range"]))
        arrays = {name: np.asarray(state[name], dtype="float64")
                  for name in ("data_min_", "data_max_", "scale_", "min_")}
        arrays["data_range_"] = np.asarray(
            state.get("data_range_", arrays["data_max_"] - arrays["data_min_"]), dtype="float64")
        n_features = int(state.get("n_features_in_", arrays["scale_"].shape[0]))
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{source}: not a MinMaxScaler state ({type(error).__name__}: {error}); "
                       f"retrain the run") from None
    for name, array in arrays.items():
        if array.shape != (n_features,) or not np.isfinite(array).all():
            raise RunError(f"{source}: {name} has shape {array.shape}, expected ({n_features},) "
                           f"finite values; the file is damaged, retrain the run")
    for name, array in arrays.items():
        setattr(scaler, name, array)
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = int(state.get("n_samples_seen_", 0))
    return scaler


def make_windows(series: np.ndarray, lookback: int, first_target: int, stop: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Windows predicting rows first_target .. stop-1, without a Python loop.

    Returns X (n, lookback, 1) where X[k] = series[t-lookback : t] and y (n,) = series[t],
    for t = first_target + k.
    """
    if first_target < lookback:
        raise ValueError(f"first_target {first_target} < lookback {lookback}")
    series = np.asarray(series, dtype="float64")  # (N,)
    all_windows = np.lib.stride_tricks.sliding_window_view(series, lookback)  # (N-L+1, L)
    inputs = all_windows[first_target - lookback: stop - lookback]  # (n, L)
    targets = series[first_target:stop]  # (n,) kept in float64 so inverses are exact
    return inputs.astype("float32")[..., np.newaxis], targets.copy()  # (n, L, 1), (n,)


def modelled_values(prices: np.ndarray, target: str) -> np.ndarray:
    """The series the network sees, aligned with the price rows.  # (N,) -> (N,)

    price: the closes; log_return: row t = log(p_t / p_{t-1}), row 0 = NaN (never used).
    """
    prices = np.asarray(prices, dtype="float64")
    if target == "price":
        return prices.copy()
    values = np.empty_like(prices)
    values[0] = np.nan
    values[1:] = np.log(prices[1:] / prices[:-1])
    return values


def values_to_prices(values: np.ndarray, previous_prices: np.ndarray, target: str
                     ) -> np.ndarray:
    """Modelled values for some days back to those days' prices, given each previous close."""
    values = np.asarray(values, dtype="float64")
    if target == "price":
        return values
    return np.asarray(previous_prices, dtype="float64") * np.exp(values)


def scaled_to_prices(scaler: MinMaxScaler, scaled: np.ndarray, previous_prices: np.ndarray,
                     target: str) -> np.ndarray:
    """Network outputs (scaled) → prices, each rebuilt from its day's previous close.

    scaled, previous_prices: (n,) -> (n,)
    """
    return values_to_prices(inverse_scale(scaler, scaled), previous_prices, target)


@dataclass(frozen=True)
class Dataset:
    """Everything the model and the report need, derived from one price series."""

    prices: pd.Series  # (N,) the clean closes, date index
    lookback: int
    target: str  # "price" or "log_return"
    n_train: int  # rows 0..n_train-1 are training rows
    scaler: MinMaxScaler  # fitted on training rows only
    x_train: np.ndarray  # (n_fit, L, 1)
    y_train: np.ndarray  # (n_fit,)
    x_val: np.ndarray  # (n_val, L, 1)
    y_val: np.ndarray  # (n_val,)
    x_test: np.ndarray  # (n_test, L, 1)
    y_test: np.ndarray  # (n_test,) scaled modelled values

    @property
    def test_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.prices.index[self.n_train:])

    @property
    def test_prices(self) -> np.ndarray:
        return self.prices.to_numpy()[self.n_train:]  # (n_test,)

    @property
    def previous_prices(self) -> np.ndarray:
        """Each test day's previous close: the naive last-value forecast."""
        return self.prices.to_numpy()[self.n_train - 1:-1]  # (n_test,)

    def to_prices(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled test-day predictions → prices (rebuilt from the previous close for returns)."""
        return scaled_to_prices(self.scaler, scaled, self.previous_prices,
                                self.target)  # (n_test,)


def prepare_dataset(prices: pd.Series, lookback: int, test_fraction: float,
                    validation_fraction: float, scaler: MinMaxScaler | None = None,
                    label: str = "data", target: str = "price",
                    n_test: int | None = None) -> Dataset:
    """Split, scale (fitting on training rows unless a fitted scaler is given) and window.

    ``n_test`` fixes the number of test rows (a backtest fold); otherwise it is
    ``test_fraction`` of the rows.
    """
    needed = required_rows(test_fraction, lookback, validation_fraction, target)
    if n_test is not None:
        needed = max(needed, n_test + lookback + target_offset(target) + 2)
    if len(prices) < needed:
        raise DataError(
            f"{label}: found {len(prices)} rows of prices, need at least {needed} for "
            f"lookback {lookback} with test_fraction {test_fraction} and validation_fraction "
            f"{validation_fraction}; use a longer date range or a smaller data.lookback")
    n_train, n_validation, _ = split_sizes(len(prices), test_fraction, lookback,
                                           validation_fraction, target)
    if n_test is not None:
        n_train = len(prices) - n_test
        windows = n_train - lookback - target_offset(target)
        n_validation = min(math.ceil(windows * validation_fraction), windows - 1)
    values = modelled_values(prices.to_numpy(), target)  # (N,)
    first = target_offset(target)
    if scaler is None:
        scaler = fit_scaler(values[first:n_train])
    scaled = np.full_like(values, np.nan)
    scaled[first:] = scaler.transform(values[first:].reshape(-1, 1))[:, 0]  # (N,)
    x_fit, y_fit = make_windows(scaled, lookback, lookback + first, n_train)
    split = len(y_fit) - n_validation
    x_test, y_test = make_windows(scaled, lookback, n_train, len(values))
    return Dataset(prices=prices, lookback=lookback, target=target, n_train=n_train,
                   scaler=scaler, x_train=x_fit[:split], y_train=y_fit[:split],
                   x_val=x_fit[split:], y_val=y_fit[split:], x_test=x_test, y_test=y_test)


def inverse_scale(scaler: MinMaxScaler, scaled: np.ndarray) -> np.ndarray:
    """Scaled values back to the modelled units.  # scaled: (n,) -> (n,)"""
    scaled = np.asarray(scaled, dtype="float64").reshape(-1, 1)  # (n, 1)
    return scaler.inverse_transform(scaled)[:, 0]
