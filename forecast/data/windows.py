"""Time-ordered split, a scaler fitted on training rows only, and lookback windows.

Row layout for a series of N closes, lookback L, n_train training rows:

    rows  0 .. n_train-1   training rows (the scaler sees only these)
    rows  n_train .. N-1   test rows (the model never trains on them)

Each row holds the input features (data.features; by default the close alone), each scaled
on its own (min-max to [0, 1], or standardized: ``data.scaling``). A window predicts row t
from rows t-L .. t-1. Training/validation windows predict rows L .. n_train-1 (validation =
the last of them, in time order); test windows predict every test row, their first inputs
reaching back into the end of the training rows.

What the network models is ``target``: ``price`` (scaled closes in, next close out) or
``log_return`` (scaled daily log returns in, next log return out; row t holds
log(p_t / p_{t-1}), so row 0 has none and windows start one row later). Either way
``Dataset.to_prices`` turns predictions back into prices, so metrics stay in price units.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.features import (
    close_column,
    feature_matrix,
    first_complete_row,
    source_columns,
)
from forecast.data.scaling import Scaling, new_scaler
from forecast.errors import DataError, RunError

log = logging.getLogger(__name__)


def target_offset(target: str) -> int:
    """Rows at the start with no modelled value (a log return needs a previous close)."""
    return 1 if target == "log_return" else 0


@dataclass(frozen=True)
class WindowSpec:
    """How a series is cut into windows and scaled: the settings that travel together from the
    config (data.lookback, test_fraction, target, features, scaling; train.validation_fraction;
    model.horizon) to every split, window and forecast."""

    lookback: int = 60  # bars in one input window
    test_fraction: float = 0.2  # the last share of rows held out (0: a production fit)
    validation_fraction: float = 0.1  # the last share of training windows, for validation
    target: str = "price"  # what the network models: "price" or "log_return"
    features: tuple[str, ...] = ("close",)  # the inputs, each scaled on its own
    horizon: int = 1  # outputs per window: the next H modelled values
    test_start: str | None = None  # a date cut instead of test_fraction (a panel's)
    validation_start: str | None = None  # a date cut instead of validation_fraction
    scaling: str = "minmax"  # how each feature is scaled: minmax | standard (resolved)

    @classmethod
    def from_config(cls, config: Any) -> WindowSpec:
        return cls(
            lookback=config.data.lookback,
            test_fraction=config.data.test_fraction,
            validation_fraction=config.train.validation_fraction,
            target=config.data.target,
            features=tuple(config.data.features),
            horizon=config.model.horizon,
            test_start=config.data.test_start,
            validation_start=config.train.validation_start,
            scaling=resolved_scaling(config),
        )

    @property
    def close_column(self) -> int:
        """The forecast series' column among the inputs (and in the scaler)."""
        return close_column(self.features)


def resolved_scaling(config: Any) -> str:
    """``data.scaling``, with ``auto`` resolved: a global model's log returns are
    standardized by each ticker's training volatility (inputs comparable across tickers);
    everything else is min-max scaled, as every run before the key was."""
    if config.data.scaling != "auto":
        return config.data.scaling
    pooled = config.model.scope == "global" and config.data.target == "log_return"
    return "standard" if pooled else "minmax"


def dated_split(
    index: pd.DatetimeIndex,
    spec: WindowSpec,
    n_test: int | None = None,
    n_validation: int | None = None,
) -> tuple[int | None, int | None]:
    """(n_test, n_validation) from the spec's date cuts where it has them and the counts
    are not given: the bars from ``test_start`` on are the test rows; the training rows from
    ``validation_start`` on are the validation windows' targets. A given ``n_test`` (a
    backtest fold's own cut) leaves both dates aside."""
    from forecast.data.interval import parse_timestamps

    if n_test is not None:
        return n_test, n_validation
    index = pd.DatetimeIndex(index)

    def cut(text: str) -> pd.Timestamp:
        return parse_timestamps(pd.Series([text]), str(index.tz) if index.tz else None)[0]

    if spec.test_start is not None:
        n_test = int((index >= cut(spec.test_start)).sum())
    if n_validation is None and spec.validation_start is not None:
        end = len(index) - (n_test or 0)
        n_validation = int((index[:end] >= cut(spec.validation_start)).sum())
    return n_test, n_validation


def split_sizes(n_rows: int, spec: WindowSpec, offset: int | None = None) -> tuple[int, int, int]:
    """(n_train_rows, n_validation_windows, n_test_rows) for a series of ``n_rows``.

    ``offset``: leading rows with no model input (default: the target's own, 0 or 1; more
    with indicator features).
    """
    offset = target_offset(spec.target) if offset is None else offset
    n_test = max(1, int(n_rows * spec.test_fraction)) if spec.test_fraction > 0 else 0
    n_train = n_rows - n_test
    n_windows = max(0, n_train - spec.lookback - offset)
    fraction = spec.validation_fraction
    n_validation = math.ceil(n_windows * fraction) if fraction > 0 else 0
    return n_train, n_validation, n_test


