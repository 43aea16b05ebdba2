"""Time-ordered split, a MinMax scaler fitted on training rows only, and lookback windows.

Row layout for a series of N closes, lookback L, n_train training rows:

    rows  0 .. n_train-1   training rows (the scaler sees only these)
    rows  n_train .. N-1   test rows (the model never trains on them)

Each row holds the input features (data.features; by default the close alone), each scaled
on its own. A window predicts row t from rows t-L .. t-1. Training/validation windows predict
rows L .. n_train-1 (validation = the last of them, in time order); test windows predict every
test row, their first inputs reaching back into the end of the training rows.

What the network models is ``target``: ``price`` (scaled closes in, next close out) or
``log_return`` (scaled daily log returns in, next log return out; row t holds
log(p_t / p_{t-1}), so row 0 has none and windows start one row later). Either way
``Dataset.to_prices`` turns predictions back into prices, so metrics stay in price units.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecast.data.features import feature_matrix, first_complete_row, source_columns
from forecast.data.scaling import FEATURE_RANGE, MinMaxScaling
from forecast.errors import DataError, RunError

log = logging.getLogger(__name__)


def target_offset(target: str) -> int:
    """Rows at the start with no modelled value (a log return needs a previous close)."""
    return 1 if target == "log_return" else 0


def split_sizes(
    n_rows: int,
    test_fraction: float,
    lookback: int,
    validation_fraction: float,
    target: str = "price",
    offset: int | None = None,
) -> tuple[int, int, int]:
    """(n_train_rows, n_validation_windows, n_test_rows) for a series of ``n_rows``.

    ``offset``: leading rows with no model input (default: the target's own, 0 or 1; more
    with indicator features).
    """
    offset = target_offset(target) if offset is None else offset
    n_test = max(1, int(n_rows * test_fraction)) if test_fraction > 0 else 0  # 0: production
    n_train = n_rows - n_test
    n_windows = max(0, n_train - lookback - offset)
    n_validation = math.ceil(n_windows * validation_fraction) if validation_fraction > 0 else 0
    return n_train, n_validation, n_test


def required_rows(
    test_fraction: float,
    lookback: int,
    validation_fraction: float,
    target: str = "price",
    offset: int | None = None,
) -> int:
    """The fewest rows that give one training window, one validation window (when asked
    for) and one test day."""
    offset = target_offset(target) if offset is None else offset
    n_rows = lookback + 2
    while True:
        n_train, n_validation, _ = split_sizes(
            n_rows, test_fraction, lookback, validation_fraction, offset=offset
        )
        n_fit = n_train - lookback - offset - n_validation
        if n_fit >= 1 and (validation_fraction == 0 or n_validation >= 1):
            return n_rows
        n_rows += 1


def fit_scaler(train_values: np.ndarray) -> MinMaxScaling:
    """Fit the scaler to training rows only, one range per feature.

    train_values: (n_train,) for one feature or (n_train, n_features).
    """
    return MinMaxScaling(feature_range=FEATURE_RANGE).fit(train_values)


def make_windows(
    series: np.ndarray, lookback: int, first_target: int, stop: int, target_column: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Windows predicting rows first_target .. stop-1, without a Python loop.

    series: (N,) or (N, n_features). Returns X (n, lookback, n_features) where
    X[k] = series[t-lookback : t] and y (n,) = series[t, target_column], for
    t = first_target + k.
    """
    if first_target < lookback:
        raise ValueError(f"first_target {first_target} < lookback {lookback}")
    series = np.asarray(series, dtype="float64")
    series = series.reshape(len(series), -1)  # (N, F)
    all_windows = np.lib.stride_tricks.sliding_window_view(series, lookback, axis=0)
    inputs = all_windows[first_target - lookback : stop - lookback]  # (n, F, L)
    targets = series[first_target:stop, target_column]  # (n,) float64 so inverses are exact
    return inputs.transpose(0, 2, 1).astype("float32"), targets.copy()  # (n, L, F), (n,)


def values_to_prices(values: np.ndarray, previous_prices: np.ndarray, target: str) -> np.ndarray:
    """Modelled values for some days back to those days' prices, given each previous close."""
    values = np.asarray(values, dtype="float64")
    if target == "price":
        return values
    return np.asarray(previous_prices, dtype="float64") * np.exp(values)


def scaled_to_prices(
    scaler: MinMaxScaling,
    scaled: np.ndarray,
    previous_prices: np.ndarray,
    target: str,
    column: int = 0,
) -> np.ndarray:
    """Network outputs (scaled) → prices, each rebuilt from its day's previous close.

    scaled, previous_prices: (n,) -> (n,); ``column``: the target's column in the scaler.
    """
    return values_to_prices(scaler.inverse_column(scaled, column), previous_prices, target)


