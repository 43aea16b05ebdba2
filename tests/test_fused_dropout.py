"""FusedDropout: Dropout's contract (rate, 1/(1 - rate) scaling, identity at inference, seeded
masks, gradient through the same mask) in one compiled op, and stock Dropout wherever it
cannot run."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from forecast.model import fused, native
from forecast.model.fused import FusedDropout, dropout_eligible
from tests.conftest import require_fused_ops


@pytest.fixture(autouse=True, scope="module")
def compiled_ops():
    """These tests are about the fused op itself (skipped without it, saying why)."""
    require_fused_ops()


def draw(values, seed=(5, 0), rate=0.2) -> np.ndarray:
    """The op itself on ``values`` with a fixed seed."""
    return (
        native.fused_ops()
        .forecast_dropout(
            tf.constant(values, tf.float32),
            tf.constant(seed, tf.int64),
            rate=rate,
            scale=1 / (1 - rate),
        )
        .numpy()
    )


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.5, 0.9])
def test_drops_the_rate_and_scales_the_rest(rate):
    values = np.random.default_rng(0).normal(size=(300, 60, 50)).astype("float32")  # 900k
    out = draw(values, rate=rate)
    kept = out != 0
    # binomial standard error at n = 900k is at most 0.0005: 0.003 is six of them
    assert abs(kept.mean() - (1 - rate)) < 0.003
    scale = np.float32(1 / (1 - rate))
    np.testing.assert_array_equal(out[kept], values[kept] * scale)


def test_mask_depends_on_seed_and_position_only():
    """Element n's draw is a function of (seed, n): a shorter (odd) input sees the same
    mask prefix, whatever the threads did, and another seed gives another mask."""
    ones = np.ones(2_000_001, "float32")
    long, short = draw(ones), draw(ones[:1001])
    np.testing.assert_array_equal(long[:1001], short)
    np.testing.assert_array_equal(draw(ones[:1001]), short)  # repeatable
    other = draw(ones[:1001], seed=(5, 1))
    assert 0.5 < (other == short).mean() < 0.8  # independent masks agree on ~0.68 of units


def test_neighbouring_units_are_not_correlated():
    mask = (draw(np.ones(1_000_000, "float32")) != 0).astype(float)
    correlation = np.corrcoef(mask[:-1], mask[1:])[0, 1]
    assert abs(correlation) < 0.005  # both halves of one draw, and draw to draw


def test_layer_trains_with_masks_and_is_the_identity_at_inference():
    layer = FusedDropout(0.3, seed=1)
    inputs = tf.random.stateless_normal((64, 60, 50), seed=(1, 2))
    np.testing.assert_array_equal(layer(inputs), inputs)
    first, second = layer(inputs, training=True), layer(inputs, training=True)
    assert not np.array_equal(first, second)  # the seed generator moved on
    assert abs(np.mean(first.numpy() == 0) - 0.3) < 0.01


def test_same_seed_state_same_masks_in_eager_and_graph():
    layer = FusedDropout(0.5)
    inputs = tf.ones((8, 7))
    layer.seed_generator.state.assign(np.array([7, 0], "int64"))
    eager = layer(inputs, training=True)
    layer.seed_generator.state.assign(np.array([7, 0], "int64"))
    graph = tf.function(lambda x: layer(x, training=True))(inputs)
    np.testing.assert_array_equal(eager, graph)


def test_gradient_goes_through_the_same_mask():
    layer = FusedDropout(0.25, seed=4)
    inputs = tf.random.stateless_normal((33, 17), seed=(3, 4))
    weights = tf.random.stateless_normal((33, 17), seed=(5, 6))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = layer(inputs, training=True)
        loss = tf.reduce_sum(out * weights)
    gradient = tape.gradient(loss, inputs).numpy()
    scale = out.numpy() / inputs.numpy()  # 0 or 1/(1 - rate), elementwise
    np.testing.assert_allclose(gradient, weights.numpy() * scale, rtol=1e-6)
    assert {round(float(value), 5) for value in np.unique(scale)} == {0.0, round(1 / 0.75, 5)}


def test_the_fused_op_is_what_runs_while_training():
    layer = FusedDropout(0.2)
    graph = (
        tf.function(lambda x: layer(x, training=True))
        .get_concrete_function(tf.TensorSpec((None, 5), tf.float32))
        .graph
    )
    names = {op.type for op in graph.get_operations()}
    assert "ForecastDropout" in names and "StatelessRandomUniformV2" not in names


def test_falls_back_to_stock_dropout_where_the_op_does_not_apply(monkeypatch):
    assert dropout_eligible(FusedDropout(0.2))
    assert not dropout_eligible(FusedDropout(0.2, noise_shape=(None, 1, 5)))
    assert not dropout_eligible(FusedDropout(0.0))
    assert not dropout_eligible(FusedDropout(1.0))
    inputs = tf.ones((4, 3, 5))
    for kwargs in (dict(rate=0.5, noise_shape=(4, 1, 5)), dict(rate=1.0)):
        stock, ours = keras.layers.Dropout(**kwargs), FusedDropout(**kwargs)
        ours.seed_generator.state.assign(stock.seed_generator.state.value)
        np.testing.assert_array_equal(ours(inputs, training=True), stock(inputs, training=True))
    monkeypatch.setattr(fused, "fused_ops", lambda: None)  # no compiler: stock masks
    stock, ours = keras.layers.Dropout(0.5, seed=2), FusedDropout(0.5, seed=2)
    np.testing.assert_array_equal(ours(inputs, training=True), stock(inputs, training=True))


def test_config_switch_and_save_load(tmp_path):
    from forecast.config import load_config
    from forecast.model import build_model
    from forecast.model.saving import load_model

    overrides = ["data.lookback=6", "model.layers.0.units=3", "model.layers.2.units=3"]
    stock = build_model(load_config(None, [*overrides, "model.fused_dropout=false"]))
    model = build_model(load_config(None, overrides))
    assert [type(layer).__name__ for layer in stock.layers].count("Dropout") == 2
    assert [type(layer).__name__ for layer in model.layers].count("FusedDropout") == 2
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")  # safe_mode=True
    assert [type(layer).__name__ for layer in loaded.layers].count("FusedDropout") == 2
    assert loaded.layers[2].rate == 0.2
    windows = np.random.default_rng(1).normal(size=(4, 6, 1)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(windows, verbose=0), model.predict(windows, verbose=0), rtol=1e-6
    )
