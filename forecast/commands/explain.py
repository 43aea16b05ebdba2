"""explain: one test window through the NumPy network, its gates plotted."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.commands.result import Result
from forecast.data.interval import format_timestamps, stamp_text
from forecast.errors import UserError, named
from forecast.store import runs
from forecast.store.lock import locked


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


@locked("explain")
def explain(run_dir: str | Path, date: str | None = None, layer: int = 0) -> Result:
    """Run the test window ending at ``date`` through the run's NumPy network (read from
    model.keras; no TensorFlow) and plot the chosen recurrent layer's gates; writes
    explain_<date>.png and .csv in the run folder."""
    from forecast.data.windows import scaled_to_prices
    from forecast.report.gates import plot_gates

    run = runs.load_run(run_dir)
    dataset = run.forecaster.dataset()
    index = pd.DatetimeIndex(run.prices.index)
    window_ends = index[dataset.n_train - 1 : -1]  # test window k ends the bar before row k
    position = _window_position(window_ends, date)
    trace = run.forecaster.network().trace(dataset.x_test[position : position + 1])  # batch 1
    if not trace.layers:
        raise UserError(
            f"{named('run_dir', run.path)}: the model has no recurrent layer to explain"
        )
    if not 0 <= layer < len(trace.layers):
        raise UserError(
            f"{named('layer', layer)}: the model has recurrent layers 0..{len(trace.layers) - 1}"
        )
    chosen = trace.layers[layer]
    previous = np.array([dataset.previous_prices[position]])
    output = trace.output[:, 0]
    predicted = float(
        scaled_to_prices(run.scaler, output, previous, dataset.target, dataset.spec.close_column)[0]
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
    end = window_ends[position]
    day = end.strftime("%Y-%m-%d" if end == end.normalize() else "%Y-%m-%dT%H%M")
    png, csv = run.path / f"explain_{day}.png", run.path / f"explain_{day}.csv"
    atomic.write_table(csv, means)
    title = (
        f"{run.config.data.ticker}: window ending {day}, layer {layer} "
        f"({chosen.kind}, {chosen.name})"
    )
    figure = plot_gates(
        input_dates,
        input_prices,
        steps,
        chosen.kind,
        index[end_row + 1],
        predicted,
        actual,
        title=title,
    )
    atomic.write_figure(png, figure)
    explanation = Explanation(end, predicted, actual, chosen.kind, steps, means, png, csv)
    return Result(
        folder=run.path,
        table=means,
        summary={
            "date": stamp_text(end),
            "predicted": predicted,
            "actual": actual,
            "layer": layer,
            "kind": chosen.kind,
        },
        verdict=(
            f"window ending {stamp_text(end)}: predicted {predicted:.2f}, actual next close "
            f"{actual:.2f}"
        ),
        config=run.config,
        detail=explanation,
        files={"png": png, "csv": csv},
    )


def _window_position(window_ends: pd.DatetimeIndex, date: str | None) -> int:
    """The test window ending on ``date`` (default: the last one)."""
    if date is None:
        return len(window_ends) - 1
    try:
        wanted = pd.Timestamp(date)
        zone = window_ends.tz
        if zone is not None:
            wanted = wanted.tz_localize(zone) if wanted.tz is None else wanted.tz_convert(zone)
    except ValueError:
        raise UserError(
            f"{named('date', repr(date))}: not a date; use YYYY-MM-DD (or YYYY-MM-DD HH:MM "
            f"for intraday bars)"
        ) from None
    matches = np.flatnonzero(window_ends == wanted)
    if not len(matches):
        first, last = format_timestamps(window_ends[[0, -1]])
        raise UserError(
            f"{named('date', date)}: no test window ends on that day or time; choose a bar "
            f"from {first} to {last}"
        )
    return int(matches[0])
