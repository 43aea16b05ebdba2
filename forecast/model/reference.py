"""The network's forward pass in NumPy, with the textbook equations: one implementation, two
fronts.

- ``Network.from_file(run/"model.keras")`` reads the saved network with the standard library
  and h5py alone (a ``.keras`` file is a zip of ``config.json`` and ``model.weights.h5``): no
  TensorFlow, no Keras. Forecasts, their calibration and ``explain`` run on it.
- ``Network.from_keras(model)`` takes the weights of a Keras model in memory (backtests,
  tests, notebooks).

``predict`` runs a batch of windows to the outputs; ``trace`` also keeps every step of every
recurrent layer (gates, candidate, cell, hidden) so people can see the equations at work on
their own model:

    i_t = σ(x_t W_xi + h_{t-1} W_hi + b_i)      f_t = σ(x_t W_xf + h_{t-1} W_hf + b_f)
    o_t = σ(x_t W_xo + h_{t-1} W_ho + b_o)      c̃_t = tanh(x_t W_xc + h_{t-1} W_hc + b_c)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t             h_t = o_t ⊙ tanh(c_t)

(σ is the layer's ``recurrent_activation``, tanh its ``activation``.) Dropout is the
identity, as at prediction time. Outputs match ``model.predict`` within 1e-5 relative
(tests/test_reference.py, every architecture the config builds).

Keras weight layout (what ``layer.get_weights()`` returns, and the file stores):
- LSTM: kernel (inputs, 4·units), recurrent_kernel (units, 4·units), bias (4·units,);
  the four column blocks are the gates in the order i, f, c (candidate), o.
- GRU: kernel (inputs, 3·units), recurrent_kernel (units, 3·units); blocks in the order
  z (update), r (reset), h (candidate). With ``reset_after=True`` (Keras 3's default) the
  bias is (2, 3·units): row 0 for the input side, row 1 for the recurrent side, and the reset
  gate multiplies the recurrent candidate term after the matrix product; with
  ``reset_after=False`` the bias is (3·units,) and r multiplies h_{t-1} before it.
- SimpleRNN: kernel (inputs, units), recurrent_kernel (units, units), bias (units,).
- Bidirectional: a forward and a backward layer; outputs are concatenated [forward,
  backward], the backward sequence flipped back into time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecast.model.cells import (
    activation,
    activation_name,
    gru_steps,
    lstm_steps,
    simple_rnn_steps,
)

RECURRENT_KINDS = {"LSTM": "lstm", "FusedLSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
DROPOUT_CLASSES = ("Dropout", "FusedDropout")  # FusedDropout: run folders made before 2026-12


# --- the layers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recurrent:
    """One recurrent layer (LSTM, GRU or SimpleRNN) with its weights."""

    name: str
    kind: str  # "lstm", "gru" or "simple_rnn"
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: np.ndarray | None
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = True
    go_backwards: bool = False
    return_sequences: bool = False

    def steps(self, x: np.ndarray, record: bool) -> dict[str, np.ndarray]:
        """Every step over the window, in the order the layer reads it.  (batch, T, units)"""
        if self.go_backwards:
            x = x[:, ::-1, :]  # Keras reads the window from its end; sequences stay reversed
        arguments = (x, self.kernel, self.recurrent_kernel, self.bias, self.activation)
        if self.kind == "lstm":
            return lstm_steps(*arguments, self.recurrent_activation, record=record)
        if self.kind == "gru":
            return gru_steps(
                *arguments, self.recurrent_activation, reset_after=self.reset_after, record=record
            )
        return simple_rnn_steps(*arguments, record=record)


@dataclass(frozen=True)
class Bidirectional:
    name: str
    forward: Recurrent
    backward: Recurrent  # go_backwards: its steps run from the window's end
    return_sequences: bool = False


@dataclass(frozen=True)
class Dense:
    name: str
    kernel: np.ndarray
    bias: np.ndarray | None
    activation: str = "linear"


@dataclass(frozen=True)
class Flatten:
    name: str


@dataclass(frozen=True)
class TickerEmbedding:
    """A global model's ticker vectors: the window's last column (the ticker's index) is
    replaced by its row at every step."""

    name: str
    embeddings: np.ndarray  # (tickers, D)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ids = np.rint(x[..., -1]).astype("int64")  # (batch, T)
        return np.concatenate([x[..., :-1], self.embeddings[ids]], axis=-1)  # (batch, T, F+D)


@dataclass
class LayerTrace:
    """Every step of one recurrent layer: arrays of shape (batch, time, units)."""

    name: str
    kind: str  # "lstm", "gru" or "simple_rnn" (a bidirectional layer: its forward half)
    steps: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class StackTrace:
    layers: list[LayerTrace]
    output: np.ndarray  # (batch, H): the network's outputs (scaled)


@dataclass(frozen=True)
class Network:
    """A trained forecaster's network as NumPy arrays: windows (batch, lookback, features) →
    outputs (batch, H)."""

    layers: tuple[Recurrent | Bidirectional | Dense | Flatten | TickerEmbedding, ...]
    lookback: int
    features: int
    dtype: str = "float32"  # Keras's own precision (float64: the equations' reference)

    @property
    def outputs(self) -> int:
        """H: the bars one call predicts (``model.horizon``)."""
        return int(
            next(layer for layer in reversed(self.layers) if isinstance(layer, Dense)).kernel.shape[
                1
            ]
        )

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """The outputs of a batch of windows.  (batch, L, F) -> (batch, H)"""
        return self._run(windows, record=False).output

    def trace(self, windows: np.ndarray) -> StackTrace:
        """The outputs, and every step of every recurrent layer (for ``explain``)."""
        return self._run(windows, record=True)

    def _run(self, windows: np.ndarray, record: bool) -> StackTrace:
        x = np.asarray(windows, dtype=self.dtype)  # (batch, T, features)
        traces: list[LayerTrace] = []
        for layer in self.layers:
            if isinstance(layer, TickerEmbedding):
                x = layer(x)
            elif isinstance(layer, Flatten):
                x = x.reshape(x.shape[0], -1)
            elif isinstance(layer, Dense):
                x = activation(layer.activation)(
                    x @ layer.kernel + (layer.bias if layer.bias is not None else 0)
                )
            elif isinstance(layer, Bidirectional):
                forward = layer.forward.steps(x, record)
                backward = layer.backward.steps(x, record)
                if record:
                    traces.append(LayerTrace(layer.name, layer.forward.kind, forward))
                if layer.return_sequences:
                    # the backward half's steps run from the window's end: flip them back
                    x = np.concatenate([forward["hidden"], backward["hidden"][:, ::-1]], axis=-1)
                else:
                    x = np.concatenate(
                        [forward["hidden"][:, -1], backward["hidden"][:, -1]], axis=-1
                    )
            else:
                steps = layer.steps(x, record)
                if record:
                    traces.append(LayerTrace(layer.name, layer.kind, steps))
                x = steps["hidden"] if layer.return_sequences else steps["hidden"][:, -1]
        return StackTrace(layers=traces, output=x)

    # --- the two fronts -------------------------------------------------------------------

    @classmethod
    def from_keras(cls, model: Any, dtype: str = "float32") -> Network:
        """The network of a Keras model in memory (its config and ``get_weights``)."""

        def weights(layer: Any) -> dict[str, list[np.ndarray]]:
            if hasattr(layer, "forward_layer"):
                return {
                    "forward_layer": layer.forward_layer.get_weights(),
                    "backward_layer": layer.backward_layer.get_weights(),
                }
            return {"": layer.get_weights()}

        layers = [
            (type(layer).__name__, layer.get_config(), weights(layer)) for layer in model.layers
        ]
        return cls._build(layers, tuple(model.input_shape), dtype)

    @classmethod
    def from_file(cls, path: str | Path, dtype: str = "float32") -> Network:
        """The network saved in a ``.keras`` file, read without TensorFlow or Keras."""
        from forecast.model.keras_file import read_layers

        layers, input_shape = read_layers(path)
        return cls._build(layers, tuple(input_shape), dtype)

    @classmethod
    def _build(
        cls,
        layers: list[tuple[str, dict, dict[str, list[np.ndarray]]]],
        input_shape: tuple,
        dtype: str,
    ) -> Network:
        built: list[Recurrent | Bidirectional | Dense | Flatten | TickerEmbedding] = []
        for class_name, config, weights in layers:
            if class_name == "InputLayer" or class_name in DROPOUT_CLASSES:
                continue  # dropout is inactive at prediction time
            if class_name == "Flatten":
                built.append(Flatten(config["name"]))
            elif class_name == "TickerEmbedding":
                built.append(TickerEmbedding(config["name"], _arrays(weights[""], dtype)[0]))
            elif class_name == "Dense":
                kernel, *bias = _arrays(weights[""], dtype)
                built.append(
                    Dense(
                        config["name"],
                        kernel,
                        bias[0] if bias else None,
                        activation_name(config.get("activation", "linear")),
                    )
                )
            elif class_name == "Bidirectional":
                inner = config["layer"]["config"]
                backward = (config.get("backward_layer") or config["layer"])["config"]
                built.append(
                    Bidirectional(
                        config["name"],
                        _recurrent(
                            config["layer"]["class_name"], inner, weights["forward_layer"], dtype
                        ),
                        _recurrent(
                            config["layer"]["class_name"],
                            {**backward, "go_backwards": True},
                            weights["backward_layer"],
                            dtype,
                        ),
                        return_sequences=bool(inner.get("return_sequences", False)),
                    )
                )
            elif class_name in RECURRENT_KINDS:
                built.append(_recurrent(class_name, config, weights[""], dtype))
            else:
                raise ValueError(
                    f"the NumPy network does not know layer {config.get('name')} ({class_name})"
                )
        return cls(
            layers=tuple(built),
            lookback=int(input_shape[1]),
            features=int(input_shape[2]),
            dtype=dtype,
        )


def _arrays(weights: list[Any], dtype: str) -> list[np.ndarray]:
    return [np.asarray(weight, dtype=dtype) for weight in weights]


def _recurrent(class_name: str, config: dict, weights: list[Any], dtype: str) -> Recurrent:
    kind = RECURRENT_KINDS[class_name]
    kernel, recurrent_kernel, *bias = _arrays(weights, dtype)
    return Recurrent(
        name=config["name"],
        kind=kind,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias=bias[0] if bias and config.get("use_bias", True) else None,
        activation=activation_name(config.get("activation", "tanh")),
        recurrent_activation=activation_name(config.get("recurrent_activation", "sigmoid")),
        reset_after=bool(config.get("reset_after", True)),
        go_backwards=bool(config.get("go_backwards", False)),
        return_sequences=bool(config.get("return_sequences", False)),
    )
