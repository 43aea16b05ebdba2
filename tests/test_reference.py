"""The NumPy network reproduces Keras's outputs, from a model in memory and from its saved
file alone, on every architecture the config builds."""

from __future__ import annotations

import numpy as np
import pytest

from forecast.config import RECURRENT_TYPES, load_config
from forecast.model import build_model
from forecast.model.cells import lstm_steps
from forecast.model.reference import Network


def random_windows(lookback: int, batch: int = 6, features: int = 1, seed: int = 0) -> np.ndarray:
    return (
        np.random.default_rng(seed)
        .uniform(-0.2, 1.2, (batch, lookback, features))
        .astype("float32")
    )


def randomised(model):
    """Every weight random (bias initialisers are zeros: give biases values that matter)."""
    generator = np.random.default_rng(1)
    model.set_weights(
        [generator.normal(0, 0.4, w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


ARCHITECTURES = {
    "lstm": [],  # the reference stack (fused LSTM and dropout layers)
    "stock-lstm": ["model.fused_lstm=false", "model.fused_dropout=false"],
    "gru": ["model.layers.0.type=gru", "model.layers.2.type=gru"],
    "gru-reset-before": [
        "model.layers.0.type=gru",
        "model.layers.2.type=gru",
        "model.layers.0.reset_after=false",
    ],
    "simple_rnn": ["model.layers.0.type=simple_rnn", "model.layers.2.type=simple_rnn"],
    "lstm-gru": ["model.layers.0.type=lstm", "model.layers.2.type=gru"],
    "lstm-activations": [
        "model.layers.0.recurrent_activation=hard_sigmoid",
        "model.layers.2.activation=relu",
        "model.layers.2.use_bias=false",
    ],
    "rnn-gru-activations": [
        "model.layers.0.type=simple_rnn",
        "model.layers.0.activation=relu",
        "model.layers.2.type=gru",
        "model.layers.2.recurrent_activation=hard_sigmoid",
        "model.layers.2.activation=softsign",
    ],
    "bidirectional": ["model.layers.0.bidirectional=true", "model.layers.2.bidirectional=true"],
    "bidirectional-gru": [
        "model.layers.0.bidirectional=true",
        "model.layers.2.type=gru",
        "model.layers.2.bidirectional=true",
    ],
    "go-backwards": ["model.layers.2.go_backwards=true"],
    "horizon-3": ["model.horizon=3"],
    "dense-head": [
        "model.layers=[{type: lstm, units: 7}, {type: dropout, rate: 0.1}, "
        "{type: dense, units: 5, activation: elu}]"
    ],
    "mlp": [
        "model.layers=[{type: dense, units: 6, activation: relu}, "
        "{type: dropout, rate: 0.1}, {type: dense, units: 4, activation: selu}]"
    ],
}


@pytest.mark.parametrize("overrides", ARCHITECTURES.values(), ids=ARCHITECTURES.keys())
def test_numpy_network_matches_keras_from_memory_and_from_its_file(overrides, tmp_path):
    import keras

    config = load_config(
        None,
        [
            "data.lookback=12",
            "model.layers.0.units=7",
            "model.layers.2.units=5",
            "train.seed=3",
            "data.features=[close, log_return]",
            *overrides,
        ],
    )
    keras.utils.set_random_seed(3)
    model = randomised(build_model(config, n_features=2))
    windows = random_windows(12, features=2)
    expected = model.predict(windows, verbose=0)  # (batch, H)
    model.save(tmp_path / "model.keras")
    for network in (Network.from_keras(model), Network.from_file(tmp_path / "model.keras")):
        assert (network.lookback, network.features) == (12, 2)
        assert network.outputs == config.model.horizon
        np.testing.assert_allclose(network.predict(windows), expected, rtol=1e-5, atol=1e-6)
        trace = network.trace(windows)
        np.testing.assert_array_equal(trace.output, network.predict(windows))
    if any(layer.type in RECURRENT_TYPES for layer in config.model.layers):
        first = trace.layers[0]
        assert first.steps["hidden"].shape == (6, 12, 7)
        if first.kind == "lstm":
            for gate in ("input_gate", "forget_gate", "output_gate"):
                assert first.steps[gate].min() >= 0 and first.steps[gate].max() <= 1


def test_float64_network_is_the_equations_reference(tmp_path):
    config = load_config(
        None, ["data.lookback=12", "model.layers.0.units=7", "model.layers.2.units=5"]
    )
    model = randomised(build_model(config))
    windows = random_windows(12, batch=40)
    exact = Network.from_keras(model, dtype="float64").predict(windows)
    assert exact.dtype == np.float64
    np.testing.assert_allclose(Network.from_keras(model).predict(windows), exact, rtol=1e-5)


def test_lstm_equations_by_hand_for_one_unit():
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
    assert set(lstm_steps(x, kernel, recurrent, bias, record=False)) == {"hidden"}


def test_numpy_network_matches_a_trained_run_on_its_test_windows(trained):
    from forecast.store.runs import load_run

    run = load_run(trained.folder)
    windows = trained.forecaster.dataset().x_test
    expected = run.forecaster.keras_model().predict(windows, verbose=0)
    network = Network.from_file(trained.folder / "model.keras")
    np.testing.assert_allclose(network.predict(windows), expected, rtol=1e-5, atol=1e-6)
    assert [layer.kind for layer in network.trace(windows[-2:]).layers] == ["lstm", "lstm"]


@pytest.mark.parametrize("with_bias, batch", [(True, 37), (False, 37), (True, 1), (True, 2)])
def test_the_fast_lstm_loop_gives_the_generic_loops_numbers_to_the_bit(with_bias, batch):
    """Forecasts and calibration take the preallocated per-step loop; ``explain`` (every
    gate recorded) the generic one: the same operations in the same order, the same bits."""
    from forecast.model.reference import lstm_steps

    generator = np.random.default_rng(7)
    x = generator.standard_normal((batch, 12, 3)).astype("float32")  # (batch, T, features)
    kernel = (0.4 * generator.standard_normal((3, 4 * 5))).astype("float32")
    recurrent = (0.4 * generator.standard_normal((5, 4 * 5))).astype("float32")
    bias = (0.1 * generator.standard_normal(4 * 5)).astype("float32") if with_bias else None
    fast = lstm_steps(x, kernel, recurrent, bias, record=False)["hidden"]
    generic = lstm_steps(x, kernel, recurrent, bias, record=True)["hidden"]
    assert fast.shape == (batch, 12, 5) and np.array_equal(fast, generic)


def lstm_stack(units: tuple[int, ...], lookback: int, seed: int = 3, gru: bool = False) -> Network:
    """A seeded NumPy stack of recurrent layers (all but the last returning sequences) under
    a Dense output of one value, reading one feature."""
    from forecast.model.reference import Dense, Recurrent

    generator = np.random.default_rng(seed)
    layers, inputs = [], 1
    for index, size in enumerate(units):
        gates = 3 if gru else 4
        layers.append(
            Recurrent(
                f"rnn{index}",
                "gru" if gru else "lstm",
                (0.5 * generator.standard_normal((inputs, gates * size))).astype("float32"),
                (0.5 * generator.standard_normal((size, gates * size))).astype("float32"),
                (
                    0.1 * generator.standard_normal((2, gates * size) if gru else gates * size)
                ).astype("float32"),
                return_sequences=index < len(units) - 1,
            )
        )
        inputs = size
    kernel = (0.3 * generator.standard_normal((inputs, 1))).astype("float32")
    layers.append(Dense("out", kernel, np.float32([0.01])))
    return Network(tuple(layers), lookback=lookback, features=1)


@pytest.mark.parametrize("target", ["price", "log_return"])
def test_recursive_paths_run_each_windows_actual_rows_once_and_give_the_same_bits(target):
    """From many origins at once, each distinct window start is run once over its actual
    rows and every step continues from its state (``model/recursion.py``): the paths equal
    the window-by-window recursion's to the bit, for steps within and beyond the lookback,
    origins at the very end of the bars included; a single origin, GRUs and dropout samples
    keep the window-by-window path."""
    from forecast.data.windows import WindowSpec, fit_scaler
    from forecast.forecasting.predictor import Predictor
    from forecast.model.recursion import shares_prefixes
    from tests.conftest import synthetic_prices

    bars = synthetic_prices(160, seed=5).to_frame("price")
    spec = WindowSpec(12, target=target)
    values = np.log(bars["price"]).diff().to_numpy()[1:] if target == "log_return" else bars
    network = lstm_stack((6, 9), lookback=12)
    predictor = Predictor(network, fit_scaler(np.asarray(values)[:100]), spec)
    prices = bars["price"].to_numpy()
    for origins in (np.arange(14, 161), np.array([20, 90]), np.arange(150, 161, 3)):
        for steps in (2, 9, 30):
            assert shares_prefixes(network, len(origins), steps)
            paths = predictor.paths(bars, origins, steps)  # (n, 1, steps)
            windows = predictor.windows(bars, origins)
            one_by_one = predictor._recurse(windows, prices[origins - 1], steps, False)
            assert paths.shape == (len(origins), 1, steps)
            assert np.array_equal(paths[:, 0], one_by_one), (len(origins), steps)
    assert not shares_prefixes(network, 1, 30)  # one origin: another BLAS routine
    assert not shares_prefixes(lstm_stack((6, 9), 12, gru=True), 40, 30)
    assert not shares_prefixes(network, 40, 1)
