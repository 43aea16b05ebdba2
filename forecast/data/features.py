"""Model inputs beside the target: the source's columns and features derived with pandas.

Every feature is computed by one function over a (rows, paths) frame of the forecast series,
so training (one path) and a recursive forecast (S sample paths, each with its own predicted
closes) use the very same code. Names (validated in forecast.config):

    close              the forecast series (data.price_column), as data.target models it:
                       the price, or its one-bar log return
    open high low adj_close volume   the source's columns, as they are
    log_return         log(p_t / p_{t-1}) of the forecast series
    log_volume         log(1 + volume)
    range              (high − low) / the forecast series: the bar's relative range
    volatility_N       rolling standard deviation of the last N log returns
    rsi_N              Wilder's relative strength index over N bars, 0–100
    macd               EMA(12) − EMA(26) of the forecast series, in price units
    day_of_week hour month   from the bar's own timestamp (known in advance)

Indicators need warm-up rows (macd 25, rsi_N and volatility_N N, log returns 1): those rows
have no value and are not used as model inputs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.config import WINDOWED_FEATURE
from forecast.data.interval import is_intraday
from forecast.errors import DataError

CALENDAR_FEATURES = ("day_of_week", "hour", "month")
# Features that are functions of the forecast series alone: a forecast can recompute them
# from its own predicted closes, so it can recurse on them.
SERIES_FEATURES = ("close", "log_return", "macd")
_COLUMNS_USED = {
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": (),
    "adj_close": ("adj_close",),
    "volume": ("volume",),
    "log_volume": ("volume",),
    "range": ("high", "low"),
}


def source_columns(features: tuple[str, ...]) -> list[str]:
    """The source columns (besides the forecast series) that the features read."""
    needed: list[str] = []
    for name in features:
        for column in _COLUMNS_USED.get(name, ()):
            if column not in needed:
                needed.append(column)
    return needed


def close_column(features: tuple[str, ...]) -> int:
    """The forecast series' column among the inputs (and in the scaler): ``close``, which
    every feature list includes (data.features is checked for it)."""
    return tuple(features).index("close")


def recursable(name: str) -> bool:
    """Whether a forecast can supply this input for a future bar it has not seen."""
    return (
        name in SERIES_FEATURES
        or name in CALENDAR_FEATURES
        or bool(WINDOWED_FEATURE.fullmatch(name))
    )


def series_values(prices: np.ndarray, target: str) -> np.ndarray:
    """The modelled series, aligned with the price rows.  # (N,) or (N, S) -> same shape

    price: the closes; log_return: row t = log(p_t / p_{t-1}), row 0 = NaN (never used).
    """
    prices = np.asarray(prices, dtype="float64")
    if target == "price":
        return prices.copy()
    values = np.empty_like(prices)
    values[0] = np.nan
    values[1:] = np.log(prices[1:] / prices[:-1])
    return values


def _series_feature(name: str, prices: pd.DataFrame, target: str) -> pd.DataFrame:
    """One feature of the forecast series for each path.  prices: (N, S) -> (N, S)"""
    if name == "close":
        return pd.DataFrame(series_values(prices.to_numpy(), target), index=prices.index)
    if name == "log_return":
        return pd.DataFrame(series_values(prices.to_numpy(), "log_return"), index=prices.index)
    if name == "macd":
        fast = prices.ewm(span=12, adjust=False, min_periods=12).mean()
        slow = prices.ewm(span=26, adjust=False, min_periods=26).mean()
        return fast - slow
    kind, window = WINDOWED_FEATURE.fullmatch(name).groups()
    window = int(window)
    if kind == "volatility":
        returns = pd.DataFrame(series_values(prices.to_numpy(), "log_return"), index=prices.index)
        return returns.rolling(window, min_periods=window).std()
    change = prices.diff()  # rsi: Wilder's smoothing is an EMA with alpha 1/N
    gain = change.clip(lower=0).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / window, adjust=False, min_periods=window).mean()
    total = gain + loss
    return (100 * gain / total).mask(total.eq(0), 50.0)  # no move at all: neutral 50


def calendar_feature(name: str, timestamps: pd.DatetimeIndex) -> np.ndarray:
    """day_of_week (0 = Monday), hour (0–23) or month (1–12) of each bar.  # (N,)"""
    values = {
        "day_of_week": timestamps.day_of_week,
        "hour": timestamps.hour,
        "month": timestamps.month,
    }[name]
    return np.asarray(values, dtype="float64")


def feature_matrix(
    features: tuple[str, ...], bars: pd.DataFrame, target: str, paths: np.ndarray | None = None
) -> np.ndarray:
    """The inputs for every row (NaN in warm-up rows).

    bars: the source rows (index: timestamps; ``price`` and the columns features read).
    paths: (N, S) forecast-series paths replacing ``bars['price']`` (a recursive forecast);
    returns (N, n_features) without paths, (N, S, n_features) with them.
    """
    prices = pd.DataFrame(
        bars["price"].to_numpy()[:, np.newaxis] if paths is None else paths, index=bars.index
    )  # (N, S)
    columns = []
    for name in features:
        if name in CALENDAR_FEATURES:
            value = np.repeat(
                calendar_feature(name, pd.DatetimeIndex(bars.index))[:, None],
                prices.shape[1],
                axis=1,
            )
        elif recursable(name):
            value = _series_feature(name, prices, target).to_numpy()
        else:
            if paths is not None:  # a bug guard: forecast refuses these before recursing
                raise ValueError(f"{name} cannot be recomputed along a forecast path")
            value = _source_feature(name, bars)[:, np.newaxis]
        columns.append(np.asarray(value, dtype="float64"))  # (N, S)
    stacked = np.stack(columns, axis=-1)  # (N, S, n_features)
    return stacked[:, 0, :] if paths is None else stacked


def _source_feature(name: str, bars: pd.DataFrame) -> np.ndarray:
    """A feature read from the source's columns.  # (N,)"""
    if name == "log_volume":
        return np.log1p(bars["volume"].to_numpy(dtype="float64"))
    if name == "range":
        return ((bars["high"] - bars["low"]) / bars["price"]).to_numpy(dtype="float64")
    return bars[name].to_numpy(dtype="float64")


def first_complete_row(
    values: np.ndarray, features: tuple[str, ...], timestamps: pd.DatetimeIndex, label: str
) -> int:
    """The first row where every input has a value; a gap after it is refused, naming the
    feature and the first row without a value.  values: (N, n_features)"""
    finite = np.isfinite(values)  # (N, F)
    complete = finite.all(axis=1)
    if not complete.any():
        raise DataError(
            f"{label}: no row has every feature of {', '.join(features)}; "
            f"use a longer series or shorter indicator windows"
        )
    first = int(np.argmax(complete))
    gaps = ~finite[first:]
    if gaps.any():
        row, column = np.argwhere(gaps)[0]
        raise DataError(
            f"{label}: feature {features[column]} has no value at "
            f"{timestamps[first + row]} (a missing or invalid source value); fill "
            f"or drop that row, or remove the feature from data.features"
        )
    return first


def check_features(features: tuple[str, ...], interval: str, label: str) -> None:
    """Refuse inputs that cannot vary at this interval (an hour of a daily bar)."""
    if "hour" in features and not is_intraday(interval):
        raise DataError(
            f"{label}: feature hour is always 0 for {interval} bars; remove it "
            f"from data.features (it needs intraday bars)"
        )
