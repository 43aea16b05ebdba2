"""Bar intervals: inferred from the timestamps, checked for regularity, named in words, and
timestamps written to and read from text without losing their time of day or time zone.

Intervals use yfinance's names (``1m`` … ``90m``, ``1h``, ``1d``, ``5d``, ``1wk``, ``1mo``,
``3mo``). Spacings are measured in wall-clock time of the data's own zone, so a daylight-saving
change does not make an hourly series look irregular.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from forecast.errors import DataError

MINUTE = pd.Timedelta(minutes=1)
DAY = pd.Timedelta(days=1)
INTRADAY_STEPS = {
    "1m": 1,
    "2m": 2,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "60m": 60,
    "90m": 90,
    "1h": 60,
}  # minutes per bar
INTERVAL_ALIASES = {"1h": "60m"}  # the same bar by another name
_OFFSET_TEXT = re.compile(r"(Z|[+-]\d\d:?\d\d)\s*$")  # a UTC offset ending a timestamp
# an offset after a time of day (a date alone never has one: 18-12-2000 ends in a year)
_HAS_OFFSET = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d:?\d\d)\s*$")


def is_intraday(interval: str) -> bool:
    return interval in INTRADAY_STEPS


def bar_step(interval: str) -> pd.Timedelta:
    """The nominal spacing of one bar (a month counts as 30 days, for messages only)."""
    if is_intraday(interval):
        return INTRADAY_STEPS[interval] * MINUTE
    return {"1d": DAY, "5d": 5 * DAY, "1wk": 7 * DAY, "1mo": 30 * DAY, "3mo": 91 * DAY}[interval]


def wall_clock(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The timestamps as the data's own clock shows them (time zone dropped, not converted)."""
    return index.tz_localize(None) if index.tz is not None else index


