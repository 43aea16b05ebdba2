"""train.precision: bfloat16: the fused LSTM's training products on bf16 operands with float32
sums, where the CPU has AVX512-BF16; float32 everywhere else, said in one line."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

from forecast.config import load_config
from forecast.errors import ConfigError
from forecast.model import build, native
from forecast.model.build import build_model, training_precision
from forecast.model.fused import FusedLSTM
from tests.conftest import require_fused_ops


def bf16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded to bfloat16 (to nearest, ties to even), as float64."""
    bits = np.asarray(values, np.float32).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32).astype(np.float64)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


@pytest.fixture(scope="module")
def ops():
    require_fused_ops()
    if not native.bf16_products():
        pytest.skip("this CPU or build has no AVX512-BF16")
    return native.fused_ops()


def weights(batch: int = 9, time: int = 7, features: int = 3, units: int = 6):
    generator = np.random.default_rng(3)
    x = generator.uniform(-1, 1, (batch, time, features)).astype("float32")
    kernel = generator.normal(0, 0.3, (features, 4 * units)).astype("float32")
    recurrent = generator.normal(0, 0.3, (units, 4 * units)).astype("float32")
    bias = generator.normal(0, 0.1, 4 * units).astype("float32")
    return x, kernel, recurrent, bias


def test_the_products_are_those_of_the_bf16_rounded_operands(ops):
    """Each step multiplies bf16([x(t), h(t-1)]) by bf16([W; U]) and adds in float32: the
    equations with the operands rounded agree to float32 rounding; float32 products do
    not."""
    x, kernel, recurrent, bias = weights()
    hidden = ops.forecast_lstm_forward(x, kernel, recurrent, bias, bf16=True)[0].numpy()
    exact = ops.forecast_lstm_forward(x, kernel, recurrent, bias)[0].numpy()
    stacked = bf16(np.concatenate([kernel, recurrent]))  # (features + u, 4u)
    units = recurrent.shape[0]
    h, c, expected = np.zeros((len(x), units)), np.zeros((len(x), units)), []
    for t in range(x.shape[1]):
        z = bf16(np.concatenate([x[:, t], h], axis=1)) @ stacked + bias  # (batch, 4u)
        i, f = sigmoid(z[:, :units]), sigmoid(z[:, units : 2 * units])
        g, o = np.tanh(z[:, 2 * units : 3 * units]), sigmoid(z[:, 3 * units :])
        c = f * c + i * g
        h = (o * np.tanh(c)).astype(np.float32)  # the op keeps h in float32
        expected.append(h)
    np.testing.assert_allclose(hidden, np.stack(expected, axis=1), atol=2e-6)
    assert np.abs(hidden - exact).max() > 1e-4  # bf16 rounding shows: it is not float32


@pytest.mark.parametrize("batch", [9, 300])
def test_bf16_gradients_stay_near_float32_ones(ops, batch):
    x, kernel, recurrent, bias = weights(batch=batch)
    variables = [tf.Variable(value) for value in (kernel, recurrent, bias)]
    gradients = {}
    for products in (False, True):
        with tf.GradientTape() as tape:
            hidden = ops.forecast_lstm_forward(x, *variables, bf16=products)[0]
            loss = tf.reduce_sum(tf.sin(hidden))
        gradients[products] = [g.numpy() for g in tape.gradient(loss, variables)]
    for exact, rounded in zip(gradients[False], gradients[True]):
        scale = np.abs(exact).max()
        assert 0 < np.abs(rounded - exact).max() < 0.02 * scale


def test_bfloat16_trains_in_bf16_and_predicts_in_float32(ops):
    config = load_config("quick", ["train.precision=bfloat16"])
    assert training_precision(config) == "bfloat16"
    model = build_model(config)
    layers = [layer for layer in model.layers if isinstance(layer, FusedLSTM)]
    assert layers and all(layer.precision == "bfloat16" for layer in layers)
    twin = build_model(load_config("quick"))
    twin.set_weights(model.get_weights())
    windows = np.random.default_rng(0).uniform(0, 1, (5, config.data.lookback, 1))
    windows = windows.astype("float32")
    np.testing.assert_array_equal(model(windows).numpy(), twin(windows).numpy())  # inference


def test_float32_where_bf16_cannot_run_said_once(monkeypatch, caplog):
    monkeypatch.setattr(native, "bf16_products", lambda: False)
    monkeypatch.setattr(build, "_said", set())
    config = load_config("quick", ["train.precision=bfloat16"])
    with caplog.at_level(logging.WARNING, logger="forecast.model.build"):
        assert training_precision(config) == "float32"
        assert training_precision(config) == "float32"
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "training stays float32" in said[0] and "AVX512-BF16" in said[0]
    unfused = load_config("quick", ["train.precision=bfloat16", "model.fused_lstm=false"])
    assert training_precision(unfused) == "float32"
    assert training_precision(load_config("quick")) == "float32"


def test_precision_takes_float32_or_bfloat16():
    with pytest.raises(ConfigError, match="train.precision"):
        load_config(None, ["train.precision=float16"])


def test_the_layer_multiplies_in_bf16_only_while_training(ops):
    windows = np.random.default_rng(1).uniform(-1, 1, (8, 10, 2)).astype("float32")
    half, single = FusedLSTM(6, precision="bfloat16"), FusedLSTM(6)
    half(windows), single(windows)
    single.set_weights(half.get_weights())
    np.testing.assert_array_equal(half(windows).numpy(), single(windows).numpy())
    trained = half(windows, training=True).numpy() - single(windows, training=True).numpy()
    assert np.abs(trained).max() > 1e-5
    assert FusedLSTM.from_config(half.get_config()).precision == "bfloat16"
