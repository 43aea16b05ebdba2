"""Several tickers split at the same dates, for one network fitted on all of them.

A pooled model must not learn from one ticker's future: if AAPL's test bars start in 2021
while MSFT's training rows run into 2022, the market-wide moves of 2021 leak from MSFT's
training windows into AAPL's test. So the panel is cut by *date*: the calendar is the union
of the tickers' bar dates; the last ``test_fraction`` of it is the test period, the last
``validation_fraction`` of the rest the validation period, for every ticker alike. A ticker
that starts late or stops early has fewer bars on each side of the same cut; one whose
bars before the cut are too few for a window is left out with the reason (an error row).

Each ticker keeps its own scaler, fitted on its own training rows (``prepare_dataset``), so
that prices of 10 and of 1,000 are comparable inputs. The pooled training and validation
windows are the tickers', in ticker order, gathered batch by batch from their rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.windows import Dataset, WindowSpec, dated_split, prepare_dataset, split_sizes
from forecast.errors import DataError, UserError


@dataclass(frozen=True)
class CalendarSplit:
    """Where the panel is cut: validation from ``validation_start``, test from
    ``test_start`` (None: no such period)."""

    validation_start: pd.Timestamp | None
    test_start: pd.Timestamp | None
    dates: int  # the calendar's length (the union of the tickers' dates)


def calendar_split(bars: Mapping[str, pd.DataFrame], spec: WindowSpec) -> CalendarSplit:
    """Cut the union of the tickers' dates as one series of that length would be cut: at
    the spec's dates where it has them (``data.test_start``, ``train.validation_start``),
    else by its fractions."""
    zones = {str(pd.DatetimeIndex(frame.index).tz) for frame in bars.values()}
    if len(zones) > 1:
        raise UserError(
            f"tickers: their timestamps are in different time zones ({', '.join(sorted(zones))}); "
            f"give every ticker's bars in one zone (data.timezone)"
        )
    dates = pd.DatetimeIndex(sorted(set().union(*(frame.index for frame in bars.values()))))
    n_test, n_validation = dated_split(dates, spec)
    if n_test is None:
        n_test = split_sizes(len(dates), spec)[2]  # as one series of that length is cut
    test_start = dates[len(dates) - n_test] if n_test else None
    training = dates[: len(dates) - n_test]
    fraction = spec.validation_fraction
    if n_validation is None:
        n_validation = math.ceil(len(training) * fraction) if fraction > 0 else 0
    validation_start = training[len(training) - n_validation] if n_validation else None
    return CalendarSplit(validation_start, test_start, len(dates))


@dataclass(frozen=True)
class Panel:
    """The tickers' datasets, all cut at ``split`` (``spec``: the window settings with those
    cuts as dates); those left out, with why."""

    split: CalendarSplit
    spec: WindowSpec
    datasets: dict[str, Dataset]
    errors: dict[str, str]

    def pooled(self, indices: Mapping[str, int] | None = None) -> Dataset:
        """One training set of every ticker's training and validation windows (no test
        rows: each ticker is tested on its own). The windows are not copied: each batch is
        gathered from the tickers' scaled rows when it is drawn (``PooledWindows``).
        ``indices``: each ticker's row of a ticker embedding, as one more input column."""
        parts = list(self.datasets.values())
        first = parts[0]
        stacked = [part.rows for part in parts]  # (N, F) float32 each
        if indices is not None:  # (N, F+1): the ticker's index at every row
            stacked = [
                np.column_stack([rows, np.full(len(rows), indices[ticker], dtype=rows.dtype)])
                for ticker, rows in zip(self.datasets, stacked)
            ]
        rows = np.concatenate(stacked)  # (sum N, F or F+1)
        offsets = np.cumsum([0] + [len(part.rows) for part in parts[:-1]])
        train_starts, val_starts = [], []
        for offset, part in zip(offsets, parts):  # window k reads rows first + k …
            start = offset + part.first_row
            train_starts.append(start + np.arange(len(part.y_train)))
            val_starts.append(start + len(part.y_train) + np.arange(len(part.y_val)))
        lookback = first.spec.lookback
        return Dataset(
            prices=pd.Series(dtype="float64"),
            spec=first.spec,
            n_train=sum(part.n_train for part in parts),
            scaler=first.scaler,
            x_train=PooledWindows(rows, np.concatenate(train_starts), lookback),  # (n_fit, L, F)
            y_train=np.concatenate([part.y_train for part in parts]),
            x_val=PooledWindows(rows, np.concatenate(val_starts), lookback),  # (n_val, L, F)
            y_val=np.concatenate([part.y_val for part in parts]),
            x_test=np.zeros((0, lookback, rows.shape[1]), dtype="float32"),
            y_test=np.zeros((0,), dtype=first.y_train.dtype),
        )


