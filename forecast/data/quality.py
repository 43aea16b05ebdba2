"""Data-quality checks run on every load: one line each, recorded in run.json and report.html.

Nothing here changes the data; each check says what it found, where, and what to do:

    split-like jumps      a one-bar close ratio near 1/2, 1/3, 2/3, 2, 3 … (an unadjusted split)
    missing sessions      sessions of the calendar with no row, and the longest such gap
    rows on closed days   daily rows on days the calendar has no session
    stale stretches       5 or more identical closes in a row
    volume                zero or negative volume, where a feature reads it
    off the grid          gaps that the bar interval does not explain (an explicit interval)
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from forecast.config import DataConfig
from forecast.data.calendar import (
    CalendarRangeError,
    exchange_calendar,
    session_calendar,
    sessions_between,
)
from forecast.data.interval import describe_gap, irregular_gaps, is_intraday, stamp_text, wall_clock
from forecast.errors import DataError

SPLIT_RATIOS = (1 / 10, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 2, 2, 3, 4, 5, 10)
SPLIT_TOLERANCE = 0.03  # |log(ratio) − log(split ratio)|: within about 3 %
STALE_RUN = 5  # identical closes in a row
SHOWN = 3  # examples named in a line


def data_warnings(
    bars: pd.DataFrame, data: DataConfig, label: str, explicit_interval: bool = False
) -> list[str]:
    """Every check's line (none when the data look clean). A suspect split raises instead
    when ``data.on_suspect_split`` is ``error``."""
    lines = []
    split = suspect_splits(bars, data, label)
    if split and data.on_suspect_split == "error":
        raise DataError(f"{split}; or set data.on_suspect_split: warn to train on it anyway")
    for line in (
        split,
        *session_warnings(pd.DatetimeIndex(bars.index), data, label),
        stale_closes(bars["price"], label),
        volume_warning(bars, data, label),
        off_grid(pd.DatetimeIndex(bars.index), data.interval, label) if explicit_interval else None,
    ):
        if line:
            lines.append(line)
    return lines


def _examples(stamps: list[str], total: int) -> str:
    shown = ", ".join(stamps[:SHOWN])
    return shown + (f", … ({total - SHOWN} more)" if total > SHOWN else "")


def suspect_splits(bars: pd.DataFrame, data: DataConfig, label: str) -> str | None:
    """A one-bar ratio near a split ratio, with a hint when Adj Close is smooth there."""
    prices = bars["price"].to_numpy()
    if len(prices) < 2:
        return None
    log_ratio = np.log(prices[1:] / prices[:-1])  # (N-1,)
    distance = np.abs(log_ratio[:, None] - np.log(SPLIT_RATIOS)[None, :])  # (N-1, ratios)
    near = np.flatnonzero(distance.min(axis=1) < SPLIT_TOLERANCE)
    if not len(near):
        return None
    stamps = [
        f"{stamp_text(bars.index[k + 1])} ×{np.exp(log_ratio[k]):.3f} (near "
        f"{Fraction(SPLIT_RATIOS[int(np.argmin(distance[k]))]).limit_denominator(10)})"
        for k in near
    ]
    line = (
        f"{label}: {len(near)} split-like jump(s) in {data.price_column}: "
        f"{_examples(stamps, len(near))}"
    )
    if "adj_close" in bars and not np.allclose(bars["adj_close"], prices, equal_nan=True):
        adjusted = bars["adj_close"].to_numpy()
        adjusted_ratio = np.abs(np.log(adjusted[near + 1] / adjusted[near]))
        if np.all(adjusted_ratio < 0.5 * np.abs(log_ratio[near])):
            fix = (
                "data.auto_adjust: true"
                if data.source == "yahoo"
                else "data.price_column: Adj Close"
            )
            return (
                f"{line}; Adj Close does not jump there, so these look like unadjusted "
                f"splits: set {fix}"
            )
    return f"{line}; if these are splits, use split-adjusted prices"


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True values."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.diff(padded)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(start), int(stop - start)) for start, stop in zip(starts, stops)]


def session_warnings(index: pd.DatetimeIndex, data: DataConfig, label: str) -> list[str]:
    """Calendar sessions without a row (and daily rows on closed days)."""
    if data.interval not in ("1d",) and not is_intraday(data.interval):
        return []
    calendar = session_calendar(data.calendar, data.interval)
    try:
        if data.interval == "1d":
            sessions = sessions_between(calendar, index[0], index[-1])
            dates = wall_clock(index).normalize()
            present = sessions.isin(dates)
            closed = dates[~dates.isin(sessions)]
        else:
            present, sessions = _sessions_with_bars(index, calendar)
            closed = pd.DatetimeIndex([])
    except CalendarRangeError:
        return []  # the calendar does not cover these dates; nothing to check against
    lines = []
    missing_runs = _runs(~present)
    if missing_runs:
        start, length = max(missing_runs, key=lambda run: run[1])
        first, last = sessions[start].date(), sessions[start + length - 1].date()
        gap = f"{first}" if length == 1 else f"{first} → {last}"
        lines.append(
            f"{label}: {int((~present).sum())} {calendar} session(s) have no row "
            f"(longest gap {length} session(s): {gap}); they are skipped over, "
            f"not filled"
        )
    if len(closed):
        lines.append(
            f"{label}: {len(closed)} row(s) fall on days {calendar} has no session, "
            f"first {closed[0].date()}; check data.calendar"
        )
    return lines


def _sessions_with_bars(
    index: pd.DatetimeIndex, calendar: str
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """For each session between the first and last bar, whether any bar falls inside it."""
    first, last = wall_clock(index)[[0, -1]].normalize()
    span = exchange_calendar(calendar, first - pd.Timedelta(days=7), last + pd.Timedelta(days=7))
    sessions = span.sessions_in_range(first, last)
    zone = index.tz if index.tz is not None else span.tz
    instants = (index if index.tz is not None else index.tz_localize(zone)).tz_convert("UTC")
    opens = pd.DatetimeIndex(span.opens.loc[sessions]).tz_convert("UTC")
    closes = pd.DatetimeIndex(span.closes.loc[sessions]).tz_convert("UTC")
    counts = instants.searchsorted(closes) - instants.searchsorted(opens)
    sessions = pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)
    return np.asarray(counts > 0), sessions


def stale_closes(prices: pd.Series, label: str) -> str | None:
    """Stretches of STALE_RUN or more identical closes (a feed that stopped updating)."""
    values = prices.to_numpy()
    same = values[1:] == values[:-1]  # (N-1,) bar k+1 repeats bar k
    stretches = [(start, length + 1) for start, length in _runs(same) if length + 1 >= STALE_RUN]
    if not stretches:
        return None
    start, length = max(stretches, key=lambda stretch: stretch[1])
    return (
        f"{label}: {len(stretches)} stretch(es) of {STALE_RUN}+ identical closes, longest "
        f"{length} bars {stamp_text(prices.index[start])} → "
        f"{stamp_text(prices.index[start + length - 1])}; check the source for stale data"
    )


def volume_warning(bars: pd.DataFrame, data: DataConfig, label: str) -> str | None:
    """Zero or negative volume where a feature reads the volume."""
    if not {"volume", "log_volume"} & set(data.features) or "volume" not in bars:
        return None
    bad = bars.index[(bars["volume"] <= 0).to_numpy()]
    if not len(bad):
        return None
    return (
        f"{label}: {len(bad)} bar(s) have zero or negative volume, "
        f"{_examples([stamp_text(stamp) for stamp in bad], len(bad))}; check the source"
    )


def off_grid(index: pd.DatetimeIndex, interval: str, label: str) -> str | None:
    """Gaps that the (explicitly set) bar interval does not explain."""
    bad = np.flatnonzero(irregular_gaps(index, interval))
    if not len(bad):
        return None
    stamps = [
        f"{stamp_text(index[k])} → {stamp_text(index[k + 1])} "
        f"({describe_gap(wall_clock(index)[k + 1] - wall_clock(index)[k])})"
        for k in bad
    ]
    return f"{label}: {len(bad)} gap(s) off the {interval} grid: {_examples(stamps, len(bad))}"
