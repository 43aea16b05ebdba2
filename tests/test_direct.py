"""Direct multi-step forecasts (model.horizon H): windows with H targets, a Dense(H) head,
forecasts that take H steps per call and recurse beyond, backtests scored per horizon, and
lstm_direct in compare."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import forecast as api
from forecast.base.values import read_json
from forecast.data.windows import WindowSpec, fit_scaler, prepare_dataset
from forecast.errors import UserError
from forecast.forecasting.predictor import Predictor
from forecast.model.keras_network import KerasNetwork
from tests.conftest import ohlcv_frame, synthetic_prices, tiny_config, write_bars


def test_windows_hold_the_next_h_targets_and_test_windows_stay_one_step():
    prices = synthetic_prices(200)
    one = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1))
    three = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1, horizon=3))
    fit = np.concatenate([one.y_train, one.y_val])  # (n,) one-step targets in time order
    assert three.y_train.shape[1] == 3 and three.y_val.shape == (len(one.y_val), 3)
    assert len(three.y_train) == len(one.y_train) - 2  # the last 2 windows lack 3 targets
    np.testing.assert_array_equal(three.y_train[:, 0], fit[: len(three.y_train)])
    np.testing.assert_array_equal(three.y_train[5], fit[5:8])
    np.testing.assert_array_equal(three.x_train, one.x_train[: len(three.y_train)])
    assert three.y_val[-1, -1] == fit[-1]  # the last target is the last training row
    np.testing.assert_array_equal(three.y_test, one.y_test)
    np.testing.assert_array_equal(three.x_test, one.x_test)
    same = prepare_dataset(
        prices, WindowSpec(10, 0.2, 0.1, horizon=1)
    )  # H = 1: today's layout exactly
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert getattr(same, name).shape == getattr(one, name).shape
        np.testing.assert_array_equal(getattr(same, name), getattr(one, name))
    assert one.y_train.ndim == 1


def direct_model(lookback: int, horizon: int, step: float):
    """A hand-built direct model: the next H values = last input + step·(1 … H)."""
    import keras

    inputs = keras.Input(shape=(lookback, 1))
    dense = keras.layers.Dense(horizon)
    outputs = dense(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((lookback, horizon), dtype="float32")
    kernel[-1, :] = 1.0
    dense.set_weights([kernel, (step * np.arange(1, horizon + 1)).astype("float32")])
    return model


def test_a_direct_model_takes_h_steps_per_call_and_recurses_beyond():
    scaler = fit_scaler(np.array([0.0, 10.0]))  # 1 price unit = 0.1 scaled
    forecaster = Predictor(KerasNetwork(direct_model(4, 3, 0.1)), scaler, WindowSpec(4))
    assert forecaster.horizon == 3 and forecaster.max_steps is None
    paths = forecaster.paths(pd.Series([3.0, 4.0, 5.0, 6.0]), [4], 7)
    # 6 → 7 8 9 from one call; the next call starts from 9: 10 11 12; then 13
    np.testing.assert_allclose(paths[0, 0], [7, 8, 9, 10, 11, 12, 13], rtol=1e-5)


@pytest.fixture(scope="module")
def direct_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("direct")
    config = tiny_config(
        tmp_path, "model.horizon=3", "train.epochs=2", "train.validation_fraction=0.2"
    )
    outcome = api.train(config, out=tmp_path / "run", echo=lambda line: None)
    return tmp_path, config, outcome


def test_train_save_load_and_forecast_with_a_direct_head(direct_run):
    tmp_path, _, outcome = direct_run
    run = tmp_path / "run"
    assert outcome.forecaster.model_.output_shape == (None, 3)
    evaluation = api.evaluate(run).summary  # the saved Dense(3) model reloads exactly
    stored = read_json(run / "metrics.json")
    assert all(evaluation[key] == stored[key] for key in ("rmse", "mae", "rmse_ratio"))
    two = api.forecast(run, steps=2).table
    seven = api.forecast(run, steps=7).table
    np.testing.assert_allclose(seven["median"].to_numpy()[:2], two["median"].to_numpy())
    assert np.isfinite(seven[["median", "lo95", "hi95", "rw_lo95"]].to_numpy()).all()
    assert (seven["lo95"] < seven["median"]).all() and (seven["median"] < seven["hi95"]).all()


def test_backtests_score_every_head_and_compare_puts_lstm_direct_beside_lstm(direct_run):
    tmp_path, config, _ = direct_run
    from forecast.evaluation.backtest import walk_forward as backtest
    from forecast.evaluation.compare import compare_families as compare

    prices = synthetic_prices(700, seed=3)
    result = backtest(config, prices, folds=1, echo=lambda line: None)
    assert list(result.horizons["horizon"]) == [1, 2, 3, 5, 20]
    assert (result.horizons["rmse_ratio"] > 0).all()
    table, _ = compare(
        tiny_config(tmp_path, "train.epochs=1", "train.validation_fraction=0.2"),
        prices,
        ("lstm", "lstm_direct"),
        folds=1,
        echo=lambda line: None,
    )
    rows = table.set_index("method")
    assert {"rmse_ratio_h5", "rmse_ratio_h20"} <= set(table.columns)
    assert np.isfinite(rows.loc[["lstm", "lstm_direct"], "rmse_ratio_h20"]).all()


def test_a_direct_head_forecasts_inputs_it_does_not_predict_up_to_h_bars(tmp_path):
    path = write_bars(tmp_path / "bars.csv", ohlcv_frame(pd.bdate_range("2020-01-01", periods=400)))
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "data.features=[close, log_volume]",
        "model.horizon=3",
        "train.validation_fraction=0.2",
    )
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    frame = api.forecast(tmp_path / "run", steps=3).table
    assert len(frame) == 3 and np.isfinite(frame[["median", "lo95", "hi95"]]).all().all()
    with pytest.raises(UserError, match=r"steps=4: the model reads log_volume.*past 3 "):
        api.forecast(tmp_path / "run", steps=4)


def test_parameter_counts_follow_the_head(tmp_path):
    from forecast.model.params import parameter_table

    config = tiny_config(tmp_path, "model.horizon=5")
    last = parameter_table(config)[-1]
    assert last.description == "Dense(5) output" and last.count == 4 * 5 + 5
