"""Yahoo Finance: one ticker's bars at any interval yfinance serves, downloaded once and
cached as a readable CSV (``data.cache_dir``), the range checked before any download.

yfinance 1.x returns MultiIndex ``(Price, Ticker)`` columns even for one ticker, an empty
frame for a failed ticker, and adjusted closes by default (``auto_adjust``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base import atomic
from forecast.config import DataConfig
from forecast.data.interval import format_timestamps, is_intraday, parse_timestamps
from forecast.errors import DataError

log = logging.getLogger(__name__)
YAHOO_URL = "FORECAST_YAHOO_URL"  # tests: Yahoo's requests go to this base URL instead

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
    """The bars Yahoo serves for ``data``, or one line naming why there are none.

    yfinance downloads through curl_cffi's browser impersonation, which fails once
    TensorFlow was loaded before curl_cffi in the process (a notebook that trained a model, a
    reused batch worker, ``update --refresh``; ranaroussi/yfinance#2528). Such a failure is
    retried in a fresh Python process that loads no TensorFlow."""
    frame, cause = fetch(data)
    if frame.empty and cause and "impersonat" in cause.lower():
        log.info("Yahoo Finance %s: %s; downloading in a separate process", data.ticker, cause)
        frame, cause = fetch_in_child(data)
    if frame.empty:
        reason, fix = describe_failure(cause)
        raise DataError(
            f"Yahoo Finance {data.ticker}: no prices returned: {reason}; {fix}, or use "
            f"data.source: sample or csv"
        )
    return frame


def fetch(data: DataConfig) -> tuple[pd.DataFrame, str | None]:
    """(the bars yfinance returns for ``data``, flattened; the first error it reported or
    raised, as text). yfinance itself logs a failed ticker and returns an empty frame."""
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
    if os.environ.get(YAHOO_URL):
        kwargs["session"] = _session()
    reported = _ErrorLines()
    logger = logging.getLogger("yfinance")
    logger.addHandler(reported)
    try:
        raw = yfinance.download(data.ticker, **kwargs)
    except Exception as error:  # rate limits and network errors escape yfinance
        return pd.DataFrame(), f"{type(error).__name__}: {error}"
    finally:
        logger.removeHandler(reported)
    frame = normalize_yahoo_frame(raw, data.ticker, interval)
    if not frame.empty:
        return frame, None
    return frame, diagnose(data.ticker) or reported.first()


def diagnose(ticker: str) -> str | None:
    """Why Yahoo gave nothing, asked once of its chart endpoint as yfinance asks it (yfinance
    logs a guess, "possibly delisted", whatever happened): the connection's error (DNS,
    impersonation, timeout), or an HTTP status with Yahoo's own description; None when
    Yahoo answered normally (the range holds no bars)."""
    from urllib.parse import quote

    url = f"https://query2.finance.yahoo.com/v8/finance/chart/{quote(ticker)}"
    try:
        response = _session().get(url, params={"range": "5d", "interval": "1d"}, timeout=20)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    if response.status_code < 400:
        return None
    try:
        detail = (response.json().get("chart") or {}).get("error") or {}
        description = detail.get("description") or response.reason
    except (ValueError, AttributeError):
        description = getattr(response, "reason", "") or ""
    return f"HTTP status {response.status_code}: {description}".rstrip(": ")


def fetch_in_child(data: DataConfig) -> tuple[pd.DataFrame, str | None]:
    """``fetch`` in a fresh Python process (no TensorFlow there), its bars read back from a
    temporary CSV with their time zone."""
    import subprocess
    import sys
    import tempfile

    values = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in dataclasses.asdict(data).items()
    }
    with tempfile.TemporaryDirectory(prefix="forecast-yahoo-") as folder:
        path = Path(folder) / "bars.csv"
        done = subprocess.run(
            [sys.executable, "-m", "forecast.data.yahoo", json.dumps(values), str(path)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return pd.DataFrame(), f"the download process failed ({last})"
        cause = json.loads(lines[-1]).get("cause")
        frame = _read_cache(path) if path.exists() else None
    return (frame if frame is not None else pd.DataFrame()), cause


def describe_failure(cause: str | None) -> tuple[str, str]:
    """(what went wrong, what to do) for yfinance's error text, in words."""
    text = (cause or "").strip()
    lower = text.lower()
    if "impersonat" in lower:
        return (
            f"curl_cffi could not impersonate a browser ({text})",
            "upgrade curl_cffi and yfinance (pip install -U curl_cffi yfinance)",
        )
    if any(
        word in lower for word in ("resolve host", "name or service", "dnserror", "getaddrinfo")
    ):
        return (f"the name did not resolve, offline or DNS ({text})", "check the network")
    if "429" in lower or "too many requests" in lower or "ratelimit" in lower:
        return (f"Yahoo rate-limited the download ({text})", "wait a few minutes and try again")
    if any(word in lower for word in ("delisted", "no data found", "not found", "no price data")):
        return (
            f"Yahoo has no data for this ticker in that range: an unknown or delisted ticker "
            f"({text})",
            "check data.ticker, data.start and data.end",
        )
    status = re.search(
        r"\b(?:HTTP(?: Error| status)?|status(?: code)?)[ :]*([45]\d\d)\b", text, re.IGNORECASE
    )
    if status:
        return (f"Yahoo answered HTTP status {status.group(1)} ({text})", "try again later")
    if any(word in lower for word in ("timed out", "timeout", "connection", "ssl", "curl")):
        return (f"the connection failed ({text})", "check the network")
    if text:
        return (text, "check the network and the ticker")
    return (
        "an empty answer, without an error (a ticker Yahoo does not know, or a range with no bars)",
        "check data.ticker and the dates",
    )


class _ErrorLines(logging.Handler):
    """yfinance's error lines during one download (it logs a failed ticker, it does not
    raise)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        for line in record.getMessage().splitlines():
            if line.strip() and "failed download" not in line.lower():
                self.lines.append(line.strip())

    def first(self) -> str | None:
        return self.lines[0].split("]: ", 1)[-1] if self.lines else None


def _session() -> Any:
    """A curl_cffi session impersonating a browser, as yfinance's own; with
    ``FORECAST_YAHOO_URL`` set (tests), one that sends Yahoo's https requests to that base
    URL instead (a loopback server that plays Yahoo)."""
    from urllib.parse import urlsplit

    from curl_cffi import requests as curl_requests

    base = os.environ.get(YAHOO_URL)
    if not base:
        return curl_requests.Session(impersonate="chrome")

    class Redirected(curl_requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            parts = urlsplit(url)
            if parts.scheme == "https" and (parts.hostname or "").endswith("yahoo.com"):
                query = f"?{parts.query}" if parts.query else ""
                url = f"{base.rstrip('/')}{parts.path or '/'}{query}"
            return super().request(method, url, *args, **kwargs)

    return Redirected(impersonate="chrome")


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
    log.info("Yahoo Finance %s: downloading %s bars …", data.ticker, yahoo_interval(data))
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


def _child_main(arguments: list[str]) -> None:
    """``python -m forecast.data.yahoo DATA_JSON OUT.csv``: fetch in this fresh process, the
    bars to OUT.csv (with their zone), the error's text on stdout as JSON."""
    values, out = json.loads(arguments[0]), Path(arguments[1])
    values["features"] = tuple(values["features"])
    frame, cause = fetch(DataConfig(**values))
    if not frame.empty:
        _cache_frame(frame).to_csv(out, index=False)
    print(json.dumps({"cause": cause, "rows": len(frame)}))


if __name__ == "__main__":
    import sys

    _child_main(sys.argv[1:])
