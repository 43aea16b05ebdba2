"""The NumPy reference cell reproduces Keras's outputs, layer type by layer type."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.config import load_config
from forecast.model import build_model
from forecast.model.reference import run_stack


def reference_matches(model, windows) -> StackTrace:  # noqa: F821
    expected = model.predict(windows, verbose=0)  # (batch, 1)
    trace = run_stack(model, windows)
    np.testing.assert_allclose(trace.output, expected, rtol=1e-5, atol=1e-6)
    return trace


def random_windows(lookback: int, batch: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.2, 1.2, (batch, lookback, 1)).astype(
        "float32")


@pytest.mark.parametrize("overrides", [
    [],  # the reference LSTM stack
    ["model.layers.0.type=gru", "model.layers.2.type=gru"],
    ["model.layers.0.type=gru", "model.layers.2.type=gru", "model.layers.0.reset_after=false"],
    ["model.layers.0.type=simple_rnn", "model.layers.2.type=simple_rnn"],
    ["model.layers.0.type=lstm", "model.layers.2.type=gru"],
    ["model.layers.0.recurrent_activation=hard_sigmoid", "model.layers.2.activation=relu",
     "model.layers.2.use_bias=false"],
    ["model.layers.0.type=simple_rnn", "model.layers.0.activation=relu",
     "model.layers.2.type=gru", "model.layers.2.recurrent_activation=hard_sigmoid",
     "model.layers.2.activation=softsign"],
    ["model.layers.0.bidirectional=true", "model.layers.2.bidirectional=true"],
    ["model.layers.2.go_backwards=true"],
], ids=["lstm", "gru", "gru-reset-before", "simple_rnn", "lstm-gru", "lstm-activations",
        "rnn-gru-activations", "bidirectional", "go-backwards"])
def test_reference_matches_keras_on_random_inputs(overrides):
    config = load_config(None, ["data.lookback=12", "model.layers.0.units=7",
                                "model.layers.2.units=5", "train.seed=3", *overrides])
    import keras

    keras.utils.set_random_seed(3)
    model = build_model(config)
    # bias initialisers are zeros: give every weight random values so biases matter too
    generator = np.random.default_rng(1)
    model.set_weights([generator.normal(0, 0.4, w.shape).astype("float32")
                       for w in model.get_weights()])
    trace = reference_matches(model, random_windows(12))
    first = trace.layers[0]
    assert first.steps["hidden"].shape == (6, 12, 7)
    if first.kind == "lstm":
        for gate in ("input_gate", "forget_gate", "output_gate"):
            assert 0 <= first.steps[gate].min() and first.steps[gate].max() <= 1


def test_lstm_equations_by_hand_for_one_unit():
    from forecast.model.reference import lstm_steps

    x = np.array([[[1.0], [0.5]]])  # (1, 2, 1)
    kernel = np.array([[0.1, 0.2, 0.3, 0.4]])  # i, f, c, o
    recurrent = np.array([[0.5, 0.6, 0.7, 0.8]])
    bias = np.array([0.0, 1.0, 0.0, 0.0])
    steps = lstm_steps(x, kernel, recurrent, bias)
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i1, f1, c_hat1, o1 = sigmoid(0.1), sigmoid(1.2), np.tanh(0.3), sigmoid(0.4)
    c1 = i1 * c_hat1
    h1 = o1 * np.tanh(c1)
    i2 = sigmoid(0.05 + 0.5 * h1)
    f2 = sigmoid(0.1 + 0.6 * h1 + 1.0)
    c_hat2 = np.tanh(0.15 + 0.7 * h1)
    o2 = sigmoid(0.2 + 0.8 * h1)
    c2 = f2 * c1 + i2 * c_hat2
    assert steps["forget_gate"][0, 0, 0] == pytest.approx(f1)
    assert steps["cell"][0, 1, 0] == pytest.approx(c2)
    assert steps["hidden"][0, 1, 0] == pytest.approx(o2 * np.tanh(c2))


def test_reference_matches_a_trained_run_on_real_windows(trained):
    from forecast.store.runs import load_run

    run = load_run(trained.run_dir)
    trace = reference_matches(run.model, trained.dataset.x_test[-8:])
    assert [layer.kind for layer in trace.layers] == ["lstm", "lstm"]
