"""A loopback HTTP server that plays Yahoo Finance for the real yfinance + curl_cffi stack
(forecast sends Yahoo's requests to it with FORECAST_YAHOO_URL): the cookie and crumb
endpoints and the v8 chart endpoint with daily bars; ``NOPE`` is a ticker Yahoo does not
know, ``BROKEN`` one whose chart answers HTTP 500."""

from __future__ import annotations

import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd


def closes(days: pd.DatetimeIndex) -> np.ndarray:
    """The fake market's close on each day: a function of the date alone."""
    ordinal = np.array([day.toordinal() for day in days], dtype="float64")
    return 100.0 + 10.0 * np.sin(ordinal / 17.0) + (ordinal - 738_000) * 0.05


def chart(ticker: str, first: int, last: int, interval: str) -> dict:
    days = pd.bdate_range(pd.Timestamp(first, unit="s").normalize(), pd.Timestamp(last, unit="s"))
    days = days[days < pd.Timestamp(last, unit="s")]
    stamps = [int((day + pd.Timedelta(hours=14, minutes=30)).timestamp()) for day in days]
    close = [float(value) for value in closes(days)]
    quote = {
        "open": close,
        "high": [value * 1.01 for value in close],
        "low": [value * 0.99 for value in close],
        "close": close,
        "volume": [1_000_000] * len(close),
    }
    period = {"timezone": "EST", "start": 0, "end": 0, "gmtoffset": -18000}
    meta = {
        "currency": "USD",
        "symbol": ticker,
        "exchangeName": "NMS",
        "instrumentType": "EQUITY",
        "firstTradeDate": 345479400,
        "regularMarketTime": stamps[-1] if stamps else 0,
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": "America/New_York",
        "regularMarketPrice": close[-1] if close else 0.0,
        "priceHint": 2,
        "dataGranularity": interval,
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
        "currentTradingPeriod": {"pre": period, "regular": period, "post": period},
    }
    result = {
        "meta": meta,
        "timestamp": stamps,
        "indicators": {"quote": [quote], "adjclose": [{"adjclose": close}]},
    }
    return {"chart": {"result": [result], "error": None}}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        status, kind, body = 200, "text/plain", b"ok"
        if url.path.startswith("/v8/finance/chart/"):
            ticker, kind = url.path.rsplit("/", 1)[1], "application/json"
            if ticker == "BROKEN":
                status, body = 500, b'{"error": "internal"}'
            elif ticker == "NOPE":
                error = {
                    "code": "Not Found",
                    "description": "No data found, symbol may be delisted",
                }
                status, body = 404, json.dumps({"chart": {"result": None, "error": error}}).encode()
            else:
                now = int(time.time())
                first, last = (
                    int(query.get("period1", now - 5 * 86400)),
                    int(query.get("period2", now)),
                )
                body = json.dumps(chart(ticker, first, last, query.get("interval", "1d"))).encode()
        elif url.path.startswith("/v10/finance/quoteSummary/"):
            kind = "application/json"
            error = {"code": "Not Found", "description": "Quote not found for symbol"}
            status, body = (
                404,
                json.dumps({"quoteSummary": {"result": None, "error": error}}).encode(),
            )
        elif url.path.endswith("/getcrumb"):
            body = b"fake-crumb"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *arguments: object) -> None:
        pass


def serve() -> http.server.ThreadingHTTPServer:
    """Start the server on a free loopback port, in a daemon thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
