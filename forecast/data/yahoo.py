"""Yahoo Finance: one ticker's bars at any interval yfinance serves, downloaded once and
cached as a readable CSV (``data.cache_dir``), the range checked before any download.

yfinance 1.x returns MultiIndex ``(Price, Ticker)`` columns even for one ticker, an empty
frame for a failed ticker, and adjusted closes by default (``auto_adjust``).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd

from forecast.base import atomic
from forecast.config import DataConfig
from forecast.data.interval import format_timestamps, is_intraday, parse_timestamps
from forecast.errors import DataError

log = logging.getLogger(__name__)

YAHOO_COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume")


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
    atomic.write_csv(path, _cache_frame(frame))
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
