"""Yahoo Finance in every process forecast runs in: the real yfinance + curl_cffi stack
downloads from a loopback server that plays Yahoo (tests/fake_yahoo.py), also after a model
was trained in the same process (TensorFlow loaded before curl_cffi, which breaks curl_cffi's
browser impersonation: ranaroussi/yfinance#2528), and a failed download names its cause."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from forecast.data.yahoo import YAHOO_URL
from forecast.errors import DataError
from tests.conftest import ROOT
from tests.fake_yahoo import closes

AFTER_TRAINING = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
if sys.argv[3] == "tensorflow-first":  # a notebook that imported TensorFlow itself
    import tensorflow
import forecast
from forecast.commands.train import train
from tests.conftest import synthetic_prices, tiny_config
from pathlib import Path

tmp = Path(sys.argv[1])
frame = synthetic_prices(150).to_frame("Close").rename_axis("Date")
frame.to_csv(tmp / "prices.csv")
config = tiny_config(tmp, "data.source=csv", f"data.path={tmp / 'prices.csv'}", "data.start=null")
train(config, out=tmp / "run", echo=lambda line: None)  # TensorFlow loaded, a model trained
import curl_cffi.requests as curl  # loaded after TensorFlow, as in such a process
try:
    curl.get(sys.argv[2] + "/", impersonate="chrome")
    broken = False
except Exception as error:
    broken = "Impersonat" in str(error)
yahoo = forecast.load_config("yahoo", ["data.start=2024-01-02", "data.end=2024-03-01",
                                       f"data.cache_dir={tmp / 'cache'}"])
config, market = forecast.load_data(yahoo, refresh=True)
print(json.dumps({"broken": broken, "rows": len(market.bars),
                  "dates": [str(day.date()) for day in market.bars.index[[0, -1]]],
                  "last": float(market.bars["price"].iloc[-1])}))
"""


@pytest.mark.parametrize("order", ["forecast-loads-tensorflow", "tensorflow-first"])
def test_yahoo_downloads_after_a_model_was_trained_in_the_same_process(fake_yahoo, tmp_path, order):
    """forecast loads curl_cffi before TensorFlow, so its own processes download in place; a
    process that loaded TensorFlow first (its curl_cffi impersonation broken) downloads in a
    separate process instead."""
    environment = {**os.environ, YAHOO_URL: fake_yahoo, "CI": "true", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", AFTER_TRAINING, str(tmp_path), fake_yahoo, order],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    days = pd.bdate_range("2024-01-02", "2024-02-29")
    assert result["rows"] == len(days) and result["dates"] == ["2024-01-02", "2024-02-29"]
    assert result["last"] == pytest.approx(float(closes(days)[-1]), rel=1e-6)
    if order == "forecast-loads-tensorflow":
        assert not result["broken"] and "separate process" not in done.stderr
    elif result["broken"]:  # impersonation fails in this process: the download went around it
        assert "downloading in a separate process" in done.stderr


@pytest.mark.parametrize(
    ("ticker", "words"),
    [
        ("NOPE", "Yahoo has no data for this ticker in that range: an unknown or delisted"),
        ("BROKEN", "Yahoo answered HTTP status 500"),
    ],
)
def test_a_failed_download_from_the_server_names_its_cause(
    fake_yahoo, tmp_path, monkeypatch, ticker, words
):
    import forecast

    monkeypatch.setenv(YAHOO_URL, fake_yahoo)
    yahoo = forecast.load_config(
        "yahoo", [f"data.ticker={ticker}", f"data.cache_dir={tmp_path / 'cache'}"]
    )
    with pytest.raises(DataError, match=rf"Yahoo Finance {ticker}: no prices returned: {words}"):
        forecast.load_data(yahoo, refresh=True)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_host_that_does_not_resolve_is_named(tmp_path, monkeypatch):
    import forecast

    monkeypatch.setenv(YAHOO_URL, "http://no-such-host.invalid")
    yahoo = forecast.load_config("yahoo", [f"data.cache_dir={tmp_path / 'cache'}"])
    with pytest.raises(DataError, match="no prices returned: the name did not resolve"):
        forecast.load_data(yahoo, refresh=True)
