"""Daily close prices from the shipped sample, a user's CSV, or Yahoo Finance (cached).

Every source ends in the same place: ``clean_prices`` turns a frame into a date-indexed
float Series, sorted, with no duplicates, no NaN and no non-positive prices, or raises a
``DataError`` that names the file, the column and what to do about it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.atomic import atomic_path
from forecast.config import DataConfig
from forecast.errors import DataError

log = logging.getLogger(__name__)

SAMPLE_TICKER = "MSFT"
YAHOO_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
_MISSING_MARKERS = {"", "null", "nan", "na", "n/a", "none", "-"}


def sample_path() -> Path:
    """Path of the shipped MSFT sample (daily prices 1986-03-13 to 2017-11-10)."""
    return Path(str(resources.files("forecast.data") / "sample" / "MSFT.csv"))


def load_prices(data: DataConfig, refresh: bool = False) -> pd.Series:
    """Load the configured source as a clean daily price Series (index: date)."""
    if data.source == "sample":
        frame = _read_csv(sample_path())
        label = f"sample {SAMPLE_TICKER}"
    elif data.source == "csv":
        frame = _read_csv(Path(data.path or ""))
        label = str(data.path)
    else:
        frame = load_yahoo(data, refresh=refresh)
        label = f"Yahoo Finance {data.ticker}"
    prices = clean_prices(frame, data.date_column, data.price_column, label)
    return restrict_dates(prices, data.start, data.end, label)


def restrict_dates(prices: pd.Series, start: str | None, end: str | None, label: str
                   ) -> pd.Series:
    """Keep rows with start <= date < end (end exclusive, as yfinance treats it)."""
    if start:
        prices = prices[prices.index >= pd.Timestamp(start)]
    if end:
        prices = prices[prices.index < pd.Timestamp(end)]
    if prices.empty:
        raise DataError(f"{label}: no prices between data.start={start} and data.end={end}; "
                        f"widen the date range")
    return prices


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found; set data.path to an existing CSV file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; set data.path to a CSV file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty; expected a header line such as "
                        f"'Date,Close' and one row per day") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"{path}: not a readable CSV file ({first}); expected comma-separated "
                        f"columns such as Date,Close") from None
    return frame


def clean_prices(frame: pd.DataFrame, date_column: str, price_column: str, label: str
                 ) -> pd.Series:
    """Validate a raw frame into a sorted, de-duplicated, positive float Series."""
    shown = [repr(str(c)) for c in frame.columns[:12]]
    columns = shown + (["…"] if len(frame.columns) > 12 else [])
    for role, name, key in (("date", date_column, "data.date_column"),
                            ("price", price_column, "data.price_column")):
        if name not in frame.columns:
            raise DataError(f"{label}: no {role} column {name!r} (columns found: "
                            f"{', '.join(columns) or 'none'}); set {key} to one of them")
    if frame.empty:
        raise DataError(f"{label}: has a header but no rows of prices")

    raw_dates = frame[date_column]
    dates = pd.to_datetime(raw_dates, errors="coerce", format="mixed")
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(f"{label}: cannot read {raw_dates.iloc[row]!r} in column "
                        f"{date_column!r} (row {row + 2}) as a date; use YYYY-MM-DD dates")
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)  # keep the exchange's calendar date

    raw_prices = frame[price_column]
    if raw_prices.dtype == object or pd.api.types.is_string_dtype(raw_prices):
        text = raw_prices.astype(str).str.strip()
        missing = text.str.lower().isin(_MISSING_MARKERS)
        prices = pd.to_numeric(text.where(~missing), errors="coerce")
        bad = prices.isna() & ~missing
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(f"{label}: {int(bad.sum())} value(s) in column {price_column!r} "
                            f"are not numbers, first {raw_prices.iloc[row]!r} (row {row + 2}); "
                            f"fix them or point data.price_column at a numeric column")
    else:
        prices = pd.to_numeric(raw_prices, errors="coerce")
    series = pd.Series(prices.to_numpy(dtype="float64"), index=pd.DatetimeIndex(dates),
                       name="price")
    series.index.name = "date"

    n_missing = int(series.isna().sum())
    if n_missing == len(series):
        raise DataError(f"{label}: every value in column {price_column!r} is missing; "
                        f"choose another data.price_column")
    if n_missing:
        log.warning("%s: dropped %d row(s) with no %s price", label, n_missing, price_column)
        series = series.dropna()
    if not np.isfinite(series.to_numpy()).all():
        raise DataError(f"{label}: column {price_column!r} holds infinite values; "
                        f"remove those rows")
    non_positive = series[series <= 0]
    if len(non_positive):
        raise DataError(f"{label}: {len(non_positive)} price(s) in column {price_column!r} are "
                        f"zero or negative, first {float(non_positive.iloc[0]):g} on "
                        f"{non_positive.index[0].date()}; prices must be > 0")
    if not series.index.is_monotonic_increasing:
        log.warning("%s: rows were not in date order; sorted them", label)
        series = series.sort_index(kind="stable")
    duplicated = series.index.duplicated(keep="first")
    if duplicated.any():
        first = series.index[duplicated][0].date()
        raise DataError(f"{label}: {int(duplicated.sum())} duplicate date(s), first {first}; "
                        f"keep one row per date")
    return series


def data_fingerprint(prices: pd.Series) -> str:
    """sha256 of the dates and prices actually used, for provenance."""
    digest = hashlib.sha256()
    digest.update(prices.index.to_numpy(dtype="datetime64[ns]").astype("int64").tobytes())
    digest.update(prices.to_numpy(dtype="float64").tobytes())
    return digest.hexdigest()


# --- Yahoo Finance -----------------------------------------------------------------------

def normalize_yahoo_frame(frame: pd.DataFrame | None, ticker: str) -> pd.DataFrame:
    """Turn what ``yfinance.download`` returns into one flat OHLCV frame with a Date column.

    yfinance 1.x returns MultiIndex columns ``(Price, Ticker)`` even for one ticker, a
    ``Date`` index that may be tz-aware, and ``Adj Close`` only when ``auto_adjust=False``.
    """
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["Date", *YAHOO_COLUMNS])
    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        names = list(frame.columns.names)
        ticker_level = names.index("Ticker") if "Ticker" in names else frame.columns.nlevels - 1
        tickers = frame.columns.get_level_values(ticker_level)
        if ticker in set(tickers):
            frame = frame.xs(ticker, axis=1, level=ticker_level)
        elif len(set(tickers)) == 1:
            frame = frame.droplevel(ticker_level, axis=1)
        else:
            raise DataError(f"Yahoo Finance {ticker}: the download holds tickers "
                            f"{sorted(set(tickers))}, not {ticker}")
    frame.columns = [str(c) for c in frame.columns]
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)  # daily bars: keep the exchange's calendar date
    frame.index = index.normalize()
    frame.index.name = "Date"
    keep = [c for c in YAHOO_COLUMNS if c in frame.columns]
    return frame[keep].reset_index()


def cache_file(data: DataConfig, today: dt.date | None = None) -> Path:
    """One readable CSV per ticker, date range and adjustment."""
    safe_ticker = re.sub(r"[^A-Za-z0-9._=^-]", "_", data.ticker).lstrip(".") or "ticker"
    end = data.end or f"{(today or dt.date.today()).isoformat()}"
    adjust = "adj" if data.auto_adjust else "raw"
    return Path(data.cache_dir) / f"{safe_ticker}_{data.start or 'max'}_{end}_{adjust}.csv"


def _download(data: DataConfig) -> pd.DataFrame:
    import yfinance  # imported here: it is slow and only this source needs it

    kwargs = dict(start=data.start, end=data.end, auto_adjust=data.auto_adjust,
                  progress=False, threads=False)
    if data.start is None and data.end is None:
        kwargs["period"] = "max"  # yfinance's own default is one month
    try:
        raw = yfinance.download(data.ticker, **kwargs)
    except Exception as error:  # rate limits and network errors escape yfinance
        raise DataError(f"Yahoo Finance {data.ticker}: download failed "
                        f"({type(error).__name__}: {error}); check the network and ticker, "
                        f"or use data.source: sample or csv") from None
    frame = normalize_yahoo_frame(raw, data.ticker)
    if frame.empty:
        raise DataError(f"Yahoo Finance {data.ticker}: no prices returned (offline, rate "
                        f"limited, or unknown ticker); check the ticker or use "
                        f"data.source: sample or csv")
    return frame


def load_yahoo(data: DataConfig, refresh: bool = False) -> pd.DataFrame:
    """Download (or reuse the cached copy of) one ticker's daily bars."""
    path = cache_file(data)
    if path.exists() and not refresh:
        frame = _read_cache(path)
        if frame is not None:
            log.info("Yahoo Finance %s: using cached %s", data.ticker, path)
            return frame
        log.warning("Yahoo Finance %s: cached %s is unreadable; downloading again",
                    data.ticker, path)
    frame = _download(data)
    write_csv_atomic(frame, path)
    log.info("Yahoo Finance %s: cached %d rows in %s", data.ticker, len(frame), path)
    return frame


def _read_cache(path: Path) -> pd.DataFrame | None:
    """A cached frame, or None when the file is truncated or corrupt (never used silently)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        return None
    if frame.empty or "Date" not in frame.columns or "Close" not in frame.columns:
        return None
    if pd.to_datetime(frame["Date"], errors="coerce").isna().any():
        return None
    return frame


def write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV through a temporary file and a rename, so no half-written file remains."""
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)
