"""A readable NumPy re-implementation of a trained Keras recurrent stack, step by step.

It exists so people can see the LSTM equations at work on their own model:

    i_t = σ(x_t W_xi + h_{t-1} W_hi + b_i)      f_t = σ(x_t W_xf + h_{t-1} W_hf + b_f)
    o_t = σ(x_t W_xo + h_{t-1} W_ho + b_o)      c̃_t = tanh(x_t W_xc + h_{t-1} W_hc + b_c)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t             h_t = o_t ⊙ tanh(c_t)

(σ is the layer's ``recurrent_activation``, tanh its ``activation``.) Dropout is inactive,
as at prediction time. The outputs match ``model.predict`` to float32 round-off.

Keras weight layout (what ``layer.get_weights()`` returns):
- LSTM: kernel (inputs, 4·units), recurrent_kernel (units, 4·units), bias (4·units,);
  the four column blocks are the gates in the order i, f, c (candidate), o.
- GRU: kernel (inputs, 3·units), recurrent_kernel (units, 3·units); blocks in the order
  z (update), r (reset), h (candidate). With ``reset_after=True`` (Keras 3's default) the
  bias is (2, 3·units): row 0 for the input side, row 1 for the recurrent side, and the reset
  gate multiplies the recurrent candidate term after the matrix product; with
  ``reset_after=False`` the bias is (3·units,) and r multiplies h_{t-1} before it.
- SimpleRNN: kernel (inputs, units), recurrent_kernel (units, units), bias (units,).
- Bidirectional: the forward layer's weights, then the backward layer's; outputs are
  concatenated [forward, backward], the backward sequence flipped back into time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# NumPy versions of the Keras 3 activations a recurrent or dense layer may use.
ACTIVATION_FUNCTIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip((x + 3.0) / 6.0, 0.0, 1.0),  # Keras 3: relu6(x+3)/6
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "linear": lambda x: x,
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0.0))),
    "softplus": lambda x: np.logaddexp(0.0, x),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "exponential": np.exp,
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
}


def activation(name: str):
    try:
        return ACTIVATION_FUNCTIONS[name]
    except KeyError:
        raise ValueError(f"the NumPy reference has no activation {name!r}; it knows "
                         f"{', '.join(ACTIVATION_FUNCTIONS)}") from None


def _activation_name(function: Any) -> str:
    return getattr(function, "__name__", str(function))


@dataclass
class LayerTrace:
    """Every step of one recurrent layer: arrays of shape (batch, time, units)."""

    name: str
    kind: str  # "lstm", "gru" or "simple_rnn" (a bidirectional layer: its forward half)
    steps: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class StackTrace:
    layers: list[LayerTrace]
    output: np.ndarray  # (batch, 1): the network's prediction (scaled)


def lstm_steps(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
               bias: np.ndarray | None, act: str = "tanh", recurrent_act: str = "sigmoid"
               ) -> dict[str, np.ndarray]:
    """Run an LSTM over x (batch, T, inputs); return i, f, o, candidate, c, h per step."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    g, sigma = activation(act), activation(recurrent_act)
    W = {gate: kernel[:, k * units:(k + 1) * units] for k, gate in enumerate("ifco")}
    U = {gate: recurrent_kernel[:, k * units:(k + 1) * units] for k, gate in enumerate("ifco")}
    b = {gate: (bias[k * units:(k + 1) * units] if bias is not None else 0.0)
         for k, gate in enumerate("ifco")}
    h = np.zeros((batch, units))  # (batch, units)
    c = np.zeros((batch, units))
    out = {name: np.zeros((batch, steps, units)) for name in
           ("input_gate", "forget_gate", "output_gate", "candidate", "cell", "hidden")}
    for t in range(steps):
        x_t = x[:, t, :]  # (batch, inputs)
        i = sigma(x_t @ W["i"] + h @ U["i"] + b["i"])
        f = sigma(x_t @ W["f"] + h @ U["f"] + b["f"])
        o = sigma(x_t @ W["o"] + h @ U["o"] + b["o"])
        candidate = g(x_t @ W["c"] + h @ U["c"] + b["c"])
        c = f * c + i * candidate
        h = o * g(c)
        for name, value in (("input_gate", i), ("forget_gate", f), ("output_gate", o),
                            ("candidate", candidate), ("cell", c), ("hidden", h)):
            out[name][:, t, :] = value
    return out


