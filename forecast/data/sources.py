"""Prices from the shipped sample, a user's CSV, Yahoo Finance (``data.yahoo``) or a frame in
memory, at any bar interval.

Every source ends in the same place, ``market_from_frame``: ``bars.clean_bars`` turns a
frame into a timestamp-indexed frame whose ``price`` column is the forecast series (sorted,
no duplicates, no NaN, no non-positive prices) beside the source's open/high/low/close/
adj_close/volume columns, or raises a ``DataError`` that names the file, the column and what
to do about it; then the bar interval, calendar and time zone are resolved from the data
and the data-quality checks run.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import pandas as pd

from forecast.config import DataConfig
from forecast.data.bars import clean_bars, find_column
from forecast.data.calendar import resolve_calendar
from forecast.data.csv_files import read_csv
from forecast.data.features import check_features, source_columns
from forecast.data.interval import check_interval, is_intraday
from forecast.errors import DataError, named

log = logging.getLogger(__name__)

SAMPLE_TICKER = "MSFT"


def sample_path() -> Path:
    """Path of the shipped MSFT sample (daily prices 1986-03-13 to 2017-11-10)."""
    return Path(str(resources.files("forecast.data") / "sample" / "MSFT.csv"))


@dataclass(frozen=True)
class MarketData:
    """A loaded series: its bars, the data config resolved from them, and the data-quality
    warnings found on the way."""

    bars: pd.DataFrame  # index: timestamps; "price" (the forecast series), then the
    #                     source columns the features read
    data: DataConfig  # interval, calendar and time zone resolved from the data
    warnings: tuple[str, ...] = ()
    label: str = "bars"  # where they came from, as messages name it

    @property
    def prices(self) -> pd.Series:
        return self.bars["price"]


def source_label(data: DataConfig) -> str:
    """What the configured source is called in messages: the sample, the CSV, Yahoo."""
    return {
        "sample": f"sample {SAMPLE_TICKER}",
        "csv": str(data.path),
        "yahoo": f"Yahoo Finance {data.ticker}",
        "frame": f"the bars of {data.ticker} given in Python",
    }[data.source]


def load_market(data: DataConfig, refresh: bool = False) -> MarketData:
    """Load the configured source, resolve interval/calendar/time zone, check the data."""
    label = source_label(data)
    if data.source == "frame":
        raise DataError(
            f"data.source frame: {label} (Forecaster.fit) cannot be read again; give newer "
            f"bars from a file ({named('data_path', 'NEWER.csv')}) or to Forecaster.predict"
        )
    if data.source == "sample":
        frame = read_csv(sample_path())
    elif data.source == "csv":
        path = ticker_file(data)
        label = str(path)
        frame = ticker_rows(read_csv(path, data.decimal), data, label)
    else:
        from forecast.data.yahoo import load_yahoo

        frame = load_yahoo(data, refresh=refresh)
    return market_from_frame(frame, data, label)


def market_from_frame(
    frame: pd.DataFrame | pd.Series, data: DataConfig, label: str = "bars"
) -> MarketData:
    """Any frame of bars as the configured data: a price Series, a bars frame (a ``price``
    column, timestamps as the index), or a raw frame with ``data.date_column`` (or a
    timestamp index) and ``data.price_column``. Cleaned, cut to data.start/end, interval,
    calendar and time zone resolved, checked."""
    from forecast.data.quality import data_warnings

    needed = source_columns(data.features)
    if isinstance(frame, pd.Series):
        frame = frame.rename("price").to_frame()
    if "price" in frame.columns:  # already bars (load_market's or a run's prices.csv)
        dated = frame.rename_axis("date").reset_index()
        bars = clean_bars(dated, "date", "price", label, needed, timezone=data.timezone)
    else:
        if isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.rename_axis(data.date_column).reset_index()
        bars = clean_bars(
            frame, data.date_column, data.price_column, label, needed, timezone=data.timezone
        )
    bars = restrict_dates(bars, data.start, data.end, label)
    interval = check_interval(pd.DatetimeIndex(bars.index), data.interval, label)
    if not is_intraday(interval):  # daily and longer bars are dates, in the exchange's calendar
        index = pd.DatetimeIndex(bars.index)
        bars.index = (index.tz_localize(None) if index.tz is not None else index).normalize()
        bars.index.name = "date"
    index = pd.DatetimeIndex(bars.index)
    resolved = replace(
        data,
        interval=interval,
        calendar=resolve_calendar(data.calendar, index, interval),
        timezone=str(index.tz) if index.tz is not None else None,
    )
    check_features(data.features, interval, label)
    warnings = data_warnings(bars, resolved, label, explicit_interval=data.interval != "auto")
    for warning in warnings:
        log.warning("%s", warning)
    return MarketData(
        bars=bars[["price", *needed]], data=resolved, warnings=tuple(warnings), label=label
    )


def load_prices(data: DataConfig, refresh: bool = False) -> pd.Series:
    """The configured source's forecast series alone (index: timestamps)."""
    return load_market(data, refresh=refresh).prices


def ticker_file(data: DataConfig) -> Path:
    """The CSV to read: ``data.path``, or ``TICKER.csv`` when it is a folder of such files."""
    path = Path(data.path or "")
    if not path.is_dir():
        return path
    wanted = f"{data.ticker}.csv".lower()
    matches = sorted(item for item in path.iterdir() if item.name.lower() == wanted)
    if not matches:
        found = sorted(item.stem for item in path.glob("*.csv"))[:12]
        raise DataError(
            f"{path}: no file {data.ticker}.csv for ticker {data.ticker} (files "
            f"found: {', '.join(found) or 'none'}); add it or check the ticker"
        )
    return matches[0]


def ticker_rows(frame: pd.DataFrame, data: DataConfig, label: str) -> pd.DataFrame:
    """A long-format frame (a ticker column beside the dates and prices) → data.ticker's rows;
    a frame without that column as it is."""
    column = find_column(frame, data.ticker_column)
    if column is None:
        return frame
    names = frame[column].astype(str).str.strip()
    rows = frame[names.str.upper() == data.ticker.strip().upper()]
    if rows.empty:
        found = sorted(set(names))[:12]
        raise DataError(
            f"{label}: no rows for ticker {data.ticker} in column {column!r} "
            f"(tickers found: {', '.join(found) or 'none'}); check data.ticker"
        )
    return rows.reset_index(drop=True)


def restrict_dates(
    bars: pd.DataFrame | pd.Series, start: str | None, end: str | None, label: str
) -> pd.DataFrame | pd.Series:
    """Keep rows with start <= timestamp < end (end exclusive, as yfinance treats it)."""
    zone = pd.DatetimeIndex(bars.index).tz
    if start:
        bars = bars[bars.index >= pd.Timestamp(start, tz=zone)]
    if end:
        bars = bars[bars.index < pd.Timestamp(end, tz=zone)]
    if bars.empty:
        raise DataError(
            f"{label}: no prices between data.start={start} and data.end={end}; "
            f"widen the date range"
        )
    return bars


def data_fingerprint(bars: pd.Series | pd.DataFrame) -> str:
    """sha256 of the timestamps (as instants) and every value actually used, for provenance.
    A price Series and a bars frame holding only ``price`` give the same digest."""
    frame = bars.to_frame() if isinstance(bars, pd.Series) else bars
    index = pd.DatetimeIndex(frame.index)
    index = index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    digest = hashlib.sha256()
    digest.update(index.to_numpy(dtype="datetime64[ns]").astype("int64").tobytes())
    for column in frame.columns:
        digest.update(frame[column].to_numpy(dtype="float64").tobytes())
    return digest.hexdigest()
