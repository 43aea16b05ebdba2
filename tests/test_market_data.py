"""Real market data without training: bar intervals, time zones, calendars, features, and the
data-quality checks (no TensorFlow here)."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecast.config import DataConfig, load_config
from forecast.data.bars import read_bars
from forecast.data.bars import write_bars as write_run_bars
from forecast.data.calendar import next_timestamps, resolve_calendar
from forecast.data.features import feature_matrix, first_complete_row, source_columns
from forecast.data.interval import format_timestamps, infer_interval, parse_timestamps, unit_words
from forecast.data.quality import data_warnings
from forecast.data.sources import load_market
from forecast.data.windows import WindowSpec, prepare_dataset
from forecast.errors import ConfigError, DataError
from tests.conftest import QUICK, fx_hourly_index, ohlcv_frame, write_bars, xnys_hourly_index


def csv_config(path, **changes) -> DataConfig:
    return replace(DataConfig(source="csv", path=str(path), ticker="TEST"), **changes)


# --- intervals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index, expected",
    [
        (pd.date_range("2024-01-01", periods=50, freq="15min"), "15m"),
        (fx_hourly_index(200), "60m"),
        (xnys_hourly_index(20), "60m"),
        (pd.bdate_range("2024-01-01", periods=50), "1d"),
        (pd.date_range("2024-01-01", periods=50, freq="D"), "1d"),
        (pd.date_range("2024-01-05", periods=30, freq="W-FRI"), "1wk"),
        (pd.date_range("2020-01-31", periods=30, freq="ME"), "1mo"),
        (pd.date_range("2015-03-31", periods=30, freq="QE"), "3mo"),
    ],
)
def test_interval_is_inferred_from_the_spacing(index, expected):
    assert infer_interval(pd.DatetimeIndex(index), "x.csv") == expected


def test_an_irregular_series_is_refused_naming_the_first_gap_that_breaks_it(tmp_path):
    index = pd.date_range("2024-01-01", periods=40, freq="h")
    index = index.insert(20, index[19] + pd.Timedelta(minutes=25))  # one bar off the grid
    path = write_bars(tmp_path / "odd.csv", ohlcv_frame(index))
    with pytest.raises(
        DataError,
        match=r"2024-01-01 19:00:00 → 2024-01-01 19:25:00 are "
        r"25 minutes apart.*set data.interval",
    ):
        load_market(csv_config(path))
    # With the interval set, it loads, and the off-grid gaps are a data warning instead.
    market = load_market(csv_config(path, interval="1h"))
    assert market.data.interval == "60m"
    assert any("off the 60m grid" in line and "19:25" in line for line in market.warnings)


def test_an_interval_outside_yfinance_names_is_refused(tmp_path):
    path = write_bars(
        tmp_path / "4h.csv", ohlcv_frame(pd.date_range("2024-01-01", periods=40, freq="4h"))
    )
    with pytest.raises(DataError, match="4 hours apart.*none of the intervals"):
        load_market(csv_config(path))


def test_words_follow_the_unit():
    assert unit_words("1d", "XNYS", 30) == "30 trading days"
    assert unit_words("60m", "24/5", 24) == "24 hourly bars"
    assert unit_words("1mo", "24/7", 3) == "3 months"
    assert unit_words("1wk", "XNYS", 1) == "1 week"
    assert unit_words("15m", "XNYS", 2) == "2 15-minute bars"
    assert unit_words("1d", "24/7", 5) == "5 days"


# --- timestamps survive every round trip ------------------------------------------------------


def test_intraday_timestamps_keep_time_and_zone_through_the_run_folder(tmp_path):
    index = xnys_hourly_index(40)  # crosses the March daylight-saving change
    path = write_bars(tmp_path / "hourly.csv", ohlcv_frame(index))
    market = load_market(
        csv_config(path, timezone="America/New_York", features=("close", "volume"))
    )
    assert market.data.timezone == "America/New_York" and market.data.interval == "60m"
    assert market.bars.index.equals(index.rename("date"))
    write_run_bars(tmp_path / "prices.csv", market.bars)
    again = read_bars(tmp_path / "prices.csv", "America/New_York")
    assert again.index.equals(market.bars.index)
    pd.testing.assert_frame_equal(again, market.bars, check_freq=False)
    assert (
        (tmp_path / "prices.csv")
        .read_text()
        .splitlines()[1]
        .startswith("2024-02-01 09:30:00-05:00,")
    )


def test_offsets_that_differ_read_as_utc_unless_a_zone_is_set(tmp_path):
    index = xnys_hourly_index(40)
    path = write_bars(tmp_path / "hourly.csv", ohlcv_frame(index))
    market = load_market(csv_config(path))
    assert market.data.timezone == "UTC"
    assert market.bars.index.equals(index.tz_convert("UTC").rename("date"))
    assert market.data.calendar == "XNYS"  # the same instants are inside New York hours


def test_naive_intraday_timestamps_stay_naive(tmp_path):
    index = fx_hourly_index(300)
    path = write_bars(tmp_path / "fx.csv", ohlcv_frame(index))
    market = load_market(csv_config(path))
    assert market.bars.index.tz is None and market.data.timezone is None
    assert format_timestamps(market.bars.index[:2]) == [
        "2017-04-03 00:00:00",
        "2017-04-03 01:00:00",
    ]
    write_run_bars(tmp_path / "prices.csv", market.bars)
    assert read_bars(tmp_path / "prices.csv").index.equals(market.bars.index)


def test_daily_dates_are_written_as_dates():
    assert format_timestamps(pd.bdate_range("2024-01-01", periods=2)) == [
        "2024-01-01",
        "2024-01-02",
    ]
    parsed = parse_timestamps(pd.Series(["2024-01-01 09:30:00+00:00", "2024-07-01 09:30:00+00:00"]))
    assert str(parsed.dt.tz) == "UTC"


# --- calendars and the next bars --------------------------------------------------------------


def test_calendar_auto_follows_the_data():
    assert (
        resolve_calendar("auto", pd.date_range("2024-01-01", periods=30, freq="D"), "1d") == "24/7"
    )
    assert resolve_calendar("auto", fx_hourly_index(100), "60m") == "24/5"
    assert resolve_calendar("auto", xnys_hourly_index(10), "60m") == "XNYS"
    assert resolve_calendar("auto", pd.bdate_range("2024-01-01", periods=30), "1d") == "XNYS"
    assert resolve_calendar("XLON", pd.bdate_range("2024-01-01", periods=30), "1d") == "XLON"


def test_xnys_hourly_bars_continue_inside_the_next_sessions():
    index = pd.DatetimeIndex(["2024-03-08 14:30", "2024-03-08 15:30"]).tz_localize(
        "America/New_York"
    )  # a Friday; the clocks change on Sunday
    future = next_timestamps(index, 9, "60m", "XNYS")
    assert [stamp.strftime("%a %H:%M") for stamp in future] == [
        "Mon 09:30",
        "Mon 10:30",
        "Mon 11:30",
        "Mon 12:30",
        "Mon 13:30",
        "Mon 14:30",
        "Mon 15:30",
        "Tue 09:30",
        "Tue 10:30",
    ]
    assert str(future.tz) == "America/New_York"


def test_fx_hourly_bars_skip_the_weekend_and_24_7_days_do_not():
    fx = pd.DatetimeIndex(["2024-03-08 21:00", "2024-03-08 22:00"])  # Friday evening, UTC
    assert [str(stamp) for stamp in next_timestamps(fx, 3, "60m", "24/5")] == [
        "2024-03-08 23:00:00",
        "2024-03-11 00:00:00",
        "2024-03-11 01:00:00",
    ]
    daily = pd.DatetimeIndex(["2024-03-07", "2024-03-08"])
    assert list(next_timestamps(daily, 3, "1d", "24/7").strftime("%a")) == ["Sat", "Sun", "Mon"]
    assert list(next_timestamps(daily, 3, "1d", "XNYS").strftime("%a")) == ["Mon", "Tue", "Wed"]


def test_periods_continue_in_the_data_convention():
    month_ends = pd.date_range("2023-01-31", periods=12, freq="ME")
    assert list(next_timestamps(month_ends, 3, "1mo", "24/7").strftime("%Y-%m-%d")) == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
    ]
    business_ends = pd.date_range("2023-01-31", periods=12, freq="BME")
    assert list(next_timestamps(business_ends, 2, "1mo", "XNYS").strftime("%Y-%m-%d")) == [
        "2024-01-31",
        "2024-02-29",
    ]
    fridays = pd.date_range("2024-01-05", periods=10, freq="W-FRI")
    assert list(next_timestamps(fridays, 2, "1wk", "XNYS").strftime("%a %Y-%m-%d")) == [
        "Fri 2024-03-15",
        "Fri 2024-03-22",
    ]
    quarters = pd.date_range("2020-03-31", periods=8, freq="QE")
    assert list(next_timestamps(quarters, 2, "3mo", "XNYS").strftime("%Y-%m-%d")) == [
        "2022-03-31",
        "2022-06-30",
    ]


# --- features ---------------------------------------------------------------------------------


def test_features_match_their_definitions():
    bars = (
        ohlcv_frame(pd.bdate_range("2024-01-01", periods=120), seed=4)
        .rename(columns=str.lower)
        .assign(price=lambda frame: frame["close"])
    )
    names = (
        "close",
        "log_return",
        "volatility_5",
        "rsi_14",
        "macd",
        "range",
        "log_volume",
        "day_of_week",
        "month",
        "open",
    )
    values = feature_matrix(names, bars, "price")  # (N, F)
    close = bars["price"]
    returns = np.log(close / close.shift(1))
    np.testing.assert_allclose(values[:, 0], close)
    np.testing.assert_allclose(values[1:, 1], returns[1:])
    np.testing.assert_allclose(values[5:, 2], returns.rolling(5).std()[5:])
    change = close.diff()
    gain = change.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
    loss = (-change.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
    np.testing.assert_allclose(values[14:, 3], (100 - 100 / (1 + gain / loss))[14:])
    macd = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    np.testing.assert_allclose(values[25:, 4], macd[25:])
    np.testing.assert_allclose(values[:, 5], (bars["high"] - bars["low"]) / close)
    np.testing.assert_allclose(values[:, 6], np.log1p(bars["volume"]))
    np.testing.assert_array_equal(values[:, 7], bars.index.day_of_week)
    np.testing.assert_array_equal(values[:, 8], bars.index.month)
    np.testing.assert_allclose(values[:, 9], bars["open"])
    # Warm-up rows (macd's 25) have no value; every row after them does.
    assert first_complete_row(values, names, bars.index, "x") == 25
    assert source_columns(names) == ["high", "low", "volume", "open"]


def test_several_features_are_scaled_on_training_rows_only_and_windowed(tmp_path):
    bars = (
        ohlcv_frame(pd.bdate_range("2022-01-03", periods=300), seed=2)
        .rename(columns=str.lower)
        .assign(price=lambda frame: frame["close"])[["price", "volume"]]
    )
    features = ("volume", "close", "volatility_10")
    dataset = prepare_dataset(bars, WindowSpec(12, 0.2, 0.1, features=features))
    assert dataset.x_train.shape[1:] == (12, 3) and dataset.x_test.shape == (60, 12, 3)
    assert dataset.first_row == 10 and dataset.spec.close_column == 1
    state = dataset.scaler.to_dict(features)
    assert state["feature_names_in_"] == list(features)
    changed = bars.copy()
    changed.iloc[dataset.n_train :] *= 3.0  # every test price and volume
    again = prepare_dataset(changed, WindowSpec(12, 0.2, 0.1, features=features))
    assert again.scaler.to_dict(features) == state
    train_volume = bars["volume"].iloc[10 : dataset.n_train]
    assert state["data_max_"][0] == train_volume.max()
    # The targets are the scaled close, and they invert exactly to the test prices.
    np.testing.assert_allclose(
        dataset.to_prices(dataset.y_test), bars["price"].iloc[dataset.n_train :], rtol=1e-12
    )


def test_warm_up_rows_count_toward_the_minimum_length():
    bars = pd.Series(
        np.linspace(100, 120, 45), index=pd.bdate_range("2024-01-01", periods=45), name="price"
    )
    prepare_dataset(bars, WindowSpec(10, 0.2, 0.1))  # the close alone fits
    with pytest.raises(DataError, match=r"the first 25 rows are warm-up"):
        prepare_dataset(bars, WindowSpec(10, 0.2, 0.1, features=("close", "macd")))


def test_feature_columns_are_read_by_name_case_insensitively(tmp_path):
    frame = ohlcv_frame(pd.bdate_range("2024-01-01", periods=100)).rename(
        columns={"Volume": "VOLUME", "High": "high"}
    )
    frame["adj close"] = frame["Close"] * 0.5
    path = write_bars(tmp_path / "odd.csv", frame)
    market = load_market(csv_config(path, features=("close", "volume", "range", "adj_close")))
    assert list(market.bars.columns) == ["price", "volume", "high", "low", "adj_close"]
    np.testing.assert_allclose(market.bars["adj_close"], frame["adj close"])


def test_a_feature_without_its_column_names_the_columns_found(tmp_path):
    frame = ohlcv_frame(pd.bdate_range("2024-01-01", periods=100))[["Close"]]
    path = write_bars(tmp_path / "close.csv", frame)
    with pytest.raises(
        DataError,
        match=r"needs a 'volume' column.*columns found: 'Date', "
        r"'Close'",
    ):
        load_market(csv_config(path, features=("close", "log_volume")))


def test_hour_is_refused_for_daily_bars():
    with pytest.raises(DataError, match="hour is always 0 for 1d bars"):
        load_market(DataConfig(features=("close", "hour")))


def test_feature_config_errors_name_the_closest_valid_name():
    with pytest.raises(ConfigError, match=r"'volum' is not a feature.*did you mean 'volume'"):
        load_config(QUICK, ["data.features=[close, volum]"])
    with pytest.raises(ConfigError, match="must include close"):
        load_config(QUICK, ["data.features=[volume]"])
    with pytest.raises(ConfigError, match="rsi_N needs a window N >= 2"):
        load_config(QUICK, ["data.features=[close, rsi_1]"])
    with pytest.raises(ConfigError, match=r"data.interval: '2h' is not one of"):
        load_config(QUICK, ["data.interval=2h"])
    with pytest.raises(ConfigError, match="not a time zone"):
        load_config(QUICK, ["data.timezone=Mars/Olympus"])
    assert load_config(QUICK, ["data.features=[close, rsi_21]"]).data.features == (
        "close",
        "rsi_21",
    )


# --- data-quality checks ----------------------------------------------------------------------


def split_export(tmp_path):
    """A Yahoo-style export whose Close halves on a 2:1 split and whose Adj Close does not."""
    index = pd.bdate_range("2024-01-01", periods=120)
    frame = ohlcv_frame(index, seed=5, sigma=0.005)
    frame["Adj Close"] = frame["Close"]
    frame.loc[index[60] :, ["Open", "High", "Low", "Close"]] /= 2
    return write_bars(tmp_path / "split.csv", frame)


def test_an_unadjusted_split_is_named_with_the_fix(tmp_path, caplog):
    path = split_export(tmp_path)
    with caplog.at_level(logging.WARNING):
        market = load_market(csv_config(path))
    [line] = [line for line in market.warnings if "split-like" in line]
    assert "2024-03-25 ×0.5" in line and "(near 1/2)" in line
    assert "Adj Close does not jump there" in line and "data.price_column: Adj Close" in line
    assert line in caplog.text
    assert not any(
        "split-like" in line
        for line in load_market(csv_config(path, price_column="Adj Close")).warnings
    )
    with pytest.raises(DataError, match="split-like.*data.on_suspect_split: warn"):
        load_market(csv_config(path, on_suspect_split="error"))


def test_a_split_on_a_day_the_stock_rose_is_found_beside_adj_close(tmp_path):
    """AAPL's 2000-06-21 2:1 split came on a +9.8 % day: the close went ×0.549, far from 1/2,
    but ×0.500 beside Adj Close. A -50 % crash that Adj Close shows too is a real move."""
    index = pd.bdate_range("2000-01-03", periods=160)
    frame = ohlcv_frame(index, seed=7, sigma=0.004)
    frame["Adj Close"] = frame["Close"] * 0.9  # dividends: a constant factor here
    frame.loc[index[100], ["Open", "High", "Low", "Close", "Adj Close"]] *= 1.098
    frame.loc[index[101] :, ["Open", "High", "Low", "Close", "Adj Close"]] *= 1.098
    frame.loc[index[100] :, ["Open", "High", "Low", "Close"]] /= 2  # unadjusted from here on
    frame.loc[index[130] :, ["Open", "High", "Low", "Close", "Adj Close"]] *= 0.5  # a crash
    market = load_market(csv_config(write_bars(tmp_path / "aapl.csv", frame)))
    [line] = [line for line in market.warnings if "split-like" in line]
    assert f"1 split-like jump(s) in Close: {index[100].date()} ×0.5" in line
    assert "(×0.500 beside Adj Close, near 1/2)" in line
    assert "look like unadjusted splits: set data.price_column: Adj Close" in line
    assert f"1 more where Adj Close moves as much (real moves?): {index[130].date()} ×0.49" in line
    adjusted = load_market(csv_config(tmp_path / "aapl.csv", price_column="Adj Close"))
    assert not any("look like unadjusted splits" in line for line in adjusted.warnings)


def test_missing_sessions_stale_stretches_and_zero_volume_are_reported():
    index = pd.bdate_range("2024-01-02", periods=80)
    bars = ohlcv_frame(index, seed=1).rename(columns=str.lower)
    bars = bars.assign(price=bars["close"]).drop(index[[10, 11, 12, 40]])  # 4 sessions gone
    bars.iloc[20:27, bars.columns.get_loc("price")] = 50.0  # 7 identical closes
    bars.iloc[30, bars.columns.get_loc("volume")] = 0
    data = DataConfig(interval="1d", calendar="XNYS", features=("close", "log_volume"))
    lines = data_warnings(bars, data, "x.csv")
    joined = "\n".join(lines)
    assert (
        "x.csv: 4 XNYS session(s) have no row (longest gap 3 session(s): 2024-01-16 → "
        "2024-01-18)" in joined
    )
    assert "row(s) fall on days XNYS has no session" in joined  # bdate_range keeps holidays
    assert "1 stretch(es) of 5+ identical closes, longest 7 bars" in joined
    assert "1 bar(s) have zero or negative volume" in joined
    clean = data_warnings(bars, replace(data, features=("close",)), "x.csv")
    assert not any("volume" in line for line in clean)


def test_intraday_sessions_without_a_bar_are_counted():
    index = xnys_hourly_index(30)
    dropped = index[~index.normalize().isin(index.normalize().unique()[[5, 6]])]
    bars = pd.DataFrame({"price": np.linspace(100, 110, len(dropped))}, index=dropped)
    lines = data_warnings(bars, DataConfig(interval="60m", calendar="XNYS"), "h.csv")
    assert any("2 XNYS session(s) have no row (longest gap 2 session(s)" in line for line in lines)


def test_the_sample_loads_as_daily_xnys_with_its_own_warnings():
    market = load_market(DataConfig())
    assert (market.data.interval, market.data.calendar, market.data.timezone) == (
        "1d",
        "XNYS",
        None,
    )
    assert list(market.bars.columns) == ["price"] and len(market.bars) == 7983
    assert any("2 XNYS session(s) have no row" in line for line in market.warnings)


# --- Yahoo Finance at other intervals ---------------------------------------------------------


def yfinance_intraday_frame(index: pd.DatetimeIndex, ticker: str = "AAPL") -> pd.DataFrame:
    """Hourly bars shaped like yfinance 1.x: a zone-aware 'Datetime' index, (Price, Ticker)
    columns."""
    frame = ohlcv_frame(index, seed=8).rename_axis("Datetime")
    frame.columns = pd.MultiIndex.from_product(
        [list(frame.columns), [ticker]], names=["Price", "Ticker"]
    )
    return frame


def test_yahoo_intraday_bars_keep_their_zone_through_the_cache(tmp_path, monkeypatch):
    import datetime as dt

    import yfinance

    from forecast.data.yahoo import cache_file
    from tests.test_data import fake_download

    start = dt.date.today() - dt.timedelta(days=120)
    index = xnys_hourly_index(40, start=start.isoformat())
    calls: list = []
    monkeypatch.setattr(
        yfinance, "download", fake_download([yfinance_intraday_frame(index)], calls)
    )
    config = DataConfig(
        source="yahoo",
        ticker="AAPL",
        start=start.isoformat(),
        end=None,
        interval="1h",
        cache_dir=str(tmp_path / "cache"),
    )
    first = load_market(config)
    assert calls[0][1]["interval"] == "1h" and len(calls) == 1
    assert str(first.bars.index.tz) == "America/New_York" and first.data.interval == "60m"
    assert first.bars.index.equals(index.rename("date"))
    assert "_1h_" in cache_file(config).name and "Timezone" in cache_file(config).read_text()
    again = load_market(config)  # from the cache: same bars, same zone
    assert len(calls) == 1
    pd.testing.assert_frame_equal(again.bars, first.bars)
    assert again.data == first.data


@pytest.mark.parametrize(
    "interval, start, pattern",
    [
        ("5m", 90, r"serves 5m bars for the last 60 days only; set data.start on or after"),
        ("1h", 800, r"serves 60m bars for the last 730 days only|serves 1h bars for the last 730"),
        ("1m", 20, r"at most 7 days of 1m bars per download"),
    ],
)
def test_yahoo_intraday_ranges_it_cannot_serve_are_refused_before_downloading(
    tmp_path, monkeypatch, interval, start, pattern
):
    import datetime as dt

    import yfinance

    from tests.test_data import fake_download

    calls: list = []
    monkeypatch.setattr(yfinance, "download", fake_download([], calls))
    config = DataConfig(
        source="yahoo",
        ticker="AAPL",
        interval=interval,
        start=(dt.date.today() - dt.timedelta(days=start)).isoformat(),
        cache_dir=str(tmp_path / "cache"),
    )
    with pytest.raises(DataError, match=pattern):
        load_market(config)
    assert calls == []


def test_yahoo_intraday_without_dates_asks_for_what_it_serves(tmp_path, monkeypatch):
    import datetime as dt

    import yfinance

    from tests.test_data import fake_download

    index = xnys_hourly_index(30, start=(dt.date.today() - dt.timedelta(days=60)).isoformat())
    calls: list = []
    monkeypatch.setattr(
        yfinance, "download", fake_download([yfinance_intraday_frame(index)], calls)
    )
    load_market(
        DataConfig(source="yahoo", ticker="AAPL", interval="60m", cache_dir=str(tmp_path / "cache"))
    )
    assert calls[0][1]["period"] == "730d" and calls[0][1]["interval"] == "60m"


def test_a_non_numeric_feature_value_is_refused_naming_it(tmp_path):
    frame = ohlcv_frame(pd.bdate_range("2024-01-01", periods=100)).astype({"Volume": object})
    frame.iloc[7, frame.columns.get_loc("Volume")] = "lots"
    path = write_bars(tmp_path / "bad.csv", frame)
    with pytest.raises(
        DataError,
        match=r"column 'Volume' are not numbers, first 'lots' \(row "
        r"9\); fix them, or remove the features",
    ):
        load_market(csv_config(path, features=("close", "volume")))
    assert len(load_market(csv_config(path)).bars) == 100  # not read without the feature
