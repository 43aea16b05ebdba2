"""The Forecaster in memory: fit, predict and save a DataFrame's forecaster with nothing
written until it is saved; several series at once; what it saves is a run folder the
commands read."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast.cli import main
from forecast.errors import DataError, UserError
from tests.conftest import ohlcv_frame, synthetic_prices, tiny_config


def files_under(folder) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def test_fit_predict_and_save_touch_no_disk_until_saved(tmp_path, monkeypatch):
    """A notebook cell: a DataFrame in, a forecast out, nothing written; then save() writes
    a run folder that the CLI forecasts from and load() reads back to the same forecast."""
    monkeypatch.chdir(tmp_path)
    config = tiny_config(tmp_path, "data.source=frame", "data.ticker=SYN")
    bars = ohlcv_frame(pd.bdate_range("2021-01-04", periods=220))  # Date index, OHLCV columns
    before = files_under(tmp_path)
    forecaster = forecast.Forecaster(config).fit(bars)
    predicted = forecaster.predict(steps=4)
    test = forecaster.predict_test()
    assert files_under(tmp_path) == before  # not a file: no run folder, no journal, no cache
    assert list(predicted.frame.columns[:6]) == ["date", "median", "lo80", "hi80", "lo95", "hi95"]
    assert np.isfinite(predicted.frame["median"]).all() and predicted.record["origin"] == (
        "2021-11-05"
    )
    assert len(test) == len(forecaster.dataset().y_test) and set(test.columns) == {
        "date",
        "actual",
        "predicted",
        "naive",
    }
    assert forecaster.config.data.source == "frame"  # nothing the CLI could read again
    folder = forecaster.save(tmp_path / "saved")
    assert (folder / "run.json").is_file() and not (folder / "journal.csv").exists()
    again = forecast.Forecaster.load(folder)
    pd.testing.assert_frame_equal(again.predict(steps=4).frame, predicted.frame)
    assert main(["forecast", "--run", str(folder), "--steps", "4"]) == 0  # the CLI reads it
    written = pd.read_csv(folder / "forecast.csv")
    np.testing.assert_allclose(written["median"], predicted.frame["median"], rtol=1e-9)
    assert main(["forecast", "--run", str(folder), "--refresh"]) == 2  # given in Python


def test_newer_bars_given_to_predict_move_the_origin(tmp_path):
    prices = synthetic_prices(240, seed=5)
    forecaster = forecast.Forecaster(tiny_config(tmp_path)).fit(prices.iloc[:200])
    first = forecaster.predict(steps=2)
    later = forecaster.predict(steps=2, bars=prices)  # the same fit, 40 newer bars
    assert first.record["origin"] == str(prices.index[199].date())
    assert later.record["origin"] == str(prices.index[-1].date())
    assert later.frame["median"].iloc[0] != pytest.approx(first.frame["median"].iloc[0])


def test_several_series_fit_one_network_each_and_forecast_with_a_ticker_column(tmp_path):
    config = tiny_config(tmp_path)
    series = {
        "AAA": synthetic_prices(200, seed=1),
        "BBB": synthetic_prices(240, seed=2, start="2020-06-01"),
    }
    forecaster = forecast.Forecaster(config).fit(series)
    assert forecaster.tickers == ("AAA", "BBB")
    assert forecaster["AAA"].model_ is not forecaster["BBB"].model_
    frame = forecaster.predict(steps=3).frame
    assert list(frame["ticker"]) == ["AAA"] * 3 + ["BBB"] * 3
    # each ticker's forecast is its own forecaster's
    alone = forecaster["BBB"].predict(steps=3).frame
    np.testing.assert_allclose(frame[frame["ticker"] == "BBB"]["median"], alone["median"])
    tests = forecaster.predict_test()
    assert set(tests["ticker"]) == {"AAA", "BBB"}
    folder = forecaster.save(tmp_path / "watch")
    assert sorted(path.name for path in folder.iterdir()) == ["AAA", "BBB"]
    loaded = forecast.Forecaster.load(folder)
    assert loaded.tickers == ("AAA", "BBB")
    pd.testing.assert_frame_equal(loaded.predict(steps=3).frame, frame)
    with pytest.raises(UserError, match=r"ticker='CCC': not one of the fitted tickers AAA, BBB"):
        forecaster["CCC"]


def test_bad_input_to_the_forecaster_is_one_line_naming_the_argument(tmp_path):
    forecaster = forecast.Forecaster(tiny_config(tmp_path))
    with pytest.raises(UserError, match="not fitted yet: call fit"):
        forecaster.predict(steps=3)
    with pytest.raises(DataError, match="found 11 rows of prices, need at least"):
        forecaster.fit(synthetic_prices(11))
    forecaster.fit(synthetic_prices(200))
    with pytest.raises(UserError, match=r"^steps=0 samples=100: both must be at least 1$"):
        forecaster.predict(steps=0)
    with pytest.raises(UserError, match=r"band_method='wide': choose one of conformal"):
        forecaster.predict(steps=2, band_method="wide")
    with pytest.raises(UserError, match=r"bars: an empty mapping"):
        forecast.Forecaster(tiny_config(tmp_path)).fit({})
    assert not os.path.exists(tmp_path / "runs")
