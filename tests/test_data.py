"""Data sources: the shipped sample, user CSVs (Yahoo exports), and yfinance 1.x frames."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.config import DataConfig
from forecast.data.bars import clean_bars
from forecast.data.sources import load_prices, sample_path
from forecast.data.yahoo import cache_file, normalize_yahoo_frame
from forecast.errors import DataError
from tests.conftest import empty_yfinance_frame, yfinance_frame


def test_sample_is_the_real_msft_history():
    prices = load_prices(DataConfig())
    assert len(prices) == 7983
    assert prices.index[0] == pd.Timestamp("1986-03-13")
    assert prices.index[-1] == pd.Timestamp("2017-11-10")
    assert prices.index.is_monotonic_increasing and prices.index.is_unique
    assert prices.iloc[-1] == pytest.approx(83.87)
    assert sample_path().name == "MSFT.csv"


def test_start_and_end_restrict_the_range():
    prices = load_prices(DataConfig(start="2015-01-01", end="2016-01-01"))
    assert prices.index[0] >= pd.Timestamp("2015-01-01")
    assert prices.index[-1] < pd.Timestamp("2016-01-01")
    assert 240 < len(prices) < 260


YAHOO_EXPORT = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-05,181.99,182.76,180.17,181.18,180.42,62303300
2024-01-02,187.15,188.44,183.89,185.64,184.86,82488700
2024-01-03,184.22,185.88,183.43,184.25,183.48,58414500
2024-01-04,182.15,183.09,180.88,181.91,181.15,71983600
2024-01-08,182.09,185.60,181.50,null,null,59144500
"""


def test_csv_yahoo_export_is_read_sorted_and_cleaned(tmp_path, caplog):
    path = tmp_path / "AAPL.csv"
    path.write_text(YAHOO_EXPORT)
    with caplog.at_level(logging.WARNING):
        prices = load_prices(DataConfig(source="csv", path=str(path), ticker="AAPL"))
    assert list(prices.index.strftime("%Y-%m-%d")) == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
    ]
    assert prices.tolist() == [185.64, 184.25, 181.91, 181.18]
    assert "dropped 1 row(s)" in caplog.text and "sorted" in caplog.text
    adjusted = load_prices(DataConfig(source="csv", path=str(path), price_column="Adj Close"))
    assert adjusted.iloc[0] == 184.86


