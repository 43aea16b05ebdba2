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

# NumPy versions of the Keras 3 activations a recurrent or dense layer may use.
ACTIVATION_FUNCTIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # = 1/(1+e^-x), without overflow
    "hard_sigmoid": lambda x: np.clip((x + 3.0) / 6.0, 0.0, 1.0),  # Keras 3: relu6(x+3)/6
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "linear": lambda x: x,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: (
        1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0)))
    ),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "exponential": np.exp,
    "silu": lambda x: x * 0.5 * (1.0 + np.tanh(0.5 * x)),
    "swish": lambda x: x * 0.5 * (1.0 + np.tanh(0.5 * x)),
}
RECURRENT_KINDS = {"LSTM": "lstm", "FusedLSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
DROPOUT_CLASSES = ("Dropout", "FusedDropout")  # FusedDropout: run folders made before 2026-12
LSTM_STATES = ("input_gate", "forget_gate", "output_gate", "candidate", "cell", "hidden")
GRU_STATES = ("update_gate", "reset_gate", "candidate", "hidden")


def activation_name(value: Any) -> str:
    """An activation's name: a config string, a serialized function, or a Keras function."""
    if isinstance(value, dict):
        return str(value.get("config", value.get("class_name")))
    return getattr(value, "__name__", str(value))


def activation(name: Any):
    """The NumPy function of a Keras activation (a name, or a Keras function)."""
    name = activation_name(name)
    try:
        return ACTIVATION_FUNCTIONS[name]
    except KeyError:
        raise ValueError(
            f"the NumPy network has no activation {name!r}; it knows "
            f"{', '.join(ACTIVATION_FUNCTIONS)}"
        ) from None


# --- the cells --------------------------------------------------------------------------------


def lstm_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    act: str = "tanh",
    recurrent_act: str = "sigmoid",
    record: bool = True,
) -> dict[str, np.ndarray]:
    """Run an LSTM over x (batch, T, inputs); every step's i, f, o, candidate, c and h
    (``record``), or h alone.  Each (batch, T, units)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    defaults = activation_name(act) == "tanh" and activation_name(recurrent_act) == "sigmoid"
    if defaults and not record:
        return {"hidden": _lstm_hidden(x, kernel, recurrent_kernel, bias)}
    projected = x @ kernel + (bias if bias is not None else 0)  # (batch, T, 4u): x W + b
    g, sigma = activation(act), activation(recurrent_act)
    h = np.zeros((batch, units), dtype=x.dtype)
    c = np.zeros((batch, units), dtype=x.dtype)
    out = {
        name: np.empty((batch, steps, units), dtype=x.dtype)
        for name in (LSTM_STATES if record else ("hidden",))
    }
    for t in range(steps):
        gates = projected[:, t] + h @ recurrent_kernel  # (batch, 4u) in the order i, f, c, o
        i = sigma(gates[:, :units])
        f = sigma(gates[:, units : 2 * units])
        candidate = g(gates[:, 2 * units : 3 * units])
        o = sigma(gates[:, 3 * units :])
        c = f * c + i * candidate
        h = o * g(c)
        out["hidden"][:, t] = h
        if record:
            for name, value in (
                ("input_gate", i),
                ("forget_gate", f),
                ("output_gate", o),
                ("candidate", candidate),
                ("cell", c),
            ):
                out[name][:, t] = value
    return out


def _sigmoid_in_place(values: np.ndarray) -> None:
    """values = sigmoid(values), as ACTIVATION_FUNCTIONS["sigmoid"] computes it, operation
    for operation (so to the bit), without temporaries."""
    values *= 0.5
    np.tanh(values, out=values)
    values += 1.0
    values *= 0.5


def _lstm_hidden(
    x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray | None
) -> np.ndarray:
    """lstm_steps' hidden states for the Keras defaults (tanh, sigmoid): the same operations
    in the same order, so the same numbers to the bit, but step by step in preallocated
    buffers (x(t)·W + b, then + h·U, then the gates in place). Calibration and backtests
    run it over hundreds of windows 30 times a call, where the generic loop's whole-window
    product and temporaries cost twice its per-step products.  x: (batch, T, F) ->
    (batch, T, u)"""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    by_step = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, batch, F)
    hidden = np.empty((batch, steps, units), dtype=x.dtype)
    h = np.zeros((batch, units), dtype=x.dtype)
    c = np.zeros((batch, units), dtype=x.dtype)
    gates = np.empty((batch, 4 * units), dtype=x.dtype)  # i, f, candidate, o
    recurrent = np.empty_like(gates)
    scratch = np.empty_like(h)
    input_gate, forget_gate = gates[:, :units], gates[:, units : 2 * units]
    candidate, output_gate = gates[:, 2 * units : 3 * units], gates[:, 3 * units :]
    for t in range(steps):
        np.matmul(by_step[t], kernel, out=gates)
        if bias is not None:
            gates += bias
        np.matmul(h, recurrent_kernel, out=recurrent)
        gates += recurrent
        _sigmoid_in_place(gates[:, : 2 * units])  # i, f
        np.tanh(candidate, out=candidate)
        _sigmoid_in_place(output_gate)
        c *= forget_gate  # c = f c + i candidate
        np.multiply(input_gate, candidate, out=scratch)
        c += scratch
        np.tanh(c, out=scratch)  # h = o tanh(c)
        np.multiply(output_gate, scratch, out=h)
        hidden[:, t] = h
    return hidden


def gru_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    act: str = "tanh",
    recurrent_act: str = "sigmoid",
    reset_after: bool = True,
    record: bool = True,
) -> dict[str, np.ndarray]:
    """Run a GRU over x; every step's update gate z, reset gate r, candidate and h
    (``record``), or h alone.  Each (batch, T, units)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    g, sigma = activation(act), activation(recurrent_act)
    if bias is None:
        input_bias = recurrent_bias = np.zeros(3 * units, dtype=x.dtype)
    elif reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros(3 * units, dtype=x.dtype)
    z_block, r_block, h_block = (slice(k * units, (k + 1) * units) for k in range(3))
    projected = x @ kernel + input_bias  # (batch, T, 3u)
    h = np.zeros((batch, units), dtype=x.dtype)
    out = {
        name: np.empty((batch, steps, units), dtype=x.dtype)
        for name in (GRU_STATES if record else ("hidden",))
    }
    for t in range(steps):
        x_part = projected[:, t]  # (batch, 3u)
        if reset_after:
            h_part = h @ recurrent_kernel + recurrent_bias
            z = sigma(x_part[:, z_block] + h_part[:, z_block])
            r = sigma(x_part[:, r_block] + h_part[:, r_block])
            candidate = g(x_part[:, h_block] + r * h_part[:, h_block])
        else:
            h_part = h @ recurrent_kernel[:, : 2 * units]
            z = sigma(x_part[:, z_block] + h_part[:, z_block])
            r = sigma(x_part[:, r_block] + h_part[:, r_block])
            candidate = g(x_part[:, h_block] + (r * h) @ recurrent_kernel[:, h_block])
        h = z * h + (1.0 - z) * candidate
        out["hidden"][:, t] = h
        if record:
            for name, value in (("update_gate", z), ("reset_gate", r), ("candidate", candidate)):
                out[name][:, t] = value
    return out


def simple_rnn_steps(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    act: str = "tanh",
    record: bool = True,
) -> dict[str, np.ndarray]:
    """Run a SimpleRNN over x: h_t = act(x_t W + h_{t-1} U + b).  (batch, T, units)"""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    g = activation(act)
    projected = x @ kernel + (bias if bias is not None else 0)  # (batch, T, u)
    h = np.zeros((batch, units), dtype=x.dtype)
    hidden = np.empty((batch, steps, units), dtype=x.dtype)
    for t in range(steps):
        h = g(projected[:, t] + h @ recurrent_kernel)
        hidden[:, t] = h
    return {"hidden": hidden}


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
