"""Forecasting past the last date: recursion, trading dates, MC-dropout bands, log returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.cli import main
from forecast.data.calendar import next_trading_days
from forecast.data.windows import fit_scaler, prepare_dataset
from forecast.forecasting.paths import forecast_future, simulate_paths
from tests.conftest import synthetic_prices

LOOKBACK = 5


def last_value_model(step: float, noise: float = 0.0):
    """A hand-built network: next = last input + step (+ ±noise from a Dropout, if any)."""
    import keras

    inputs = keras.Input(shape=(LOOKBACK, 1))
    flat = keras.layers.Flatten()(inputs)
    last = keras.layers.Dense(1, name="last")(flat)
    outputs = last
    if noise:
        one = keras.layers.Dense(1, name="one")(flat)  # constant 1
        coin = keras.layers.Dropout(0.5)(one)  # 0 or 2 while sampling
        outputs = keras.layers.Add()([last, keras.layers.Dense(1, name="noise")(coin)])
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((LOOKBACK, 1), dtype="float32")
    kernel[-1, 0] = 1.0
    model.get_layer("last").set_weights([kernel, np.array([step], dtype="float32")])
    if noise:
        model.get_layer("one").set_weights([np.zeros((LOOKBACK, 1), "float32"),
                                            np.ones(1, "float32")])
        model.get_layer("noise").set_weights([np.array([[noise]], "float32"),
                                              np.array([-noise], "float32")])
    return model


def test_recursive_forecast_feeds_each_prediction_back():
    scaler = fit_scaler(np.array([0.0, 10.0]))  # 1 price unit = 0.1 scaled
    prices = np.array([3.0, 4.0, 5.0, 6.0, 7.0])
    paths = simulate_paths(last_value_model(step=0.1), scaler, prices, LOOKBACK, "price",
                           days=4, samples=3)
    np.testing.assert_allclose(paths, np.tile([8.0, 9.0, 10.0, 11.0], (3, 1)), rtol=1e-5)


def test_no_dropout_gives_zero_width_bands():
    scaler = fit_scaler(np.array([0.0, 10.0]))
    prices = pd.Series(np.linspace(3, 7, 8), index=pd.bdate_range("2024-01-01", periods=8))
    dates = next_trading_days(prices.index[-1], 6, "business")
    result = forecast_future(last_value_model(0.1), scaler, prices, LOOKBACK, "price", dates,
                             samples=20)
    assert (result.frame["hi95"] - result.frame["lo95"]).abs().max() < 1e-9


def test_mc_dropout_samples_differ_and_bands_are_ordered_and_widen():
    scaler = fit_scaler(np.array([0.0, 10.0]))
    prices = pd.Series(np.full(8, 5.0), index=pd.bdate_range("2024-01-01", periods=8))
    dates = next_trading_days(prices.index[-1], 20, "business")
    result = forecast_future(last_value_model(0.0, noise=0.05), scaler, prices, LOOKBACK,
                             "price", dates, samples=400, seed=1)
    assert len(np.unique(result.paths[:, -1])) > 5  # the samples differ
    frame = result.frame
    for low, high in (("lo95", "lo80"), ("lo80", "median"), ("median", "hi80"),
                      ("hi80", "hi95")):
        assert (frame[low] <= frame[high] + 1e-12).all()
    width = (frame["hi95"] - frame["lo95"]).to_numpy()
    assert width[-1] > 2 * width[0]
    assert width[-1] > width[9]
    again = forecast_future(last_value_model(0.0, noise=0.05), scaler, prices, LOOKBACK,
                            "price", dates, samples=400, seed=1)
    pd.testing.assert_frame_equal(again.frame, frame)  # same seed, same bands


def test_trading_days_skip_weekends_and_holidays():
    # 2017-11-23 is Thanksgiving (NYSE closed); 11-25/26 a weekend.
    dates = next_trading_days(pd.Timestamp("2017-11-22"), 3, "XNYS")
    assert list(dates.strftime("%Y-%m-%d")) == ["2017-11-24", "2017-11-27", "2017-11-28"]
    christmas = next_trading_days(pd.Timestamp("2017-12-22"), 2, "XNYS")
    assert list(christmas.strftime("%Y-%m-%d")) == ["2017-12-26", "2017-12-27"]
    weekdays = next_trading_days(pd.Timestamp("2017-11-22"), 3, "business")
    assert list(weekdays.strftime("%Y-%m-%d")) == ["2017-11-23", "2017-11-24", "2017-11-27"]


def test_log_return_target_rebuilds_prices_exactly_from_true_returns():
    prices = synthetic_prices(200)
    dataset = prepare_dataset(prices, 10, 0.2, 0.1, target="log_return")
    np.testing.assert_allclose(dataset.to_prices(dataset.y_test), dataset.test_prices,
                               rtol=1e-12)
    # windows hold returns: the first training window starts at row 1's return
    expected = np.log(prices.iloc[1:11].to_numpy() / prices.iloc[0:10].to_numpy())
    np.testing.assert_allclose(
        dataset.scaler.inverse_transform(dataset.x_train[0].astype("float64"))[:, 0],
        expected, rtol=1e-5)


def test_forecast_command_writes_csv_png_and_report(trained, capsys):
    run_dir = trained.run_dir
    assert main(["forecast", "--run", str(run_dir), "--days", "5", "--samples", "16"]) == 0
    frame = pd.read_csv(run_dir / "forecast.csv")
    assert list(frame.columns[:6]) == ["date", "median", "lo80", "hi80", "lo95", "hi95"]
    assert list(frame.columns[6:]) == ["naive", "rw_lo80", "rw_hi80", "rw_lo95", "rw_hi95"]
    assert len(frame) == 5
    for low, high in (("lo95", "lo80"), ("lo80", "median"), ("median", "hi80"),
                      ("hi80", "hi95"), ("rw_lo95", "rw_lo80"), ("rw_hi80", "rw_hi95")):
        assert (frame[low] < frame[high]).all()
    record = pd.read_json(run_dir / "forecast.json", typ="series")
    assert record["intervals"] == "conformal" and record["calibration"] == "calibration.json"
    last = trained.dataset.prices.index[-1]
    assert pd.Timestamp(frame["date"].iloc[0]) > last
    assert (pd.to_datetime(frame["date"]).dt.day_of_week < 5).all()
    assert (run_dir / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert "Forecast" in (run_dir / "report.html").read_text()


def test_forecast_from_newer_data_and_bad_arguments(trained, tmp_path, capsys):
    newer = trained.dataset.prices.iloc[:-30]
    path = tmp_path / "newer.csv"
    pd.DataFrame({"Date": newer.index.strftime("%Y-%m-%d"), "Close": newer.to_numpy()}).to_csv(
        path, index=False)
    assert main(["forecast", "--run", str(trained.run_dir), "--days", "2", "--samples", "4",
                 "--data", str(path)]) == 0
    frame = pd.read_csv(trained.run_dir / "forecast.csv")
    assert pd.Timestamp(frame["date"].iloc[0]) > newer.index[-1]
    assert pd.Timestamp(frame["date"].iloc[0]) < trained.dataset.prices.index[-1]
    capsys.readouterr()
    assert main(["forecast", "--run", str(trained.run_dir), "--days", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
