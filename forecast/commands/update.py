"""update: a run brought up to its newest bars without a full retrain, into a new run folder.

The new bars must continue the run's: they overlap its last bar and extend past it, at the
same interval. Overlapping bars whose values changed (a dividend re-adjusts every past
adjusted close) are counted in one warning and the newer values used; a gap, a different
interval or nothing new is refused with one line.

By default the update warm-starts from the run's weights and optimizer state and trains
``train.update_epochs`` epochs (or ``--epochs``) on every bar up to the newest, the
validation block at the end, keeping the run's scaler (the weights depend on it; a warning
says when new prices leave its range, the ``price`` target's ceiling). ``--refit`` trains
from scratch with a new scaler instead. Either way the conformal bands are calibrated again
on the newest validation block, and the new folder (a production fit: every bar trains)
names its parent in run.json and carries the lineage's journal forward. The parent stays as
it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.commands.common import dataset_for, newer_bars
from forecast.commands.fitting import fit_into
from forecast.commands.result import Result
from forecast.data.features import feature_matrix
from forecast.data.interval import (
    canonical_interval,
    check_interval,
    count_words,
    format_timestamps,
)
from forecast.data.quality import data_warnings
from forecast.data.sources import MarketData, source_label
from forecast.errors import DataError, UserError, named
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.store import journal, runs
from forecast.store.lock import RUN_FILES, writing

log = logging.getLogger(__name__)
TOLERANCE = 1e-9  # relative change that counts as a revised bar


def continue_bars(
    old: pd.DataFrame, new: pd.DataFrame, interval: str, label: str
) -> tuple[pd.DataFrame, int, int]:
    """The run's bars continued by ``new``: (bars, new bars past the run's last, revised
    overlapping bars). Refuses a different interval, a gap, missing bars or nothing new."""
    new_interval = check_interval(pd.DatetimeIndex(new.index), "auto", label)
    if new_interval != canonical_interval(interval):
        raise DataError(
            f"{label}: its bars are {new_interval}, the run's are {interval}; "
            f"update with bars of the run's own interval"
        )
    last, first_new = old.index[-1], new.index[0]
    last_text = format_timestamps(pd.DatetimeIndex([last]))[0]
    if first_new > last:
        raise DataError(
            f"{label}: starts at {format_timestamps(pd.DatetimeIndex([first_new]))[0]}"
            f", after the run's last bar {last_text}: a gap; give bars that overlap "
            f"the run's last one"
        )
    added = int((new.index > last).sum())
    if not added:
        raise DataError(
            f"{label}: no bar after the run's last one ({last_text}); nothing to update"
        )
    overlap = old[old.index >= first_new]
    missing = overlap.index.difference(new.index)
    if len(missing):
        raise DataError(
            f"{label}: lacks {len(missing)} of the run's bars it overlaps, first "
            f"{format_timestamps(pd.DatetimeIndex(missing[:1]))[0]}; give the "
            f"complete series"
        )
    columns = [column for column in old.columns if column in new.columns]
    before = overlap[columns].to_numpy(dtype="float64")
    after = new.loc[overlap.index, columns].to_numpy(dtype="float64")
    changed = ~np.isclose(after, before, rtol=TOLERANCE, atol=0.0, equal_nan=True)
    revised = int(changed.any(axis=1).sum())
    bars = pd.concat([old[old.index < first_new][columns], new[columns]])
    return bars, added, revised


def range_warnings(
    scaler: Any, values: np.ndarray, features: tuple[str, ...], label: str, target: str = "price"
) -> list[str]:
    """Where the new bars' inputs leave the range the kept scaler was fitted on (for a
    ``price`` target, the close's range is also its forecasts' ceiling)."""
    lines = []
    for column, name in enumerate(features):
        new = values[:, column]
        new = new[np.isfinite(new)]
        low, high = scaler.data_min_[column], scaler.data_max_[column]
        above, below = int((new > high).sum()), int((new < low).sum())
        if above or below:
            ceiling = (
                " (a price model's forecasts stay inside this range)"
                if name == "close" and target == "price"
                else ""
            )
            reach = f"up to {new.max():.6g}" if above else f"down to {new.min():.6g}"
            lines.append(
                f"{label}: {name} leaves the kept scaler's range [{low:.6g}, "
                f"{high:.6g}] on {count_words(above + below, 'new bar')}, {reach}"
                f"{ceiling}; --refit fits a new scaler"
            )
    return lines


def updated_config(config: Any, data_path: Any, epochs: int, refit: bool) -> Any:
    """An update's config: a production fit on every bar from the run's source (or the CSV
    given), for ``epochs`` of warm start (a refit: the run's own epochs). A global run's
    cut dates go: the newest block of the calendar validates again."""
    data = replace(config.data, test_fraction=0.0, test_start=None, end=None)
    if data_path is not None:
        data = replace(data, source="csv", path=str(data_path), start=None)
    epochs = config.train.epochs if refit else epochs
    train = replace(config.train, epochs=epochs, validation_start=None)  # the fraction again
    return replace(config, data=data, train=train)


def update(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    refresh: bool = False,
    epochs: int | None = None,
    refit: bool = False,
    out: str | Path | None = None,
    echo: Callable[[str], None] = print,
    newer: MarketData | None = None,
    parent_record: str | None = None,
) -> Result:
    """Update a run with its newest bars into a new run folder (see the module docstring).

    ``newer``: the bars already loaded, in place of the run's source (a batch worker gets
    the driver's rows); ``parent_record``: where the parent will be kept, as run.json should
    name it (a batch moves it), else its own path."""
    with writing(run_dir, "update (reading its parent)", only_if=RUN_FILES):  # consistent
        plan = plan_update(run_dir, data_path, refresh, epochs, refit, newer, parent_record)
    config, label = plan.config, plan.market.label
    with runs.new_folder(config.output.runs_dir, config.data.ticker, "update", out=out) as folder:
        atomic.write_json(folder / runs.UPDATE, plan.record)  # first: a resume knows it
        for name, data in plan.carried.items():  # the lineage's record, carried forward
            atomic.write_bytes(folder / name, data)
        added, revised = plan.record["new_bars"], plan.record["revised_bars"]
        epochs_run = config.train.epochs
        how = "refitting from scratch" if refit else f"warm start for {epochs_run} epoch(s)"
        echo(
            f"{label}: {count_words(added, 'new bar')} after the run's last one, {revised} "
            f"revised; {how}"
        )
        return fit_into(
            Forecaster(config),
            plan.market,
            folder,
            echo,
            scaler=plan.scaler,
            start=None if refit else plan.parent / state.MODEL,
            details={"update": plan.record},
        )


@dataclass(frozen=True)
class UpdatePlan:
    """What an update read of its parent, under the parent's lock."""

    parent: Path
    config: Any  # the update's config: a production fit, its epochs
    market: MarketData  # the parent's bars continued by the newer ones
    scaler: Any  # the parent's, kept (None: refit)
    record: dict[str, Any]  # update.json
    carried: dict[str, bytes]  # the lineage's journal.csv and adaptive.json, as they were


def plan_update(
    run_dir: str | Path,
    data_path: str | Path | None,
    refresh: bool,
    epochs: int | None,
    refit: bool,
    newer: MarketData | None,
    parent_record: str | None,
) -> UpdatePlan:
    """Read the parent and the newer bars; check they continue; the update's config."""
    parent = runs.load_run(run_dir)
    config = parent.config
    epochs = config.train.update_epochs if epochs is None else epochs
    if epochs < 1:
        raise UserError(f"{named('epochs', epochs)}: must be at least 1")
    newer = newer if newer is not None else newer_bars(parent, data_path, refresh)
    label = newer.label
    bars, added, revised = continue_bars(parent.bars, newer.bars, config.data.interval, label)
    notes = []
    if revised:
        notes.append(
            f"{label}: {count_words(revised, 'overlapping bar')} changed since the run (a "
            f"dividend or split re-adjusts past closes); the newer values are used"
        )
    config = updated_config(config, data_path, epochs, refit)
    scaler = None if refit else parent.scaler
    dataset_for(config, bars, scaler=scaler, label=label)  # too few rows: refused before a folder
    if not refit:
        values = feature_matrix(config.data.features, bars, config.data.target)
        notes += range_warnings(
            parent.scaler,
            values[len(parent.bars) :],
            config.data.features,
            label,
            config.data.target,
        )
    for note in notes:
        log.warning("%s", note)
    record = {
        "parent": parent_record or str(parent.path.resolve()),
        "refit": refit,
        "kept_scaler": not refit,
        "new_bars": added,
        "revised_bars": revised,
        "epochs": config.train.epochs,
        "notes": notes,
    }
    market = MarketData(
        bars=bars,
        data=config.data,
        warnings=tuple(data_warnings(bars, config.data, source_label(config.data))),
        label=label,
    )
    carried = {
        name: (parent.path / name).read_bytes()
        for name in (journal.JOURNAL, "adaptive.json")
        if (parent.path / name).exists()
    }
    return UpdatePlan(parent.path, config, market, scaler, record, carried)
