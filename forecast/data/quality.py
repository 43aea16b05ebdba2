"""Data-quality checks run on every load: one line each, recorded in run.json and report.html.

Nothing here changes the data; each check says what it found, where, and what to do:

    split-like jumps      a one-bar close ratio near 1/2, 1/3, 2/3, 2, 3 …, or the close moving
                          by such a ratio against Adj Close (an unadjusted split)
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

SPLIT_FACTORS = (2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 3 / 2)  # forward splits seen in US stocks
SPLIT_RATIOS = tuple(sorted({1 / factor for factor in SPLIT_FACTORS} | set(SPLIT_FACTORS)))
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
    """One-bar moves that look like splits: a close ratio near a split ratio; and, where an
    Adj Close column differs from the prices, a day whose close moved by a split ratio more
    than Adj Close did, whatever the day's own move (a 2:1 split on a +10 % day: ×0.549)."""
    prices = bars["price"].to_numpy(dtype=float)
    if len(prices) < 2:
        return None
    log_ratio = np.log(prices[1:] / prices[:-1])  # (N-1,)
    near = _near_split(log_ratio)
    adjusted = bars["adj_close"].to_numpy(dtype=float) if "adj_close" in bars else None
    if adjusted is None or np.allclose(adjusted, prices, equal_nan=True):
        if not near:
            return None
        stamps = [_stamp(bars, log_ratio, k, ratio) for k, ratio in near.items()]
        return (
            f"{label}: {len(near)} split-like jump(s) in {data.price_column}: "
            f"{_examples(stamps, len(near))}; if these are splits, use split-adjusted prices"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        beside = log_ratio - np.log(adjusted[1:] / adjusted[:-1])  # (N-1,) the move Adj lacks
    behind = _near_split(beside)
    moves = {k: ratio for k, ratio in near.items() if k not in behind}
    if not behind and not moves:
        return None
    if not behind:
        stamps = [_stamp(bars, log_ratio, k, ratio) for k, ratio in moves.items()]
        return (
            f"{label}: {len(moves)} split-like jump(s) in {data.price_column}, where Adj Close "
            f"moves as much: {_examples(stamps, len(moves))}; if these are splits, use "
            f"split-adjusted prices"
        )
    stamps = [
        _stamp(bars, log_ratio, k, ratio, beside=None if k in near else beside[k])
        for k, ratio in behind.items()
    ]
    fix = "data.auto_adjust: true" if data.source == "yahoo" else "data.price_column: Adj Close"
    line = (
        f"{label}: {len(behind)} split-like jump(s) in {data.price_column}: "
        f"{_examples(stamps, len(behind))}; Adj Close does not jump there, so these look like "
        f"unadjusted splits: set {fix}"
    )
    if moves:
        shown = [_stamp(bars, log_ratio, k, ratio) for k, ratio in moves.items()]
        line += (
            f"; {len(moves)} more where Adj Close moves as much (real moves?): "
            f"{_examples(shown, len(moves))}"
        )
    return line


def _near_split(log_ratio: np.ndarray) -> dict[int, float]:
    """The bars (index into the ratios) whose log ratio lies within SPLIT_TOLERANCE of a
    split ratio's, with that split ratio."""
    distance = np.abs(log_ratio[:, None] - np.log(SPLIT_RATIOS)[None, :])  # (N-1, ratios)
    distance = np.nan_to_num(distance, nan=np.inf)  # a missing Adj Close: no split there
    closest = np.argmin(distance, axis=1)  # (N-1,)
    found = np.flatnonzero(distance.min(axis=1) < SPLIT_TOLERANCE)
    return {int(k): SPLIT_RATIOS[int(closest[k])] for k in found}


def _stamp(
    bars: pd.DataFrame, log_ratio: np.ndarray, k: int, ratio: float, beside: float | None = None
) -> str:
    """``2000-06-21 ×0.549 (×0.500 beside Adj Close, near 1/2)``: a flagged bar in words."""
    split = Fraction(ratio).limit_denominator(20)
    how = (
        f"×{np.exp(beside):.3f} beside Adj Close, near {split}"
        if beside is not None
        else (f"near {split}")
    )
    return f"{stamp_text(bars.index[k + 1])} ×{np.exp(log_ratio[k]):.3f} ({how})"


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