def gru_steps(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
              bias: np.ndarray | None, act: str = "tanh", recurrent_act: str = "sigmoid",
              reset_after: bool = True) -> dict[str, np.ndarray]:
    """Run a GRU over x; return update gate z, reset gate r, candidate and h per step."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    g, sigma = activation(act), activation(recurrent_act)
    if bias is None:
        input_bias = recurrent_bias = np.zeros(3 * units)
    elif reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros(3 * units)
    blocks = [slice(k * units, (k + 1) * units) for k in range(3)]  # z, r, h
    h = np.zeros((batch, units))
    out = {name: np.zeros((batch, steps, units)) for name in
           ("update_gate", "reset_gate", "candidate", "hidden")}
    for t in range(steps):
        x_part = x[:, t, :] @ kernel + input_bias  # (batch, 3·units)
        if reset_after:
            h_part = h @ recurrent_kernel + recurrent_bias
            z = sigma(x_part[:, blocks[0]] + h_part[:, blocks[0]])
            r = sigma(x_part[:, blocks[1]] + h_part[:, blocks[1]])
            candidate = g(x_part[:, blocks[2]] + r * h_part[:, blocks[2]])
        else:
            z = sigma(x_part[:, blocks[0]] + h @ recurrent_kernel[:, blocks[0]])
            r = sigma(x_part[:, blocks[1]] + h @ recurrent_kernel[:, blocks[1]])
            candidate = g(x_part[:, blocks[2]] + (r * h) @ recurrent_kernel[:, blocks[2]])
        h = z * h + (1.0 - z) * candidate
        for name, value in (("update_gate", z), ("reset_gate", r), ("candidate", candidate),
                            ("hidden", h)):
            out[name][:, t, :] = value
    return out


def simple_rnn_steps(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                     bias: np.ndarray | None, act: str = "tanh") -> dict[str, np.ndarray]:
    """Run a SimpleRNN over x: h_t = act(x_t W + h_{t-1} U + b)."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    g = activation(act)
    h = np.zeros((batch, units))
    hidden = np.zeros((batch, steps, units))
    for t in range(steps):
        h = g(x[:, t, :] @ kernel + h @ recurrent_kernel + (bias if bias is not None else 0.0))
        hidden[:, t, :] = h
    return {"hidden": hidden}


def _run_recurrent(layer: Any, weights: list[np.ndarray], x: np.ndarray
                   ) -> tuple[str, dict[str, np.ndarray]]:
    """One Keras recurrent layer (not wrapped) over x, honouring go_backwards."""
    import keras

    kind = next(name for name, base in (("LSTM", keras.layers.LSTM), ("GRU", keras.layers.GRU),
                                        ("SimpleRNN", keras.layers.SimpleRNN), ("", object))
                if isinstance(layer, base))  # FusedLSTM counts as an LSTM
    weights = [np.asarray(w, dtype="float64") for w in weights]
    kernel, recurrent_kernel = weights[0], weights[1]
    bias = weights[2] if layer.use_bias else None
    act = _activation_name(layer.activation)
    if layer.go_backwards:
        x = x[:, ::-1, :]  # Keras reads the window from its end; sequences stay reversed
    if kind == "LSTM":
        return "lstm", lstm_steps(x, kernel, recurrent_kernel, bias, act,
                                  _activation_name(layer.recurrent_activation))
    if kind == "GRU":
        return "gru", gru_steps(x, kernel, recurrent_kernel, bias, act,
                                _activation_name(layer.recurrent_activation),
                                reset_after=layer.reset_after)
    if kind == "SimpleRNN":
        return "simple_rnn", simple_rnn_steps(x, kernel, recurrent_kernel, bias, act)
    raise ValueError(f"the NumPy reference does not know layer type {type(layer).__name__}")


def run_stack(model: Any, windows: np.ndarray) -> StackTrace:
    """Run a trained Keras forecaster in NumPy, keeping every recurrent step.

    windows: (batch, lookback, n_features) as fed to ``model.predict``.
    """
    import keras

    x = np.asarray(windows, dtype="float64")  # (batch, T, features)
    traces: list[LayerTrace] = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout)):
            continue  # dropout is inactive at prediction time
        if isinstance(layer, keras.layers.Flatten):
            x = x.reshape(x.shape[0], -1)
        elif isinstance(layer, keras.layers.Dense):
            kernel, *rest = [np.asarray(w, dtype="float64") for w in layer.get_weights()]
            x = activation(_activation_name(layer.activation))(
                x @ kernel + (rest[0] if rest else 0.0))
        elif isinstance(layer, keras.layers.Bidirectional):
            weights = layer.get_weights()
            half = len(weights) // 2
            kind, forward = _run_recurrent(layer.forward_layer, weights[:half], x)
            _, backward = _run_recurrent(layer.backward_layer, weights[half:], x)
            traces.append(LayerTrace(layer.name, kind, forward))
            if layer.return_sequences:
                # the backward half's steps run from the window's end: flip them back
                x = np.concatenate([forward["hidden"], backward["hidden"][:, ::-1, :]], axis=-1)
            else:
                x = np.concatenate([forward["hidden"][:, -1], backward["hidden"][:, -1]],
                                   axis=-1)
        elif isinstance(layer, keras.layers.RNN):
            kind, steps = _run_recurrent(layer, layer.get_weights(), x)
            traces.append(LayerTrace(layer.name, kind, steps))
            x = steps["hidden"] if layer.return_sequences else steps["hidden"][:, -1]
        else:
            raise ValueError(f"the NumPy reference does not know layer {layer.name} "
                             f"({type(layer).__name__})")
    return StackTrace(layers=traces, output=x)
