"""Prices from the shipped sample, a user's CSV, or Yahoo Finance (cached), at any bar interval.

Every source ends in the same place: ``clean_bars`` turns a frame into a timestamp-indexed
frame whose ``price`` column is the forecast series (sorted, no duplicates, no NaN, no
non-positive prices) beside the source's open/high/low/close/adj_close/volume columns, or
raises a ``DataError`` that names the file, the column and what to do about it.
``load_market`` then resolves the bar interval, calendar and time zone from the data and
runs the data-quality checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.config import SOURCE_FEATURES, DataConfig
from forecast.data.calendar import resolve_calendar
from forecast.data.features import check_features, source_columns
from forecast.data.interval import check_interval, format_timestamps, is_intraday, parse_timestamps
from forecast.errors import DataError

log = logging.getLogger(__name__)

SAMPLE_TICKER = "MSFT"
YAHOO_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")
_MISSING_MARKERS = {"", "null", "nan", "na", "n/a", "none", "-"}


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

    @property
    def prices(self) -> pd.Series:
        return self.bars["price"]


def source_label(data: DataConfig) -> str:
    return {
        "sample": f"sample {SAMPLE_TICKER}",
        "csv": str(data.path),
        "yahoo": f"Yahoo Finance {data.ticker}",
    }[data.source]


def load_market(data: DataConfig, refresh: bool = False) -> MarketData:
    """Load the configured source, resolve interval/calendar/time zone, check the data."""
    from forecast.data.quality import data_warnings

    label = source_label(data)
    if data.source == "sample":
        frame = read_csv(sample_path())
    elif data.source == "csv":
        path = ticker_file(data)
        label = str(path)
        frame = ticker_rows(read_csv(path), data, label)
    else:
        frame = load_yahoo(data, refresh=refresh)
    needed = source_columns(data.features)
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
    return MarketData(bars=bars[["price", *needed]], data=resolved, warnings=tuple(warnings))


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
    column = _find_column(frame, data.ticker_column)
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


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV as text columns, or a DataError naming the file."""
    if not path.exists():
        raise DataError(f"{path}: file not found; set data.path to an existing CSV file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{path}: file is empty; expected a header line such as "
            f"'Date,Close' and one row per day"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(
            f"{path}: not a readable CSV file ({first}); expected comma-separated "
            f"columns such as Date,Close"
        ) from None
    return frame


def column_key(name: object) -> str:
    """Column names compared case- and spacing-insensitively: 'Adj Close' = 'adj_close'."""
    return re.sub(r"[\s_-]+", "_", str(name).strip().lower())


def _find_column(frame: pd.DataFrame, name: str) -> str | None:
    if name in frame.columns:
        return name
    matches = [column for column in frame.columns if column_key(column) == column_key(name)]
    return matches[0] if matches else None


def _numbers(
    raw: pd.Series, column: str, label: str, strict: bool, price: bool = False
) -> pd.Series:
    """A column of text or numbers → float64, missing markers → NaN. ``strict``: any other
    non-number is refused, naming the first and its row (``price``: the forecast column)."""
    if not (raw.dtype == object or pd.api.types.is_string_dtype(raw)):
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    text = raw.astype(str).str.strip()
    missing = text.str.lower().isin(_MISSING_MARKERS)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if strict and bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        fix = (
            "fix them or point data.price_column at a numeric column"
            if price
            else "fix them, or remove the features that read this column"
        )
        raise DataError(
            f"{label}: {int(bad.sum())} value(s) in column {column!r} are not "
            f"numbers, first {raw.iloc[row]!r} (row {row + 2}); {fix}"
        )
    return values.astype("float64")


def clean_bars(
    frame: pd.DataFrame,
    date_column: str,
    price_column: str,
    label: str,
    required: list[str] | tuple[str, ...] = (),
    timezone: str | None = None,
) -> pd.DataFrame:
    """Validate a raw frame into sorted, de-duplicated bars with a positive ``price``.

    ``required``: source columns (open, high, low, close, adj_close, volume) that must be
    present and numeric; the others are kept when present. Timestamps keep their time of
    day; those with a UTC offset are put in ``timezone`` (default: their own).
    """
    shown = [repr(str(c)) for c in frame.columns[:12]]
    columns = shown + (["…"] if len(frame.columns) > 12 else [])
    found = {}
    for role, name, key in (
        ("date", date_column, "data.date_column"),
        ("price", price_column, "data.price_column"),
    ):
        found[role] = _find_column(frame, name)
        if found[role] is None:
            raise DataError(
                f"{label}: no {role} column {name!r} (columns found: "
                f"{', '.join(columns) or 'none'}); set {key} to one of them"
            )
    for name in required:
        if _find_column(frame, name) is None:
            raise DataError(
                f"{label}: data.features needs a {name!r} column, and there is "
                f"none (columns found: {', '.join(columns) or 'none'}); remove the "
                f"feature or use a source with that column"
            )
    if frame.empty:
        raise DataError(f"{label}: has a header but no rows of prices")

    raw_dates = frame[found["date"]]
    if pd.api.types.is_datetime64_any_dtype(raw_dates):
        dates = raw_dates.dt.tz_convert(timezone) if timezone and raw_dates.dt.tz else raw_dates
    else:
        try:
            dates = parse_timestamps(raw_dates, timezone)
        except (ValueError, TypeError):  # e.g. a zone name that the values contradict
            dates = pd.Series(pd.NaT, index=raw_dates.index)
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(
            f"{label}: cannot read {raw_dates.iloc[row]!r} in column "
            f"{found['date']!r} (row {row + 2}) as a date; use YYYY-MM-DD dates "
            f"or YYYY-MM-DD HH:MM[:SS][+HH:MM] timestamps"
        )

    prices = _numbers(frame[found["price"]], found["price"], label, strict=True, price=True)
    bars = pd.DataFrame(
        {"price": prices.to_numpy(dtype="float64")},
        index=pd.DatetimeIndex(dates.array, name="date").as_unit("ns"),
    )
    for name in SOURCE_FEATURES:
        column = _find_column(frame, name)
        if column is not None:
            bars[name] = _numbers(frame[column], column, label, strict=name in required).to_numpy()

    n_missing = int(bars["price"].isna().sum())
    if n_missing == len(bars):
        raise DataError(
            f"{label}: every value in column {price_column!r} is missing; "
            f"choose another data.price_column"
        )
    if n_missing:
        log.warning("%s: dropped %d row(s) with no %s price", label, n_missing, price_column)
        bars = bars[bars["price"].notna()]
    if not np.isfinite(bars["price"].to_numpy()).all():
        raise DataError(
            f"{label}: column {price_column!r} holds infinite values; remove those rows"
        )
    non_positive = bars["price"][bars["price"] <= 0]
    if len(non_positive):
        raise DataError(
            f"{label}: {len(non_positive)} price(s) in column {price_column!r} are "
            f"zero or negative, first {float(non_positive.iloc[0]):g} on "
            f"{format_timestamps(non_positive.index[:1])[0]}; prices must be > 0"
        )
    if not bars.index.is_monotonic_increasing:
        log.warning("%s: rows were not in date order; sorted them", label)
        bars = bars.sort_index(kind="stable")
    duplicated = bars.index.duplicated(keep="first")
    if duplicated.any():
        first = format_timestamps(bars.index[duplicated][:1])[0]
        what = "date" if len(first) == 10 else "timestamp"
        raise DataError(
            f"{label}: {int(duplicated.sum())} duplicate {what}(s), first "
            f"{first}; keep one row per {what}"
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


# --- Yahoo Finance -----------------------------------------------------------------------

# How far back Yahoo Finance serves intraday bars (days before today), and the period
# asked for when no data.start is set. 1m bars also come at most 7 days per request.
YAHOO_INTRADAY_DAYS = {
    "1m": 30,
    "2m": 60,
    "5m": 60,
    "15m": 60,
    "30m": 60,
    "90m": 60,
    "60m": 730,
    "1h": 730,
}
YAHOO_INTRADAY_PERIOD = {"1m": "7d", "60m": "730d", "1h": "730d"}


def yahoo_interval(data: DataConfig) -> str:
    """The interval asked of Yahoo Finance (``auto``: daily bars)."""
    return "1d" if data.interval == "auto" else data.interval


def check_yahoo_range(data: DataConfig, today: dt.date | None = None) -> None:
    """Refuse, before any download, a range Yahoo Finance cannot serve at this interval."""
    interval = yahoo_interval(data)
    if interval not in YAHOO_INTRADAY_DAYS:
        return
    today = today or dt.date.today()
    limit = YAHOO_INTRADAY_DAYS[interval]
    earliest = today - dt.timedelta(days=limit - 1)
    if data.start and dt.date.fromisoformat(data.start) < earliest:
        raise DataError(
            f"data.start {data.start}: Yahoo Finance serves {interval} bars for the "
            f"last {limit} days only; set data.start on or after {earliest} (or "
            f"null), or use a longer data.interval"
        )
    if interval == "1m" and data.start:
        end = dt.date.fromisoformat(data.end) if data.end else today + dt.timedelta(days=1)
        if (end - dt.date.fromisoformat(data.start)).days > 7:
            raise DataError(
                f"data.start {data.start} → data.end {data.end or 'today'}: Yahoo "
                f"Finance serves at most 7 days of 1m bars per download; narrow "
                f"the range to 7 days or use data.interval 2m or longer"
            )


def normalize_yahoo_frame(
    frame: pd.DataFrame | None, ticker: str, interval: str = "1d"
) -> pd.DataFrame:
    """Turn what ``yfinance.download`` returns into one flat OHLCV frame with a Date column.

    yfinance 1.x returns MultiIndex columns ``(Price, Ticker)`` even for one ticker, a
    ``Date`` (or ``Datetime``) index that may be tz-aware, and ``Adj Close`` only when
    ``auto_adjust=False``. Daily and longer bars become dates; intraday bars keep their time
    and zone.
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
            raise DataError(
                f"Yahoo Finance {ticker}: the download holds tickers "
                f"{sorted(set(tickers))}, not {ticker}"
            )
    frame.columns = [str(c) for c in frame.columns]
    index = pd.DatetimeIndex(frame.index)
    if not is_intraday(interval):
        if index.tz is not None:
            index = index.tz_localize(None)  # daily bars: keep the exchange's calendar date
        index = index.normalize()
    frame.index = index
    frame.index.name = "Date"
    keep = [c for c in YAHOO_COLUMNS if c in frame.columns]
    return frame[keep].reset_index()


def cache_file(data: DataConfig, today: dt.date | None = None) -> Path:
    """One readable CSV per ticker, date range, interval and adjustment."""
    safe_ticker = re.sub(r"[^A-Za-z0-9._=^-]", "_", data.ticker).lstrip(".") or "ticker"
    end = data.end or f"{(today or dt.date.today()).isoformat()}"
    adjust = "adj" if data.auto_adjust else "raw"
    interval = yahoo_interval(data)
    bars = "" if interval == "1d" else f"_{interval}"  # daily caches keep their old names
    return Path(data.cache_dir) / f"{safe_ticker}_{data.start or 'max'}_{end}{bars}_{adjust}.csv"


def _download(data: DataConfig) -> pd.DataFrame:
    import yfinance  # imported here: it is slow and only this source needs it

    interval = yahoo_interval(data)
    kwargs = dict(
        start=data.start,
        end=data.end,
        auto_adjust=data.auto_adjust,
        interval=interval,
        progress=False,
        threads=False,
    )
    if data.start is None and data.end is None:
        # yfinance's own default is one month; ask for all it serves at this interval
        kwargs["period"] = YAHOO_INTRADAY_PERIOD.get(
            interval, "60d" if interval in YAHOO_INTRADAY_DAYS else "max"
        )
    try:
        raw = yfinance.download(data.ticker, **kwargs)
    except Exception as error:  # rate limits and network errors escape yfinance
        raise DataError(
            f"Yahoo Finance {data.ticker}: download failed "
            f"({type(error).__name__}: {error}); check the network and ticker, "
            f"or use data.source: sample or csv"
        ) from None
    frame = normalize_yahoo_frame(raw, data.ticker, interval)
    if frame.empty:
        raise DataError(
            f"Yahoo Finance {data.ticker}: no prices returned (offline, rate "
            f"limited, or unknown ticker); check the ticker or use "
            f"data.source: sample or csv"
        )
    return frame


def load_yahoo(data: DataConfig, refresh: bool = False) -> pd.DataFrame:
    """Download (or reuse the cached copy of) one ticker's bars."""
    check_yahoo_range(data)
    path = cache_file(data)
    if path.exists() and not refresh:
        frame = _read_cache(path)
        if frame is not None:
            log.info("Yahoo Finance %s: using cached %s", data.ticker, path)
            return frame
        log.warning(
            "Yahoo Finance %s: cached %s is unreadable; downloading again", data.ticker, path
        )
    frame = _download(data)
    from forecast.base.atomic import write_csv  # only here: writing the download cache

    write_csv(path, _cache_frame(frame))
    log.info("Yahoo Finance %s: cached %d rows in %s", data.ticker, len(frame), path)
    return frame


def _cache_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as cached text: timestamps with their time and UTC offset where they have
    them, and the zone's name in a Timezone column so a reload gets the same zone back."""
    dates = pd.DatetimeIndex(frame["Date"])
    cached = frame.assign(Date=format_timestamps(dates))
    if dates.tz is not None:
        cached["Timezone"] = str(dates.tz)
    return cached


def _read_cache(path: Path) -> pd.DataFrame | None:
    """A cached frame, or None when the file is truncated or corrupt (never used silently)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError):
        return None
    if frame.empty or "Date" not in frame.columns or "Close" not in frame.columns:
        return None
    zone = frame.pop("Timezone").iloc[0] if "Timezone" in frame.columns else None
    try:
        dates = parse_timestamps(frame["Date"], zone or None)
    except (ValueError, TypeError):
        return None
    if dates.isna().any():
        return None
    return frame.assign(Date=dates)
