"""The recurrent cells of the NumPy network (reference.py), step by step, with the textbook
equations: LSTM, GRU and SimpleRNN over a batch of windows, and the Keras activations they
use. Keras's weight layout is described in reference.py; these functions take the arrays
in that layout.
"""

from __future__ import annotations

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
    """lstm_steps' hidden states for the Keras defaults (tanh, sigmoid), by ``lstm_run`` from
    a zero state.  x: (batch, T, F) -> (batch, T, u)"""
    return lstm_run(x, kernel, recurrent_kernel, bias)[0]


def lstm_run(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray | None,
    state: tuple[np.ndarray, np.ndarray] | None = None,
    keep: tuple[int, ...] = (),
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """An LSTM with the Keras defaults (tanh, sigmoid) over x from ``state`` (h, c; zeros
    when None): the same operations in the same order as lstm_steps, in preallocated
    buffers and in place. Calibration and backtests run it over hundreds of windows 30 times
    a call, where the generic loop's whole-window product and temporaries cost more than its
    products; here x(t)·W is one product per step. Its numbers are the generic loop's to the
    bit (``tests/test_reference.py``): BLAS sums each product's terms in the same order
    whatever the rows, except for a single row, which NumPy hands to another routine, so one
    window keeps the whole-window product.

    Returns (the hidden states (batch, T, u), the final (h, c), and the (h, c) after each
    number of steps in ``keep``: a recursive forecast continues from them).
    x: (batch, T, F); state: each (batch, u)"""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    if batch == 1:  # (T, 1, 4u): x·W + b as lstm_steps computes it
        by_step = (x @ kernel + (bias if bias is not None else 0)).transpose(1, 0, 2)
    else:
        by_step = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, batch, F)
    hidden = np.empty((batch, steps, units), dtype=x.dtype)
    if state is None:
        h = np.zeros((batch, units), dtype=x.dtype)
        c = np.zeros((batch, units), dtype=x.dtype)
    else:
        h, c = (np.array(part, dtype=x.dtype) for part in state)  # copies: updated in place
    kept = {}
    gates = np.empty((batch, 4 * units), dtype=x.dtype)  # i, f, candidate, o
    recurrent = np.empty_like(gates)
    scratch = np.empty_like(h)
    input_gate, forget_gate = gates[:, :units], gates[:, units : 2 * units]
    candidate, output_gate = gates[:, 2 * units : 3 * units], gates[:, 3 * units :]
    for t in range(steps):
        if batch == 1:
            gates[:] = by_step[t]
        else:
            np.matmul(by_step[t], kernel, out=gates)
            if bias is not None:
                gates += bias
        np.matmul(h, recurrent_kernel, out=recurrent)
        gates += recurrent  # (x(t)·W + b) + h(t-1)·U, as lstm_steps adds them
        _sigmoid_in_place(gates[:, : 2 * units])  # i, f
        np.tanh(candidate, out=candidate)
        _sigmoid_in_place(output_gate)
        c *= forget_gate  # c = f c + i candidate
        np.multiply(input_gate, candidate, out=scratch)
        c += scratch
        np.tanh(c, out=scratch)  # h = o tanh(c)
        np.multiply(output_gate, scratch, out=h)
        hidden[:, t] = h
        if t + 1 in keep:
            kept[t + 1] = (h.copy(), c.copy())
    return hidden, (h, c), kept


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
