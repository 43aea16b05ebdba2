"""Recursive forecasts from many origins at once, each window's actual rows run once.

A recursive forecast k bars ahead of origin o reads the window of the L - k actual rows
before o followed by its own k earlier forecasts. That window starts at row o - L + k, and
so does the k = 0 window of origin o + k and every window (o + j, k + j): they all begin
with the same actual rows and part only where their forecasts begin. So, for a stack of
LSTMs (the Keras defaults) under a Dense output of one value, each distinct start row is
run once over its L actual rows, keeping every layer's (h, c) after L - k of them; step k
of every origin then continues from its start row's state over its k forecasts alone. The
LSTM steps per origin fall from L · K to about L + K² / 2 (60 · 30 = 1,800 to 495 for a
30-bar calibration), with the same operations in the same order on the same rows as the
window-by-window recursion, so the same numbers (``tests/test_reference.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast.model.cells import activation, activation_name, lstm_run
from forecast.model.reference import Dense, Network, Recurrent


def shares_prefixes(network: Any, origins: int, steps: int) -> bool:
    """Whether ``recursive_outputs`` runs this network: a NumPy ``Network`` of LSTMs with the
    Keras defaults read forwards, one input feature and one Dense output of one value, over
    two or more origins (a single origin's products take another BLAS routine) and two or
    more steps."""
    if not isinstance(network, Network) or origins < 2 or steps < 2 or network.features != 1:
        return False
    *recurrent, last = network.layers
    return (
        isinstance(last, Dense)
        and last.kernel.shape[1] == 1
        and len(recurrent) >= 1
        and all(
            isinstance(layer, Recurrent)
            and layer.kind == "lstm"
            and not layer.go_backwards
            and activation_name(layer.activation) == "tanh"
            and activation_name(layer.recurrent_activation) == "sigmoid"
            and layer.return_sequences == (index < len(recurrent) - 1)
            for index, layer in enumerate(recurrent)
        )
    )


def recursive_outputs(
    network: Network, rows: np.ndarray, origins: np.ndarray, steps: int
) -> np.ndarray:
    """The network's outputs 1 .. ``steps`` bars ahead of each origin, each step's input
    window ending in the earlier steps' outputs (what ``Predictor._recurse`` computes window
    by window).  rows: (N, 1) scaled inputs; origins: (n,) the first row forecast, each at
    least ``lookback``.  Returns (n, steps) scaled outputs."""
    lookback = network.lookback
    *layers, dense = network.layers
    origins = np.asarray(origins, dtype="int64")  # (n,)
    depth = min(steps, lookback)  # steps past the lookback read forecasts alone
    starts = np.unique(np.concatenate([origins - lookback + k for k in range(depth)]))
    padded = np.zeros((len(rows) + depth, 1), dtype=network.dtype)  # rows past the last are
    padded[: len(rows)] = rows  # never kept: a start row's state is kept before its origin
    x = padded[starts[:, np.newaxis] + np.arange(lookback)]  # (S, L, 1) from each start row
    keep = tuple(lookback - k for k in range(depth))
    kept = []  # per layer: {actual rows run: (h, c)}, one row per start row
    for layer in layers:
        x, _, states = lstm_run(x, layer.kernel, layer.recurrent_kernel, layer.bias, keep=keep)
        kept.append(states)
    outputs = np.empty((len(origins), steps), dtype=network.dtype)  # (n, steps)
    # The top state enters the Dense product as a row of a (n, L, u) array, as the network
    # reads the last of a window's hidden states: NumPy multiplies such a strided view by
    # another routine than a contiguous (n, u) array, with other rounding.
    layout = np.empty((len(origins), lookback, layers[-1].recurrent_kernel.shape[0]), network.dtype)
    for k in range(steps):
        if k < depth:  # continue from the shared L - k actual rows over this origin's outputs
            where = np.searchsorted(starts, origins - lookback + k)  # (n,)
            states = [(h[where], c[where]) for h, c in (part[lookback - k] for part in kept)]
            x = outputs[:, :k, np.newaxis]  # (n, k, 1)
        else:  # the window holds forecasts alone: run it whole
            states = [None] * len(layers)
            x = outputs[:, k - lookback : k, np.newaxis]  # (n, L, 1)
        if k == 0:
            top = states[-1][0]  # (n, u): the top layer after the L actual rows
        for layer, state in zip(layers, states if k else (), strict=False):
            x, (top, _), _ = lstm_run(x, layer.kernel, layer.recurrent_kernel, layer.bias, state)
        layout[:, -1] = top  # the layout the window-by-window network multiplies it in
        product = layout[:, -1] @ dense.kernel + (dense.bias if dense.bias is not None else 0)
        outputs[:, k] = activation(dense.activation)(product)[:, 0]
    return outputs