def test_csv_with_other_column_names(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("day,value\n2024-01-02,10\n2024-01-03,11\n")
    prices = load_prices(
        DataConfig(source="csv", path=str(path), date_column="day", price_column="value")
    )
    assert prices.tolist() == [10.0, 11.0]


@pytest.mark.parametrize(
    "text, pattern",
    [
        (
            "Date,Open\n2024-01-02,1\n",
            r"no price column 'Close' \(columns found: 'Date', 'Open'\); "
            r"set data\.price_column",
        ),
        ("Day,Close\n2024-01-02,1\n", r"no date column 'Date' \(columns found: 'Day', 'Close'\)"),
        (
            "Date,Close\n2024-01-02,1\nyesterday,2\n",
            r"cannot read 'yesterday' in column 'Date' "
            r"\(row 3\) as a date",
        ),
        (
            "Date,Close\n2024-01-02,1\n2024-01-03,abc\n",
            r"1 value\(s\) in column 'Close' are not "
            r"numbers, first 'abc' \(row 3\)",
        ),
        ("Date,Close\n2024-01-02,\n2024-01-03,null\n", r"every value in column 'Close' is missing"),
        (
            "Date,Close\n2024-01-02,1\n2024-01-03,-2\n",
            r"1 price\(s\) in column 'Close' are zero "
            r"or negative, first -2 on 2024-01-03",
        ),
        ("Date,Close\n2024-01-02,1\n2024-01-02,2\n", r"1 duplicate date\(s\), first 2024-01-02"),
        ("Date,Close\n", r"has a header but no rows"),
        ("", r"file is empty"),
    ],
)
def test_bad_csv_gives_one_clear_line(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=pattern) as caught:
        load_prices(DataConfig(source="csv", path=str(path)))
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


def test_missing_csv(tmp_path):
    with pytest.raises(DataError, match=r"absent\.csv: file not found; set data\.path"):
        load_prices(DataConfig(source="csv", path=str(tmp_path / "absent.csv")))


# --- yfinance 1.x ---------------------------------------------------------------------------


@pytest.mark.parametrize("auto_adjust", [True, False])
@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_normalize_yfinance_frames(auto_adjust, tz):
    raw = yfinance_frame("AAPL", auto_adjust=auto_adjust, tz=tz)
    frame = normalize_yahoo_frame(raw, "AAPL")
    assert list(frame.columns[:1]) == ["Date"]
    assert ("Adj Close" in frame.columns) == (not auto_adjust)
    prices = clean_bars(frame, "Date", "Close", "AAPL")["price"]
    assert prices.index.tz is None
    assert prices.index[0] == pd.Timestamp("2023-01-02")
    np.testing.assert_allclose(prices.to_numpy(), raw[("Close", "AAPL")].to_numpy())


def test_normalize_flat_columns_too():
    raw = yfinance_frame("AAPL").droplevel("Ticker", axis=1)
    assert normalize_yahoo_frame(raw, "AAPL")["Close"].notna().all()


def fake_download(frames: list, calls: list):
    def download(ticker, **kwargs):
        calls.append((ticker, kwargs))
        result = frames.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    return download


def yahoo_config(tmp_path: Path, **changes) -> DataConfig:
    return replace(
        DataConfig(
            source="yahoo",
            ticker="AAPL",
            start="2023-01-01",
            end="2023-07-01",
            cache_dir=str(tmp_path / "cache"),
        ),
        **changes,
    )


def test_yahoo_download_is_cached_and_reused(tmp_path, monkeypatch):
    import yfinance

    calls: list = []
    monkeypatch.setattr(
        yfinance, "download", fake_download([yfinance_frame("AAPL"), yfinance_frame("AAPL")], calls)
    )
    config = yahoo_config(tmp_path)
    first = load_prices(config)
    assert calls[0][0] == "AAPL" and calls[0][1]["auto_adjust"] is True
    assert calls[0][1]["start"] == "2023-01-01" and calls[0][1]["end"] == "2023-07-01"
    path = cache_file(config)
    assert path.exists() and path.read_text().startswith("Date,")
    second = load_prices(config)
    assert len(calls) == 1  # served from the cache
    pd.testing.assert_series_equal(first, second)
    load_prices(config, refresh=True)
    assert len(calls) == 2
    raw_config = replace(config, auto_adjust=False)
    assert cache_file(raw_config) != path


def test_yahoo_without_dates_asks_for_the_whole_history(tmp_path, monkeypatch):
    import yfinance

    calls: list = []
    monkeypatch.setattr(yfinance, "download", fake_download([yfinance_frame("AAPL")], calls))
    load_prices(yahoo_config(tmp_path, start=None, end=None))
    assert calls[0][1]["period"] == "max"


@pytest.mark.parametrize(
    "result, pattern",
    [
        (
            empty_yfinance_frame("AAPL"),
            r"Yahoo Finance AAPL: no prices returned: an empty answer, without an error .* use "
            r"data\.source: sample or csv",
        ),
        (
            OSError("Could not resolve host: query2.finance.yahoo.com"),
            r"Yahoo Finance AAPL: no prices returned: the name did not resolve, offline or DNS "
            r"\(OSError: Could not resolve host.*check the network, or use data\.source",
        ),
    ],
)
def test_yahoo_failures_are_clear_and_not_cached(tmp_path, monkeypatch, result, pattern):
    import yfinance

    from forecast.data import yahoo

    monkeypatch.setattr(yfinance, "download", fake_download([result], []))
    # Yahoo's chart endpoint, asked why, answers normally: whether or not TensorFlow was
    # loaded earlier in this process (then the question fails to impersonate a browser and
    # the download is retried in a child, which the loopback server would answer)
    monkeypatch.setattr(yahoo, "diagnose", lambda ticker: None)
    config = yahoo_config(tmp_path)
    with pytest.raises(DataError, match=pattern):
        load_prices(config)
    assert not cache_file(config).exists()


def test_yahoo_rate_limit_error_is_clear(tmp_path, monkeypatch):
    import yfinance
    from yfinance.exceptions import YFRateLimitError

    monkeypatch.setattr(yfinance, "download", fake_download([YFRateLimitError()], []))
    with pytest.raises(DataError, match=r"AAPL: no prices returned: Yahoo rate-limited"):
        load_prices(yahoo_config(tmp_path))


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        ("ImpersonateError('Impersonating chrome152 is not supported')", "impersonate a browser"),
        ("DNSError: Could not resolve host: query2.finance.yahoo.com", "did not resolve"),
        ("HTTPError('HTTP Error 503: Service Unavailable')", "HTTP status 503"),
        ("HTTP status 500: Internal Server Error", "HTTP status 500"),
        ("YFPricesMissingError('possibly delisted; no price data found')", "unknown or delisted"),
        ("YFRateLimitError('Too Many Requests. Rate limited.')", "rate-limited"),
        ("curl: (28) Operation timed out after 10000 milliseconds", "connection failed"),
        (None, "an empty answer"),
    ],
)
def test_a_failed_download_names_its_cause(cause, words):
    from forecast.data.yahoo import describe_failure

    reason, fix = describe_failure(cause)
    assert words in reason and fix


def test_corrupt_cache_is_not_used_silently(tmp_path, monkeypatch, caplog):
    import yfinance

    config = yahoo_config(tmp_path)
    path = cache_file(config)
    path.parent.mkdir(parents=True)
    path.write_text("Date,Close\n2023-01-0")  # truncated
    calls: list = []
    monkeypatch.setattr(yfinance, "download", fake_download([yfinance_frame("AAPL")], calls))
    with caplog.at_level(logging.WARNING):
        prices = load_prices(config)
    assert len(calls) == 1 and len(prices) > 100
    assert "unreadable" in caplog.text


def test_sample_and_csv_paths_never_import_yfinance():
    code = (
        "import sys; from forecast.config import DataConfig; "
        "from forecast.data.sources import load_prices; load_prices(DataConfig()); "
        "print('yfinance' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.stdout.strip() == "False"