@dataclass(frozen=True)
class Dataset:
    """Everything the model and the report need, derived from one price series."""

    prices: pd.Series  # (N,) the clean closes, timestamp index
    lookback: int
    target: str  # "price" or "log_return"
    n_train: int  # rows 0..n_train-1 are training rows
    scaler: MinMaxScaling  # fitted on training rows only, one range per feature
    x_train: np.ndarray  # (n_fit, L, F)
    y_train: np.ndarray  # (n_fit,)
    x_val: np.ndarray  # (n_val, L, F)
    y_val: np.ndarray  # (n_val,)
    x_test: np.ndarray  # (n_test, L, F)
    y_test: np.ndarray  # (n_test,) scaled modelled values
    features: tuple[str, ...] = ("close",)
    first_row: int = 0  # rows before it have no complete input (warm-up)
    horizon: int = 1  # y_train/y_val hold the next H modelled values per window when H > 1

    @property
    def target_column(self) -> int:
        """The forecast series' column among the inputs (and in the scaler)."""
        return self.features.index("close")

    @property
    def test_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.prices.index[self.n_train :])

    @property
    def test_prices(self) -> np.ndarray:
        return self.prices.to_numpy()[self.n_train :]  # (n_test,)

    @property
    def previous_prices(self) -> np.ndarray:
        """Each test day's previous close: the naive last-value forecast."""
        return self.prices.to_numpy()[self.n_train - 1 : -1]  # (n_test,)

    def to_prices(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled test-day predictions → prices (rebuilt from the previous close for returns)."""
        return scaled_to_prices(
            self.scaler, scaled, self.previous_prices, self.target, self.target_column
        )  # (n_test,)


def as_bars(data: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """A price Series as a one-column bars frame; a bars frame as it is."""
    if isinstance(data, pd.Series):
        return data.rename("price").to_frame()
    return data


def prepare_dataset(
    bars: pd.Series | pd.DataFrame,
    lookback: int,
    test_fraction: float,
    validation_fraction: float,
    scaler: MinMaxScaling | None = None,
    label: str = "data",
    target: str = "price",
    n_test: int | None = None,
    features: tuple[str, ...] = ("close",),
    horizon: int = 1,
) -> Dataset:
    """Compute the features, split, scale (fitting on training rows unless a fitted scaler
    is given) and window.

    ``bars``: the clean series (a price Series, or a frame with ``price`` and the source
    columns the features read). ``n_test`` fixes the number of test rows (a backtest fold);
    otherwise it is ``test_fraction`` of the rows.
    """
    bars = as_bars(bars)
    missing = [column for column in source_columns(features) if column not in bars]
    if missing:
        raise DataError(
            f"{label}: the bars have no {', '.join(missing)} column, which "
            f"data.features {', '.join(features)} read; load them with "
            f"forecast.load_data(config) (load_prices keeps the close alone)"
        )
    prices = bars["price"]
    values = feature_matrix(features, bars, target)  # (N, F)
    first = first_complete_row(values, features, pd.DatetimeIndex(bars.index), label)
    needed = required_rows(test_fraction, lookback, validation_fraction, offset=first)
    if n_test is not None:
        needed = max(needed, n_test + lookback + first + 2)
    if len(prices) < needed:
        warmup = (
            f" (the first {first} rows are warm-up for the features, without a value)"
            if first > target_offset(target)
            else ""
        )
        raise DataError(
            f"{label}: found {len(prices)} rows of prices, need at least {needed} for "
            f"lookback {lookback} with test_fraction {test_fraction} and validation_fraction "
            f"{validation_fraction}{warmup}; use a longer date range or a smaller "
            f"data.lookback"
        )
    if first > target_offset(target) and n_test is None:
        log.info(
            "%s: the first %d rows are warm-up for the features (no value yet); windows "
            "start after them",
            label,
            first,
        )
    n_train, n_validation, _ = split_sizes(
        len(prices), test_fraction, lookback, validation_fraction, offset=first
    )
    if n_test is not None:
        n_train = len(prices) - n_test
        windows = n_train - lookback - first
        n_validation = min(math.ceil(windows * validation_fraction), windows - 1)
    if scaler is None:
        scaler = fit_scaler(values[first:n_train])
    if scaler.n_features_in_ != len(features):
        raise RunError(
            f"{label}: the scaler has {scaler.n_features_in_} features, the config "
            f"lists {len(features)}; the run is inconsistent, train it again"
        )
    scaled = np.full_like(values, np.nan)  # (N, F)
    scaled[first:] = scaler.transform(values[first:])
    column = features.index("close")
    x_fit, y_fit = make_windows(scaled, lookback, lookback + first, n_train, column)
    if horizon > 1:  # targets t .. t+H-1 must all be training rows: the last H-1 windows go
        kept = len(y_fit) - horizon + 1
        if kept - n_validation < 1:
            raise DataError(
                f"{label}: {len(y_fit)} training windows leave none to fit "
                f"with model.horizon {horizon} and {n_validation} validation "
                f"windows; use a longer series or a smaller model.horizon"
            )
        y_fit = np.lib.stride_tricks.sliding_window_view(y_fit, horizon)[:kept].copy()  # (n, H)
        x_fit = x_fit[:kept]
    split = len(y_fit) - n_validation
    x_test, y_test = make_windows(scaled, lookback, n_train, len(values), column)
    return Dataset(
        prices=prices,
        lookback=lookback,
        target=target,
        n_train=n_train,
        scaler=scaler,
        x_train=x_fit[:split],
        y_train=y_fit[:split],
        x_val=x_fit[split:],
        y_val=y_fit[split:],
        x_test=x_test,
        y_test=y_test,
        features=tuple(features),
        first_row=first,
        horizon=horizon,
    )
