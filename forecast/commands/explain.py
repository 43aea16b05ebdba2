"""explain: one test window through the NumPy network, its gates plotted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.commands.common import dataset_for
from forecast.data.interval import format_timestamps
from forecast.errors import UserError
from forecast.store import runs


@dataclass(frozen=True)
class Explanation:
    date: pd.Timestamp  # the window's last input day
    predicted: float
    actual: float
    kind: str
    steps: dict[str, np.ndarray]  # (time, units) per gate/state of the chosen layer
    means: pd.DataFrame  # per-step means, also written as CSV
    png: Path
    csv: Path


def explain(run_dir: str | Path, date: str | None = None, layer: int = 0) -> Explanation:
    """Run the test window ending at ``date`` through the run's NumPy network (read from
    model.keras; no TensorFlow) and plot the chosen recurrent layer's gates; writes
    explain_<date>.png and .csv in the run folder."""
    from forecast.data.windows import scaled_to_prices
    from forecast.report.plots import plot_gates

    run = runs.load_run(run_dir)
    dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
    index = pd.DatetimeIndex(run.prices.index)
    window_ends = index[dataset.n_train - 1 : -1]  # test window k ends the bar before row k
    if date is None:
        position = len(window_ends) - 1
    else:
        try:
            wanted = pd.Timestamp(date)
            if index.tz is not None:
                wanted = (
                    wanted.tz_localize(index.tz)
                    if wanted.tz is None
                    else wanted.tz_convert(index.tz)
                )
        except ValueError:
            raise UserError(
                f"--date {date!r}: not a date; use YYYY-MM-DD (or YYYY-MM-DD "
                f"HH:MM for intraday bars)"
            ) from None
        matches = np.flatnonzero(window_ends == wanted)
        if not len(matches):
            first, last = format_timestamps(window_ends[[0, -1]])
            raise UserError(
                f"--date {date}: no test window ends on that day or time; choose "
                f"a bar from {first} to {last}"
            )
        position = int(matches[0])
    trace = run.network().trace(dataset.x_test[position : position + 1])  # batch of 1
    if not trace.layers:
        raise UserError(f"--run {run.path}: the model has no recurrent layer to explain")
    if not 0 <= layer < len(trace.layers):
        raise UserError(
            f"--layer {layer}: the model has recurrent layers 0..{len(trace.layers) - 1}"
        )
    chosen = trace.layers[layer]
    previous = dataset.previous_prices[position]
    predicted = float(
        scaled_to_prices(
            run.scaler,
            trace.output[:, 0],
            np.array([previous]),
            dataset.target,
            dataset.target_column,
        )[0]
    )
    actual = float(dataset.test_prices[position])
    lookback = run.config.data.lookback
    end_row = dataset.n_train - 1 + position
    input_dates = index[end_row - lookback + 1 : end_row + 1]
    input_prices = run.prices.to_numpy()[end_row - lookback + 1 : end_row + 1]
    steps = {key: value[0] for key, value in chosen.steps.items()}  # (time, units)
    means = pd.DataFrame(
        {
            "step": np.arange(lookback),
            "date": format_timestamps(input_dates),
            "price": input_prices,
            **{f"{key}_mean": value.mean(axis=1) for key, value in steps.items()},
        }
    )
    day = window_ends[position].strftime(
        "%Y-%m-%d"
        if window_ends[position] == window_ends[position].normalize()
        else "%Y-%m-%dT%H%M"
    )
    png, csv = run.path / f"explain_{day}.png", run.path / f"explain_{day}.csv"
    runs.write_frame(csv, means)
    runs.save_figure(
        png,
        plot_gates(
            input_dates,
            input_prices,
            steps,
            chosen.kind,
            index[end_row + 1],
            predicted,
            actual,
            title=f"{run.config.data.ticker}: window ending {day}, layer {layer} "
            f"({chosen.kind}, {chosen.name})",
        ),
    )
    return Explanation(
        date=window_ends[position],
        predicted=predicted,
        actual=actual,
        kind=chosen.kind,
        steps=steps,
        means=means,
        png=png,
        csv=csv,
    )