def required_rows(spec: WindowSpec, offset: int | None = None) -> int:
    """The fewest rows that give one training window, one validation window (when asked
    for) and one test bar (when asked for)."""
    offset = target_offset(spec.target) if offset is None else offset
    n_rows = spec.lookback + 2
    while True:
        n_train, n_validation, _ = split_sizes(n_rows, spec, offset=offset)
        n_fit = n_train - spec.lookback - offset - n_validation
        if n_fit >= 1 and (spec.validation_fraction == 0 or n_validation >= 1):
            return n_rows
        n_rows += 1


def fit_scaler(train_values: np.ndarray, scaling: str = "minmax") -> Scaling:
    """Fit the scaler to training rows only, one per feature (``scaling``: minmax |
    standard).

    train_values: (n_train,) for one feature or (n_train, n_features).
    """
    return new_scaler(scaling).fit(train_values)


def make_windows(
    series: np.ndarray, lookback: int, first_target: int, stop: int, target_column: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Windows predicting rows first_target .. stop-1, without a Python loop.

    series: (N,) or (N, n_features). Returns X (n, lookback, n_features) where
    X[k] = series[t-lookback : t] and y (n,) = series[t, target_column], for
    t = first_target + k. X is a read-only view of one float32 copy of the series: the
    windows overlap, so they cost the memory of the series, not lookback times it.
    """
    if first_target < lookback:
        raise ValueError(f"first_target {first_target} < lookback {lookback}")
    series = np.asarray(series, dtype="float64")
    series = series.reshape(len(series), -1)  # (N, F)
    inputs = np.lib.stride_tricks.sliding_window_view(series.astype("float32"), lookback, axis=0)
    inputs = inputs[first_target - lookback : stop - lookback]  # (n, F, L), a view
    targets = series[first_target:stop, target_column]  # (n,) float64 so inverses are exact
    return inputs.transpose(0, 2, 1), targets.copy()  # (n, L, F) read-only view, (n,)


def values_to_prices(values: np.ndarray, previous_prices: np.ndarray, target: str) -> np.ndarray:
    """Modelled values for some days back to those days' prices, given each previous close."""
    values = np.asarray(values, dtype="float64")
    if target == "price":
        return values
    return np.asarray(previous_prices, dtype="float64") * np.exp(values)


def scaled_to_prices(
    scaler: Scaling,
    scaled: np.ndarray,
    previous_prices: np.ndarray,
    target: str,
    column: int = 0,
) -> np.ndarray:
    """Network outputs (scaled) → prices, each rebuilt from its day's previous close.

    scaled, previous_prices: (n,) -> (n,); ``column``: the target's column in the scaler.
    """
    return values_to_prices(scaler.inverse_column(scaled, column), previous_prices, target)


class SpecFields:
    """The window settings a class carries in ``spec``, read by name."""

    spec: WindowSpec

    @property
    def lookback(self) -> int:
        return self.spec.lookback

    @property
    def target(self) -> str:
        return self.spec.target

    @property
    def features(self) -> tuple[str, ...]:
        return self.spec.features

    @property
    def horizon(self) -> int:
        return self.spec.horizon


@dataclass(frozen=True)
class Dataset(SpecFields):
    """Everything the model and the report need, derived from one price series."""

    prices: pd.Series  # (N,) the clean closes, timestamp index
    spec: WindowSpec
    n_train: int  # rows 0..n_train-1 are training rows
    scaler: Scaling  # fitted on training rows only, one range per feature
    x_train: np.ndarray  # (n_fit, L, F): a read-only view (or a panel's PooledWindows)
    y_train: np.ndarray  # (n_fit,)
    x_val: np.ndarray  # (n_val, L, F)
    y_val: np.ndarray  # (n_val,)
    x_test: np.ndarray  # (n_test, L, F)
    y_test: np.ndarray  # (n_test,) scaled modelled values
    first_row: int = 0  # rows before it have no complete input (warm-up)
    rows: np.ndarray | None = None  # (N, F) float32: the scaled rows the windows read

    # y_train/y_val hold the next H modelled values per window when spec.horizon H > 1

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
            self.scaler, scaled, self.previous_prices, self.target, self.spec.close_column
        )  # (n_test,)


def as_bars(data: pd.Series | pd.DataFrame) -> pd.DataFrame:
    """A price Series as a one-column bars frame; a bars frame as it is."""
    if isinstance(data, pd.Series):
        return data.rename("price").to_frame()
    return data


