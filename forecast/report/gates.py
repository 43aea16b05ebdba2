"""The gates of one prediction (``explain``): the input closes with the prediction above, each
gate's activations per step and unit below. Returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forecast.report.plots import plain

GATE_PANELS = {
    "lstm": (
        ("forget_gate", "forget gate f"),
        ("input_gate", "input gate i"),
        ("output_gate", "output gate o"),
        ("cell", "cell state c"),
    ),
    "gru": (
        ("update_gate", "update gate z"),
        ("reset_gate", "reset gate r"),
        ("candidate", "candidate h̃"),
        ("hidden", "hidden state h"),
    ),
    "simple_rnn": (("hidden", "hidden state h"),),
}


def plot_gates(
    input_dates: pd.DatetimeIndex,
    input_prices: np.ndarray,
    steps: dict[str, np.ndarray],
    kind: str,
    next_date: pd.Timestamp,
    predicted: float,
    actual: float,
    title: str,
) -> Figure:
    """The window's prices on top; below, time × unit heatmaps of the layer's gates/states.

    steps: arrays (time, units) for one window, as the NumPy reference cell returns them.
    """
    panels = GATE_PANELS[kind]
    figure = Figure(figsize=(11, 2.6 + 2.3 * len(panels)), layout="constrained")
    grid = figure.add_gridspec(len(panels) + 1, 2, width_ratios=[40, 1])
    top = figure.add_subplot(grid[0, 0])
    top.plot(input_dates, input_prices, color="black", marker=".", label="input closes")
    top.scatter(
        [next_date],
        [actual],
        color="black",
        marker="o",
        zorder=3,
        label=f"actual next close {actual:.2f}",
    )
    top.scatter(
        [next_date],
        [predicted],
        color="tab:red",
        marker="x",
        s=60,
        zorder=3,
        label=f"predicted {predicted:.2f}",
    )
    top.set_title(plain(title))
    top.set_ylabel("price")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=8)
    steps_axis = np.arange(len(input_dates))
    for row, (key, label) in enumerate(panels, start=1):
        axes = figure.add_subplot(grid[row, 0])
        values = steps[key].T  # (units, time)
        gate = key.endswith("_gate")
        image = axes.imshow(
            values,
            aspect="auto",
            origin="lower",
            cmap="viridis" if gate else "coolwarm",
            vmin=0 if gate else None,
            vmax=1 if gate else None,
            extent=(-0.5, len(steps_axis) - 0.5, -0.5, values.shape[0] - 0.5),
            interpolation="nearest",
        )
        if not gate:
            limit = float(np.abs(values).max()) or 1.0
            image.set_clim(-limit, limit)
        axes.set_ylabel(f"{label}\nunit")
        axes.set_xlim(-0.5, len(steps_axis) - 0.5)
        figure.colorbar(image, cax=figure.add_subplot(grid[row, 1]))
        if row == len(panels):
            axes.set_xlabel("step in the window (0 = oldest close)")
    return figure