def describe_gap(gap: pd.Timedelta) -> str:
    """A spacing in the largest whole unit: '1 hour', '3 days', '90 minutes'."""
    minutes = gap / MINUTE
    for size, unit in ((1440, "day"), (60, "hour"), (1, "minute")):
        if minutes >= size and minutes % size == 0:
            count = int(minutes // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return str(gap)


def stamp_text(value: pd.Timestamp) -> str:
    return value.strftime("%Y-%m-%d") if value == value.normalize() else str(value)


def _irregular(
    label: str, index: pd.DatetimeIndex, position: int, interval: str, typical: str
) -> DataError:
    gap = wall_clock(index)[position + 1] - wall_clock(index)[position]
    return DataError(
        f"{label}: rows {stamp_text(index[position])} → {stamp_text(index[position + 1])} are "
        f"{describe_gap(gap)} apart, which does not fit {interval} bars ({typical}); the "
        f"spacing is irregular: fix the file, or set data.interval to use it anyway"
    )


def infer_interval(index: pd.DatetimeIndex, label: str) -> str:
    """The interval whose spacing explains the timestamps, or a DataError naming the first
    gap that breaks the pattern (the series is irregular)."""
    if len(index) < 2:
        return "1d"  # a single row has no spacing; the length checks refuse it later
    gaps = np.diff(wall_clock(index).asi8)  # (N-1,) in the index's unit
    unit = pd.Timedelta(1, unit=index.unit)
    values, counts = np.unique(gaps, return_counts=True)
    typical = values[np.argmax(counts)] * unit  # the most common spacing
    if typical < DAY:
        name = next(
            (name for name, minutes in INTRADAY_STEPS.items() if typical == minutes * MINUTE), None
        )
        if name is None:
            raise DataError(
                f"{label}: most rows are {describe_gap(typical)} apart, which is "
                f"none of the intervals {', '.join(INTRADAY_STEPS)}; resample "
                f"the data to one of them"
            )
    else:
        days = float(np.median(gaps) * unit / DAY)
        if days < 4:
            name = "1d"
        elif days < 10:
            name = "1wk"
        elif 26 <= days <= 33:
            name = "1mo"
        elif 85 <= days <= 95:
            name = "3mo"
        else:
            raise DataError(
                f"{label}: rows are typically {days:g} days apart, which is none "
                f"of the intervals 1d, 1wk, 1mo, 3mo; set data.interval or "
                f"resample the data"
            )
    breaking = first_irregular_gap(index, name)
    if breaking is not None:
        raise _irregular(
            label, index, breaking, name, f"most rows are {describe_gap(typical)} apart"
        )
    return name


def first_irregular_gap(index: pd.DatetimeIndex, interval: str) -> int | None:
    """Position k of the first gap index[k] → index[k+1] that no bar of ``interval`` explains."""
    positions = np.flatnonzero(irregular_gaps(index, interval))
    return int(positions[0]) if len(positions) else None


def irregular_gaps(index: pd.DatetimeIndex, interval: str) -> np.ndarray:
    """For each gap index[k] → index[k+1], whether no bar of ``interval`` explains it:
    intraday, a gap that is not a whole number of bars; daily, a gap that is not whole days;
    weekly, a gap under 4 days; monthly and quarterly, two rows in one period.  # (N-1,)"""
    clock = wall_clock(index)
    if is_intraday(interval):
        gaps = np.diff(clock.asi8)
        step = bar_step(interval) // pd.Timedelta(1, unit=index.unit)
        bad = gaps % step != 0
    elif interval in ("1d", "5d"):
        bad = np.diff(clock.normalize().asi8) != np.diff(clock.asi8)
        bad |= np.diff(clock.asi8) == 0
    elif interval == "1wk":
        bad = np.diff(clock.asi8) < (4 * DAY) // pd.Timedelta(1, unit=index.unit)
    else:
        months = 3 if interval == "3mo" else 1
        period = (clock.year * 12 + clock.month - 1) // months
        bad = np.diff(np.asarray(period)) < 1
    return np.asarray(bad, dtype=bool)


def canonical_interval(interval: str) -> str:
    """One name per bar: yfinance's 1h is the 60m bar."""
    return INTERVAL_ALIASES.get(interval, interval)


def check_interval(index: pd.DatetimeIndex, interval: str, label: str) -> str:
    """Resolve ``auto`` from the data; an explicit interval is taken as given."""
    if interval != "auto":
        return canonical_interval(interval)
    return infer_interval(index, label)


def unit_words(interval: str, calendar: str, count: int) -> str:
    """'30 trading days', '24 hourly bars', '3 months', '1 week'."""
    if is_intraday(interval):
        minutes = INTRADAY_STEPS[interval]
        noun = "hourly bar" if minutes == 60 else f"{minutes}-minute bar"
    elif interval == "1d":
        noun = {"business": "business day", "24/7": "day", "24/5": "weekday"}.get(
            calendar, "trading day"
        )
    else:
        noun = {"5d": "5-day bar", "1wk": "week", "1mo": "month", "3mo": "quarter"}[interval]
    return count_words(count, noun)


def count_words(count: int, noun: str) -> str:
    """'1 bar', '3 bars', '1 forecast': a count with its noun in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- timestamps as text ---------------------------------------------------------------------


def format_timestamps(index: pd.DatetimeIndex) -> list[str]:
    """Dates as YYYY-MM-DD when every row is a whole date without a zone; otherwise the full
    timestamp, with its UTC offset when the index has a zone (read back by parse_timestamps)."""
    index = pd.DatetimeIndex(index)
    if index.tz is None:
        if (index == index.normalize()).all():
            return list(index.strftime("%Y-%m-%d"))
        return list(index.strftime("%Y-%m-%d %H:%M:%S"))
    return [stamp.isoformat(sep=" ") for stamp in index]


def parse_timestamps(
    text: pd.Series, timezone: str | None = None, dayfirst: bool = False
) -> pd.Series:
    """Text timestamps → datetimes (NaT where unreadable). Values with UTC offsets become
    one time zone: ``timezone`` when given, else their common offset, or UTC when the offsets
    differ (as they do across daylight saving: set data.timezone to see local times) — except
    where every row shows one time of day as the offset changes (daily bars at local
    midnight across DST, as yfinance writes them): those are read as written, wall-clock
    days without a zone. ``dayfirst``: 02.01.2024 is the 2nd of January (decided for a
    whole column, never per value: ``bars.day_first``)."""
    text = text.astype(str).str.strip()
    with_offset = text.str.contains(_HAS_OFFSET)
    if not with_offset.any():
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst)
        return parsed.dt.tz_localize(timezone) if timezone else parsed
    parsed = pd.to_datetime(text, errors="coerce", format="mixed", utc=True, dayfirst=dayfirst)
    parsed = parsed.where(with_offset)  # a value without an offset has no defined instant
    if timezone is None:
        offsets = set(text[with_offset].str.extract(_OFFSET_TEXT, expand=False))
        if len(offsets) > 1 and with_offset.all():
            local = pd.to_datetime(
                text.str.replace(_OFFSET_TEXT, "", regex=True),
                errors="coerce",
                format="mixed",
                dayfirst=dayfirst,
            )
            if local.notna().all() and (local - local.dt.normalize()).nunique() == 1:
                return local  # one time of day as the offsets change (DST): days, as written
        timezone = pd.Timestamp(text[with_offset].iloc[0]).tz if len(offsets) == 1 else "UTC"
    return parsed.dt.tz_convert(timezone)
