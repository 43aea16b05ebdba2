"""Split, scaler and windows: time order, no leakage, exact inverse."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.data.scaling import MinMaxScaling, StandardScaling, scaler_from_dict
from forecast.data.windows import (
    WindowSpec,
    make_windows,
    prepare_dataset,
    required_rows,
    split_sizes,
)
from forecast.errors import DataError, RunError
from tests.conftest import synthetic_prices, tiny_config


def test_make_windows_are_the_previous_lookback_values():
    series = np.arange(20, dtype="float64")
    inputs, targets = make_windows(series, lookback=5, first_target=5, stop=20)
    assert inputs.shape == (15, 5, 1) and targets.shape == (15,)
    for k, t in enumerate(range(5, 20)):
        np.testing.assert_array_equal(inputs[k, :, 0], series[t - 5 : t])
        assert targets[k] == series[t]


def test_dataset_windows_for_every_split(prices):
    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1))
    n_rows, n_train = len(prices), dataset.n_train
    assert n_train == n_rows - int(n_rows * 0.2)
    scaled = dataset.scaler.transform(prices.to_numpy().reshape(-1, 1))[:, 0]
    x_all = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    y_all = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    assert len(y_all) == n_rows - 10  # every row after the first window is predicted once
    for k, t in enumerate(range(10, n_rows)):
        np.testing.assert_allclose(x_all[k, :, 0], scaled[t - 10 : t], rtol=1e-6)
        assert y_all[k] == pytest.approx(scaled[t], rel=1e-6)
    # validation windows come after training windows, test windows after both, in time
    assert len(dataset.y_val) == int(np.ceil((n_train - 10) * 0.1))
    assert len(dataset.y_test) == n_rows - n_train
    # the first test window reaches back into the training rows
    np.testing.assert_allclose(dataset.x_test[0, :, 0], scaled[n_train - 10 : n_train], rtol=1e-6)
    assert list(dataset.test_dates) == list(prices.index[n_train:])
    np.testing.assert_array_equal(dataset.previous_prices, prices.to_numpy()[n_train - 1 : -1])


def test_scaler_never_sees_test_rows(prices):
    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1))
    changed = prices.copy()
    changed.iloc[dataset.n_train :] *= 50.0  # the future goes wild
    changed_dataset = prepare_dataset(changed, WindowSpec(10, 0.2, 0.1))
    assert changed_dataset.scaler.to_dict() == dataset.scaler.to_dict()
    np.testing.assert_array_equal(changed_dataset.x_train, dataset.x_train)
    np.testing.assert_array_equal(changed_dataset.y_val, dataset.y_val)
    assert dataset.scaler.data_max_[0] == prices.iloc[: dataset.n_train].max()


def test_inverse_scaling_round_trips(prices):
    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1))
    np.testing.assert_allclose(
        dataset.scaler.inverse_column(dataset.y_test), dataset.test_prices, rtol=1e-6
    )


def test_scaler_json_round_trip_is_exact(prices):
    scaler = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1)).scaler
    state = json.loads(json.dumps(scaler.to_dict()))
    assert set(state) >= {"data_min_", "data_max_", "scale_", "min_", "feature_range"}
    rebuilt = MinMaxScaling.from_dict(state)
    values = prices.to_numpy().reshape(-1, 1)
    np.testing.assert_array_equal(rebuilt.transform(values), scaler.transform(values))


def test_the_numpy_scaler_is_scikit_learns_to_the_bit():
    """MinMaxScaling keeps scikit-learn's MinMaxScaler arithmetic and attribute names (so old
    scaler.json files and new ones mean the same), without importing scikit-learn."""
    from sklearn.preprocessing import MinMaxScaler

    generator = np.random.default_rng(5)
    training = np.column_stack(
        [generator.lognormal(3, 1, 300), generator.normal(0, 1e-3, 300), np.full(300, 7.0)]
    )  # a price, a return, a constant column
    later = training * generator.uniform(0.5, 2.0, training.shape)
    ours = MinMaxScaling().fit(training)
    theirs = MinMaxScaler(feature_range=(0.0, 1.0)).fit(training)
    for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    np.testing.assert_array_equal(ours.transform(later), theirs.transform(later))
    np.testing.assert_array_equal(ours.inverse_transform(later), theirs.inverse_transform(later))
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == 300


def test_the_standard_scaler_is_scikit_learns_and_its_state_names_its_type():
    """StandardScaling keeps scikit-learn's StandardScaler arithmetic and attribute names (a
    constant column's scale is 1, not 0), and scaler.json says which scaler it holds: read
    back as the same type, an unknown type refused in one line."""
    from sklearn.preprocessing import StandardScaler

    generator = np.random.default_rng(6)
    training = np.column_stack(
        [generator.normal(3e-4, 0.02, 400), generator.lognormal(3, 1, 400), np.full(400, 7.0)]
    )  # a log return, a price, a constant column
    later = training * generator.uniform(0.5, 2.0, training.shape)
    ours = StandardScaling().fit(training)
    theirs = StandardScaler().fit(training)
    for name in ("mean_", "var_", "scale_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-13)
    assert ours.scale_[2] == theirs.scale_[2] == 1.0
    np.testing.assert_allclose(ours.transform(later), theirs.transform(later), rtol=1e-12)
    np.testing.assert_allclose(
        ours.inverse_transform(later), theirs.inverse_transform(later), rtol=1e-13
    )
    np.testing.assert_allclose(ours.inverse_column(ours.transform(later)[:, 1], 1), later[:, 1])
    names = ("log_return", "close", "volume")
    state = json.loads(json.dumps(ours.to_dict(names)))
    assert state["type"] == "StandardScaler"
    rebuilt = scaler_from_dict(state)
    assert isinstance(rebuilt, StandardScaling)
    np.testing.assert_array_equal(rebuilt.transform(later), ours.transform(later))
    minmax = MinMaxScaling().fit(training).to_dict(names)
    assert isinstance(scaler_from_dict(minmax), MinMaxScaling)
    with pytest.raises(RunError, match=r"type 'RobustScaler' is not a scaler this tool writes"):
        scaler_from_dict({**state, "type": "RobustScaler"})
    with pytest.raises(RunError, match=r"not a StandardScaler state \(KeyError"):
        scaler_from_dict({"type": "StandardScaler", "mean_": [0.0]})


def test_the_scaling_is_min_max_unless_a_global_model_models_returns(tmp_path):
    """data.scaling auto: standardized log returns for a global model (comparable across
    tickers), min-max for everything else (every single run's numbers unchanged); an explicit
    value is kept."""

    def scaling(*overrides: str) -> str:
        return WindowSpec.from_config(tiny_config(tmp_path, *overrides)).scaling

    assert scaling() == "minmax"
    assert scaling("data.target=log_return") == "minmax"
    assert scaling("model.scope=global") == "minmax"
    assert scaling("model.scope=global", "data.target=log_return") == "standard"
    assert scaling("model.scope=global", "data.target=log_return", "data.scaling=minmax") == (
        "minmax"
    )
    assert scaling("data.scaling=standard") == "standard"
    spec = WindowSpec(10, 0.2, 0.1, scaling="standard")
    dataset = prepare_dataset(synthetic_prices(200, seed=4), spec)
    training = dataset.prices.to_numpy()[: dataset.n_train]
    assert dataset.scaler.mean_[0] == pytest.approx(training.mean(), rel=1e-12)
    assert dataset.scaler.scale_[0] == pytest.approx(training.std(), rel=1e-12)


def test_scaler_json_with_wrong_shapes_is_refused(prices):
    state = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1)).scaler.to_dict()
    state["scale_"] = [1.0, 2.0]
    with pytest.raises(RunError, match=r"scale_ has shape \(2,\), expected \(1,\)"):
        MinMaxScaling.from_dict(state)


def test_constant_series_does_not_divide_by_zero():
    flat = pd.Series(5.0, index=pd.bdate_range("2020-01-01", periods=100))
    dataset = prepare_dataset(flat, WindowSpec(10, 0.2, 0.1))
    assert np.isfinite(dataset.x_train).all() and np.isfinite(dataset.y_test).all()


def test_too_short_series_says_found_and_needed():
    needed = required_rows(WindowSpec(60, 0.2, 0.1))
    n_train, n_validation, n_test = split_sizes(needed, WindowSpec(60, 0.2, 0.1))
    assert n_train - 60 - n_validation >= 1 and n_validation >= 1 and n_test >= 1
    short = synthetic_prices(needed - 1)
    with pytest.raises(
        DataError,
        match=rf"found {needed - 1} rows of prices, need at least "
        rf"{needed} for lookback 60",
    ):
        prepare_dataset(short, WindowSpec(60, 0.2, 0.1))
    prepare_dataset(synthetic_prices(needed), WindowSpec(60, 0.2, 0.1))  # exactly enough works
