"""Forecasting past the last date: recursion, trading dates, MC-dropout bands, log returns."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd

import forecast as api
from forecast.cli import main
from forecast.data.calendar import next_trading_days
from forecast.data.windows import WindowSpec, fit_scaler, prepare_dataset
from forecast.forecasting.predictor import Predictor
from forecast.model.keras_network import KerasNetwork
from tests.conftest import ROOT, synthetic_prices

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
        model.get_layer("one").set_weights(
            [np.zeros((LOOKBACK, 1), "float32"), np.ones(1, "float32")]
        )
        model.get_layer("noise").set_weights(
            [np.array([[noise]], "float32"), np.array([-noise], "float32")]
        )
    return model


def forecaster_of(model, scaler, lookback: int = LOOKBACK, target: str = "price") -> Predictor:
    """A hand-built Keras model as a forecaster (close-only inputs)."""
    return Predictor(KerasNetwork(model), scaler, WindowSpec(lookback, target=target))


def test_recursive_forecast_feeds_each_prediction_back():
    scaler = fit_scaler(np.array([0.0, 10.0]))  # 1 price unit = 0.1 scaled
    prices = pd.Series([3.0, 4.0, 5.0, 6.0, 7.0])
    paths = forecaster_of(last_value_model(step=0.1), scaler).paths(prices, [5], 4, samples=3)
    assert paths.shape == (1, 3, 4)  # (origins, samples, steps)
    np.testing.assert_allclose(paths[0], np.tile([8.0, 9.0, 10.0, 11.0], (3, 1)), rtol=1e-5)
    longer = pd.Series([3.0, 4.0, 5.0, 6.0, 7.0, 8.0])  # two origins: each reads its past only
    both = forecaster_of(last_value_model(step=0.1), scaler).paths(longer, [5, 6], 2)
    np.testing.assert_allclose(both[:, 0], [[8.0, 9.0], [9.0, 10.0]], rtol=1e-5)


def test_no_dropout_gives_zero_width_bands():
    scaler = fit_scaler(np.array([0.0, 10.0]))
    prices = pd.Series(np.linspace(3, 7, 8), index=pd.bdate_range("2024-01-01", periods=8))
    bands = forecaster_of(last_value_model(0.1), scaler).sample_quantiles(
        prices, [8], 6, samples=20, seed=0
    )
    assert np.abs(bands["hi95"] - bands["lo95"]).max() < 1e-9


def test_mc_dropout_samples_differ_and_bands_are_ordered_and_widen():
    scaler = fit_scaler(np.array([0.0, 10.0]))
    prices = pd.Series(np.full(8, 5.0), index=pd.bdate_range("2024-01-01", periods=8))
    forecaster = forecaster_of(last_value_model(0.0, noise=0.05), scaler)
    forecaster.network.reseed(1)
    paths = forecaster.paths(prices, [8], 20, samples=400, dropout=True)[0]  # (S, steps)
    assert len(np.unique(paths[:, -1])) > 5  # the samples differ
    bands = forecaster.sample_quantiles(prices, [8], 20, samples=400, seed=1)
    for low, high in (("lo95", "lo80"), ("lo80", "median"), ("median", "hi80"), ("hi80", "hi95")):
        assert (bands[low] <= bands[high] + 1e-12).all()
    width = (bands["hi95"] - bands["lo95"])[0]
    assert width[-1] > 2 * width[0]
    assert width[-1] > width[9]
    again = forecaster.sample_quantiles(prices, [8], 20, samples=400, seed=1)
    for name, values in bands.items():  # same seed, same bands
        np.testing.assert_array_equal(again[name], values)


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
    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1, target="log_return"))
    np.testing.assert_allclose(dataset.to_prices(dataset.y_test), dataset.test_prices, rtol=1e-12)
    # windows hold returns: the first training window starts at row 1's return
    expected = np.log(prices.iloc[1:11].to_numpy() / prices.iloc[0:10].to_numpy())
    np.testing.assert_allclose(
        dataset.scaler.inverse_transform(dataset.x_train[0].astype("float64"))[:, 0],
        expected,
        rtol=1e-5,
    )


def test_forecast_command_writes_csv_png_and_report(trained, run_copy, capsys):
    assert main(["forecast", "--run", str(run_copy), "--days", "5", "--samples", "16"]) == 0
    frame = pd.read_csv(run_copy / "forecast.csv")
    assert list(frame.columns[:6]) == ["date", "median", "lo80", "hi80", "lo95", "hi95"]
    assert list(frame.columns[6:]) == ["naive", "rw_lo80", "rw_hi80", "rw_lo95", "rw_hi95"]
    assert len(frame) == 5
    for low, high in (
        ("lo95", "lo80"),
        ("lo80", "median"),
        ("median", "hi80"),
        ("hi80", "hi95"),
        ("rw_lo95", "rw_lo80"),
        ("rw_hi80", "rw_hi95"),
    ):
        assert (frame[low] < frame[high]).all()
    record = pd.read_json(run_copy / "forecast.json", typ="series")
    assert record["band_method"] == "conformal" and record["calibration"] == "calibration.json"
    last = trained.forecaster.dataset().prices.index[-1]
    assert pd.Timestamp(frame["date"].iloc[0]) > last
    assert (pd.to_datetime(frame["date"]).dt.day_of_week < 5).all()
    assert (run_copy / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert "Forecast" in (run_copy / "report.html").read_text()


def test_forecast_from_newer_data_and_bad_arguments(trained, run_copy, tmp_path, capsys):
    newer = trained.forecaster.dataset().prices.iloc[:-30]
    path = tmp_path / "newer.csv"
    pd.DataFrame({"Date": newer.index.strftime("%Y-%m-%d"), "Close": newer.to_numpy()}).to_csv(
        path, index=False
    )
    assert (
        main(
            [
                "forecast",
                "--run",
                str(run_copy),
                "--days",
                "2",
                "--samples",
                "4",
                "--data",
                str(path),
            ]
        )
        == 0
    )
    frame = pd.read_csv(run_copy / "forecast.csv")
    assert pd.Timestamp(frame["date"].iloc[0]) > newer.index[-1]
    assert pd.Timestamp(frame["date"].iloc[0]) < trained.forecaster.dataset().prices.index[-1]
    capsys.readouterr()
    assert main(["forecast", "--run", str(run_copy), "--days", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


# --- forecasts without TensorFlow, calibrated once, from portable model files ---------------


def test_the_stored_calibration_is_what_a_fresh_one_gives(trained):
    """Training stored the calibration of horizons 1 … 30; calibrating the run again from
    its folder alone gives the same numbers."""
    from forecast.commands.common import dataset_for
    from forecast.forecasting.conformal import fit_calibration
    from forecast.store.runs import load_run

    run = load_run(trained.folder)
    stored = run.forecaster.calibration_
    assert stored.horizons == 30
    dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
    assert (stored.training_rows, stored.block_rows) == (dataset.n_train, len(dataset.y_val))
    fresh = fit_calibration(
        run.forecaster.predictor(), run.bars.iloc[: dataset.n_train], len(dataset.y_val), 30
    )
    assert fresh.to_dict() == stored.to_dict()
    for name, values in fresh.arrays().items():
        np.testing.assert_array_equal(values, stored.arrays()[name])


def test_a_longer_forecast_extends_the_stored_calibration(run_copy):
    from forecast.store.runs import load_run

    frame = api.forecast(run_copy, steps=40).table
    assert len(frame) == 40 and load_run(run_copy).forecaster.calibration_.horizons == 40
    assert np.isfinite(frame["hi80"]).all()


def test_forecast_never_imports_tensorflow_or_scikit_learn(run_copy):
    """A conformal forecast runs on the NumPy network in a fresh process (and without the
    statistical baselines' statsmodels); its picture is drawn in a forked child, so the
    command never imports matplotlib either, and the picture is the one drawn inline."""
    code = (
        "import sys; from forecast.cli import main; "
        f"code = main(['forecast', '--run', {str(run_copy)!r}, '--steps', '30']); "
        "print(code, sorted(name for name in ('tensorflow', 'keras', 'sklearn', 'scipy', "
        "'statsmodels', 'matplotlib') if name in sys.modules))"
    )
    pictures = []
    for forked, imported in (("1", "[]"), ("0", "['matplotlib']")):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
            env={**os.environ, "FORECAST_BACKGROUND": forked},
        )
        assert result.stdout.strip().splitlines()[-1] == f"0 {imported}", result.stderr
        pictures.append((run_copy / "forecast.png").read_bytes())
    assert pictures[0][:4] == b"\x89PNG" and pictures[0] == pictures[1]
    assert not list(run_copy.glob(".*previous*"))  # the child kept nothing behind
    frame = pd.read_csv(run_copy / "forecast.csv")
    assert len(frame) == 30 and np.isfinite(frame["lo95"]).all()


def test_numpy_points_equal_keras_points_on_the_run(trained):
    """The forecast's deterministic path from the NumPy network equals the Keras model's
    within 1e-5 relative (both recursing 30 bars from the last one)."""
    from forecast.store.runs import load_run

    run = load_run(trained.folder)
    keras_run = run.forecaster.predictor(dropout=True)  # the Keras model behind the paths
    origins = [len(run.bars) - 40, len(run.bars)]
    np.testing.assert_allclose(
        run.forecaster.predictor().paths(run.bars, origins, 30),
        keras_run.paths(run.bars, origins, 30),
        rtol=1e-5,
    )


def test_model_keras_loads_in_plain_keras_and_predicts_the_same(trained, tmp_path):
    """No forecast import, no compiler: the saved file holds stock Keras layers."""
    from forecast.store.runs import load_run

    windows = trained.forecaster.dataset().x_test[-5:]
    np.save(tmp_path / "windows.npy", windows)
    code = (
        "import sys, numpy as np, keras; "
        f"model = keras.models.load_model({str(trained.folder / 'model.keras')!r}); "
        f"np.save({str(tmp_path / 'out.npy')!r}, model.predict(np.load("
        f"{str(tmp_path / 'windows.npy')!r}), verbose=0)); "
        "print(sorted({type(layer).__name__ for layer in model.layers}), "
        "any(name.startswith('forecast') for name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        env={**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "['Dense', 'Dropout', 'InputLayer', 'LSTM'] False"
    ), result.stderr[-2000:]
    expected = load_run(trained.folder).forecaster.network().predict(windows)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5)


def test_a_run_folder_from_before_this_change_still_forecasts(trained, run_copy):
    """Older runs: model.keras named the fused classes, and no calibration was stored."""
    trained.forecaster.model_.save(run_copy / "model.keras")  # the fused layer classes, as before
    for name in ("calibration.json", "calibration.npz"):
        (run_copy / name).unlink()
    import zipfile

    with zipfile.ZipFile(run_copy / "model.keras") as archive:
        assert b"FusedLSTM" in archive.read("config.json")
    frame = api.forecast(run_copy, steps=5).table
    assert np.isfinite(frame[["median", "lo95", "hi95"]].to_numpy()).all()
    assert (run_copy / "calibration.npz").is_file()  # calibrated afresh, stored for next time
    assert api.evaluate(run_copy).summary["rmse"] == trained.summary["rmse"]


def test_a_short_series_keeps_the_bands_it_can_calibrate(tmp_path, caplog):
    """Month-end closes 2012-2024 (156 rows), lookback 12: the validation block gives 12
    forecasts, enough for an 80 % band (4) and not a 95 % one (19). forecast writes the
    point forecast and the 80 % bands, leaves the 95 % columns empty and says so in one line
    with the counts; --band-method chooses another method for the same run."""
    from tests.conftest import ohlcv_frame, tiny_config, write_bars

    index = pd.date_range("2012-01-31", periods=156, freq="ME")
    path = write_bars(tmp_path / "monthly.csv", ohlcv_frame(index, seed=4, sigma=0.04))
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "data.lookback=12",
        "data.ticker=MONTHLY",
    )
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    for steps in (3, 1):
        caplog.clear()
        assert main(["forecast", "--run", str(tmp_path / "run"), "--steps", str(steps)]) == 0
        frame = pd.read_csv(tmp_path / "run" / "forecast.csv")
        assert len(frame) == steps and np.isfinite(frame["median"]).all()
        assert np.isfinite(frame[["lo80", "hi80", "rw_lo80", "rw_hi80"]].to_numpy()).all()
        assert frame[["lo95", "hi95", "rw_lo95", "rw_hi95"]].isna().all().all()
        assert [record.message for record in caplog.records if "band" in record.message] == [
            "the 95 % band is empty from 1 bar ahead: the validation block gives 12 forecasts "
            "that far ahead and a conformal 95 % band needs 19; the point forecast and the "
            "other bands are written. For this band: a longer series, a larger "
            "train.validation_fraction (now 0.1), fewer --steps, or --band-method mc_dropout "
            "(uncalibrated)"
        ]
    record = pd.read_json(tmp_path / "run" / "forecast.json", typ="series")
    assert record["missing_levels"] == {"95": "no band from 1 bar ahead"}
    assert (
        main(
            [
                "forecast",
                "--run",
                str(tmp_path / "run"),
                "--steps",
                "3",
                "--band-method",
                "mc_dropout",
                "--samples",
                "8",
            ]
        )
        == 0
    )
    sampled = pd.read_csv(tmp_path / "run" / "forecast.csv")
    assert np.isfinite(sampled[["lo95", "hi95"]].to_numpy()).all()  # MC bands need no block
    assert (
        pd.read_json(tmp_path / "run" / "forecast.json", typ="series")["band_method"]
        == "mc_dropout"
    )
    assert (
        main(["forecast", "--run", str(tmp_path / "run"), "--steps", "2", "--intervals", "none"])
        == 0
    )
    plain = pd.read_csv(tmp_path / "run" / "forecast.csv")
    assert list(plain.columns) == ["date", "median", "lo80", "hi80", "lo95", "hi95"]
    assert plain[["lo80", "hi95"]].isna().all().all()