class PooledWindows:
    """Windows over several tickers' scaled rows, gathered when indexed: ``windows[index]``
    is the (k, L, F) float32 array a materialized window array would give, for an index
    array or a slice, while the panel holds only its rows (N × F) and one start per window.
    A universe of millions of windows then needs the memory of its bars, not lookback
    times it."""

    def __init__(self, rows: np.ndarray, starts: np.ndarray, lookback: int) -> None:
        self.rows = rows  # (sum N, F) float32
        self.starts = np.asarray(starts, dtype="int64")  # (n,) each window's first row
        self.windows = np.lib.stride_tricks.sliding_window_view(rows, lookback, axis=0)
        self.shape = (len(self.starts), lookback, rows.shape[1])
        self.dtype = rows.dtype
        self.ndim = 3

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        return self.windows[self.starts[index]].transpose(0, 2, 1)  # (k, L, F), gathered

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        windows = self[slice(None)]
        return windows if dtype is None else windows.astype(dtype)


def dated_spec(
    spec: WindowSpec, split: CalendarSplit, bars: Mapping[str, pd.DataFrame]
) -> WindowSpec:
    """``spec`` with the panel's cuts as dates (``test_start``, ``validation_start``), as
    each ticker's own config carries them, so that its run splits its bars the same way."""
    from dataclasses import replace

    from forecast.data.interval import format_timestamps

    zone = pd.DatetimeIndex(next(iter(bars.values())).index).tz

    def text(stamp: pd.Timestamp | None) -> str | None:
        if stamp is None:
            return None
        return format_timestamps(pd.DatetimeIndex([stamp], tz=zone))[0]

    return replace(
        spec, test_start=text(split.test_start), validation_start=text(split.validation_start)
    )


def panel_datasets(
    bars: Mapping[str, pd.DataFrame],
    spec: WindowSpec,
    labels: Mapping[str, str] | None = None,
    scalers: Mapping[str, Any] | None = None,
) -> Panel:
    """Every ticker's dataset cut at the panel's dates (``calendar_split``); a ticker whose
    bars cannot make one is an entry in ``errors``, not a failure of the others.
    ``scalers``: fitted scalers to keep, by ticker (an update keeps its parent's)."""
    split = calendar_split(bars, spec)
    datasets, errors = {}, {}
    cut = dated_spec(spec, split, bars)
    for ticker, frame in bars.items():
        n_test = dated_split(frame.index, cut)[0] or 0  # the rows prepare_dataset will test
        label = (labels or {}).get(ticker, ticker)
        try:
            if len(frame) - n_test < spec.lookback + 2:
                raise DataError(
                    f"{label}: {len(frame) - n_test} bars before the panel's test period "
                    f"(from {split.test_start}); a window needs {spec.lookback + 1} and one "
                    f"to fit on"
                )
            scaler = (scalers or {}).get(ticker)
            datasets[ticker] = prepare_dataset(frame, cut, scaler=scaler, label=label)
        except DataError as error:
            errors[ticker] = str(error)
    if not datasets:
        raise DataError(
            "tickers: none has enough bars before the panel's test period: "
            + "; ".join(f"{ticker}: {message}" for ticker, message in errors.items())
        )
    return Panel(split, cut, datasets, errors)