def prepare_dataset(
    bars: pd.Series | pd.DataFrame,
    spec: WindowSpec,
    scaler: Scaling | None = None,
    label: str = "data",
    n_test: int | None = None,
    n_validation: int | None = None,
) -> Dataset:
    """Compute the features, split, scale (fitting on training rows unless a fitted scaler
    is given) and window, as ``spec`` says.

    ``bars``: the clean series (a price Series, or a frame with ``price`` and the source
    columns the features read). ``n_test`` fixes the number of test rows (a backtest fold, a
    ticker of a panel cut at a date); otherwise it is ``spec.test_fraction`` of the rows.
    ``n_validation`` fixes the number of validation windows (a panel's, cut at a date).
    """
    bars = as_bars(bars)
    n_test, n_validation = dated_split(bars.index, spec, n_test, n_validation)
    given_validation = n_validation
    values, first = _checked_features(bars, spec, label, n_test)  # (N, F), warm-up rows
    n_train, n_validation, _ = split_sizes(len(bars), spec, offset=first)
    if n_test is not None:
        n_train = len(bars) - n_test
        windows = n_train - spec.lookback - first
        n_validation = min(math.ceil(windows * spec.validation_fraction), windows - 1)
    if given_validation is not None:  # at least one window left to fit
        n_validation = max(0, min(given_validation, n_train - spec.lookback - first - 1))
    if scaler is None:
        scaler = fit_scaler(values[first:n_train], spec.scaling)
    if scaler.n_features_in_ != len(spec.features):
        raise RunError(
            f"{label}: the scaler has {scaler.n_features_in_} features, the config "
            f"lists {len(spec.features)}; the run is inconsistent, train it again"
        )
    scaled = np.full_like(values, np.nan)  # (N, F)
    scaled[first:] = scaler.transform(values[first:])
    column = spec.close_column
    x_fit, y_fit = make_windows(scaled, spec.lookback, spec.lookback + first, n_train, column)
    if spec.horizon > 1:  # targets t .. t+H-1 must all be training rows: the last H-1 go
        kept = len(y_fit) - spec.horizon + 1
        if kept - n_validation < 1:
            raise DataError(
                f"{label}: {len(y_fit)} training windows leave none to fit "
                f"with model.horizon {spec.horizon} and {n_validation} validation "
                f"windows; use a longer series or a smaller model.horizon"
            )
        y_fit = np.lib.stride_tricks.sliding_window_view(y_fit, spec.horizon)[:kept].copy()
        x_fit = x_fit[:kept]  # y_fit: (n, H)
    split = len(y_fit) - n_validation
    x_test, y_test = make_windows(scaled, spec.lookback, n_train, len(values), column)
    return Dataset(
        prices=bars["price"],
        spec=spec,
        n_train=n_train,
        scaler=scaler,
        x_train=x_fit[:split],
        y_train=y_fit[:split],
        x_val=x_fit[split:],
        y_val=y_fit[split:],
        x_test=x_test,
        y_test=y_test,
        first_row=first,
        rows=scaled.astype("float32"),
    )


def _checked_features(
    bars: pd.DataFrame, spec: WindowSpec, label: str, n_test: int | None
) -> tuple[np.ndarray, int]:
    """(the feature matrix (N, F), its first complete row), or a DataError naming a missing
    column or too few rows for the spec."""
    missing = [column for column in source_columns(spec.features) if column not in bars]
    if missing:
        raise DataError(
            f"{label}: the bars have no {', '.join(missing)} column, which "
            f"data.features {', '.join(spec.features)} read; load them with "
            f"forecast.load_data(config) (load_prices keeps the close alone)"
        )
    values = feature_matrix(spec.features, bars, spec.target)  # (N, F)
    first = first_complete_row(values, spec.features, pd.DatetimeIndex(bars.index), label)
    needed = required_rows(spec, offset=first)
    if n_test is not None:
        needed = max(needed, n_test + spec.lookback + first + 2)
    warming = first > target_offset(spec.target)
    if len(bars) < needed:
        warmup = (
            f" (the first {first} rows are warm-up for the features, without a value)"
            if warming
            else ""
        )
        raise DataError(
            f"{label}: found {len(bars)} rows of prices, need at least {needed} for "
            f"lookback {spec.lookback} with test_fraction {spec.test_fraction} and "
            f"validation_fraction {spec.validation_fraction}{warmup}; use a longer date range "
            f"or a smaller data.lookback"
        )
    if warming and n_test is None:
        log.info(
            "%s: the first %d rows are warm-up for the features (no value yet); windows "
            "start after them",
            label,
            first,
        )
    return values, first
