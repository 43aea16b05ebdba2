"""FusedLSTM: weight-compatible with keras.layers.LSTM, same outputs and gradients, saved and
loaded as a normal model, and stock behaviour wherever the fused kernel does not apply."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from forecast.model.fused import FusedLSTM, fused_eligible


def pair(**kwargs):
    windows = np.random.default_rng(0).uniform(-1.5, 1.5, (6, 30, 2)).astype("float32")
    stock, fused = keras.layers.LSTM(**kwargs), FusedLSTM(**kwargs)
    stock(windows), fused(windows)
    weights = [np.random.default_rng(1).normal(0, 0.5, w.shape).astype("float32")
               for w in stock.get_weights()]
    stock.set_weights(weights)
    fused.set_weights(weights)  # the same weights go in unchanged
    return windows, stock, fused


@pytest.mark.parametrize("kwargs", [
    dict(units=50, return_sequences=True), dict(units=9), dict(units=9, use_bias=False),
    dict(units=5, go_backwards=True, return_sequences=True), dict(units=4, unit_forget_bias=False),
])
def test_same_outputs_and_gradients_as_keras_lstm(kwargs):
    windows, stock, fused = pair(**kwargs)
    with tf.GradientTape(persistent=True) as tape:
        stock_out, fused_out = stock(windows), fused(windows)
        stock_loss, fused_loss = tf.reduce_sum(stock_out ** 2), tf.reduce_sum(fused_out ** 2)
    np.testing.assert_allclose(fused_out, stock_out, rtol=1e-5, atol=1e-5)
    for expected, got in zip(tape.gradient(stock_loss, stock.trainable_variables),
                             tape.gradient(fused_loss, fused.trainable_variables)):
        # float32 sums over 30 steps in another order: agree to ~1e-4 of the largest entry
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def test_falls_back_where_the_fused_kernel_does_not_apply():
    assert fused_eligible(FusedLSTM(4))
    assert not fused_eligible(FusedLSTM(4, recurrent_dropout=0.1))
    assert not fused_eligible(FusedLSTM(4, activation="relu"))
    assert not fused_eligible(FusedLSTM(4, recurrent_activation="hard_sigmoid"))
    assert not fused_eligible(FusedLSTM(4, unroll=True))
    windows, stock, fused = pair(units=6, activation="relu")
    np.testing.assert_allclose(fused(windows), stock(windows), rtol=1e-5, atol=1e-6)


def test_saved_and_loaded_as_a_normal_model(tmp_path):
    from forecast.runs import load_model

    inputs = keras.Input((30, 2))
    outputs = keras.layers.Dense(1)(FusedLSTM(5)(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")  # safe_mode=True
    windows = np.random.default_rng(2).normal(size=(3, 30, 2)).astype("float32")
    np.testing.assert_allclose(loaded.predict(windows, verbose=0),
                               model.predict(windows, verbose=0), rtol=1e-6)
    assert isinstance(loaded.layers[1], keras.layers.LSTM)


def test_config_switch_builds_fused_layers_that_train_like_stock_ones():
    from forecast.config import load_config
    from forecast.model import build_model

    overrides = ["data.lookback=8", "model.layers.0.units=5", "model.layers.2.units=4"]
    stock = build_model(load_config(None, overrides))
    fused = build_model(load_config(None, [*overrides, "model.fused_lstm=true"]))
    assert [type(layer).__name__ for layer in fused.layers].count("FusedLSTM") == 2
    fused.set_weights(stock.get_weights())
    windows = np.random.default_rng(3).uniform(0, 1, (16, 8, 1)).astype("float32")
    np.testing.assert_allclose(fused.predict(windows, verbose=0),
                               stock.predict(windows, verbose=0), rtol=1e-5, atol=1e-6)
