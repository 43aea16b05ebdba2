"""Trading calendars: which one a series follows, and the timestamps of its next bars.

Calendars are exchange_calendars codes (``XNYS``, ``XLON``, …, and its around-the-clock
``24/7`` and ``24/5``) or ``business`` (plain weekdays). ``auto`` picks one from the data:
``24/7`` when rows fall on weekends (crypto), ``24/5`` when intraday bars lie outside New
York exchange hours (FX), ``XNYS`` otherwise.

Future timestamps follow the series: daily bars → the calendar's next sessions; intraday
bars → the next bars inside its sessions, aligned to each session's open like the data's own
bars; weekly, monthly and quarterly bars → the next period ends in the data's convention.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd

from forecast.data.interval import bar_step, is_intraday
from forecast.errors import DataError

BUSINESS = "business"
NEW_YORK = "America/New_York"
_XNYS_HOURS = (9 * 60 + 30, 16 * 60)  # regular session, minutes after midnight New York time


def resolve_calendar(calendar: str, index: pd.DatetimeIndex, interval: str) -> str:
    """``auto`` → 24/7, 24/5 or XNYS from the data; any other value as given."""
    if calendar != "auto":
        return calendar
    if (index.day_of_week >= 5).any():
        return "24/7"
    if is_intraday(interval):
        local = index.tz_convert(NEW_YORK) if index.tz is not None else index
        minutes = local.hour * 60 + local.minute
        if ((minutes < _XNYS_HOURS[0]) | (minutes >= _XNYS_HOURS[1])).any():
            return "24/5"
    return "XNYS"


class CalendarRangeError(DataError):
    """The calendar has no sessions for the dates asked (it starts later, or ends earlier)."""


@functools.lru_cache(maxsize=16)
def exchange_calendar(calendar: str, start: pd.Timestamp, end: pd.Timestamp):
    """An exchange_calendars calendar covering start..end (cached: building one takes ~0.2 s)."""
    import exchange_calendars  # imported here: only forecasting and data checks need it

    try:
        with warnings.catch_warnings():  # exchange_calendars trips a pandas 3.1 deprecation
            warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
            return exchange_calendars.get_calendar(calendar, start=start, end=end)
    except exchange_calendars.errors.InvalidCalendarName:
        raise DataError(
            f"data.calendar: {calendar!r} is not an exchange calendar code "
            f"(e.g. XNYS, XLON, XTKS, 24/7, 24/5); use 'business' for plain "
            f"weekdays or auto"
        ) from None
    except ValueError as error:  # dates outside the calendar's supported range
        raise CalendarRangeError(
            f"data.calendar {calendar}: no sessions for {start.date()} → "
            f"{end.date()} ({error}); use data.calendar: business"
        ) from None


def sessions_between(calendar: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Session dates from ``first`` to ``last`` (dates, no zone)."""
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    if calendar == BUSINESS:
        return pd.bdate_range(first, last)
    known = cached_sessions(calendar)
    if known is not None and first >= CACHED_SESSIONS_FROM and last <= known[-1]:
        return known[(known >= first) & (known <= last)]
    span = exchange_calendar(calendar, first - pd.Timedelta(days=7), last + pd.Timedelta(days=7))
    sessions = span.sessions_in_range(first, last)
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)


def session_calendar(calendar: str, interval: str) -> str:
    """The calendar whose sessions bars of ``interval`` follow: ``business`` has no hours,
    so intraday bars on it follow ``24/5`` (around the clock on weekdays)."""
    return "24/5" if calendar == BUSINESS and is_intraday(interval) else calendar


def next_trading_days(
    last_date: pd.Timestamp, days: int, calendar: str = "XNYS"
) -> pd.DatetimeIndex:
    """The ``days`` sessions after ``last_date`` on ``calendar`` (``business``: Mon–Fri)."""
    last_date = pd.Timestamp(last_date).normalize()
    if calendar == BUSINESS:
        return pd.bdate_range(last_date + pd.Timedelta(days=1), periods=days, name="date")
    known = cached_sessions(calendar)
    after = known[known > last_date] if known is not None else known
    if after is not None and len(after) >= days:
        return pd.DatetimeIndex(after[:days], name="date")
    span = exchange_calendar(
        calendar, last_date - pd.Timedelta(days=7), last_date + pd.Timedelta(days=2 * days + 30)
    )
    sessions = span.sessions_in_range(last_date + pd.Timedelta(days=1), span.last_session)
    return pd.DatetimeIndex(
        sessions[:days].tz_localize(None) if sessions.tz else sessions[:days], name="date"
    )


# Sessions kept on disk, from here to two years past the day they were written: building an
# exchange calendar costs about 0.2 s every time, reading its sessions back a millisecond.
CACHED_SESSIONS_FROM = pd.Timestamp("1980-01-01")


def cached_sessions(calendar: str, today: pd.Timestamp | None = None) -> pd.DatetimeIndex | None:
    """Every session of an exchange calendar from 1980 to two years after today, kept in the
    user's cache folder per exchange_calendars version (its holiday rules); None where the
    calendar cannot give them (unknown code, a range it does not cover, an unwritable cache).
    """
    from importlib import metadata

    from forecast.base.cache import cache_dir

    today = pd.Timestamp(today or pd.Timestamp.now()).normalize()
    version = metadata.version("exchange_calendars")
    path = cache_dir() / "sessions" / f"{safe_code(calendar)}-{version}.npy"
    try:
        days = np.load(path, allow_pickle=False)  # (n,) days since 1970-01-01
        sessions = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
        if len(sessions) and sessions[-1] >= today + pd.Timedelta(days=365):
            return sessions
    except (OSError, ValueError):
        pass
    try:
        span = exchange_calendar(calendar, CACHED_SESSIONS_FROM, today + pd.DateOffset(years=2))
    except DataError:
        return None
    sessions = span.sessions
    sessions = pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz else sessions)
    from forecast.base.atomic import atomic_path

    try:
        with atomic_path(path) as temporary:  # whole or not at all
            np.save(temporary, sessions.values.astype("datetime64[D]").astype("int64"))
    except OSError:
        pass
    return sessions


def safe_code(calendar: str) -> str:
    """A calendar code as part of a file name ('24/7' → '24-7')."""
    return "".join(char if char.isalnum() else "-" for char in calendar)


def period_offset(index: pd.DatetimeIndex, interval: str) -> pd.DateOffset:
    """The step between period bars in the data's own convention: the weekday of its weekly
    bars; month (or quarter) ends, starts, business ends or starts, or the same day."""
    last = index[-1]
    if interval == "1wk":
        return pd.offsets.Week(weekday=last.day_of_week)
    months = 3 if interval == "3mo" else 1
    dates = index.normalize().tz_localize(None) if index.tz is not None else index.normalize()
    for offset in (
        pd.offsets.MonthEnd,
        pd.offsets.MonthBegin,
        pd.offsets.BusinessMonthEnd,
        pd.offsets.BusinessMonthBegin,
    ):
        if offset().is_on_offset(dates[0]) and all(offset().is_on_offset(d) for d in dates):
            return offset(months)
    return pd.DateOffset(months=months)


def next_timestamps(
    index: pd.DatetimeIndex, steps: int, interval: str, calendar: str
) -> pd.DatetimeIndex:
    """The timestamps of the ``steps`` bars after the series ``index`` ends."""
    last = index[-1]
    if interval == "1d":
        return next_trading_days(last, steps, calendar)
    if interval == "5d":
        return next_trading_days(last, 5 * steps, calendar)[4::5]
    if is_intraday(interval):
        return _next_intraday(last, steps, interval, calendar, index.tz)
    offset = period_offset(index, interval)
    return pd.DatetimeIndex([last + offset * k for k in range(1, steps + 1)], name="date")


def _next_intraday(
    last: pd.Timestamp, steps: int, interval: str, calendar: str, tz
) -> pd.DatetimeIndex:
    """Bars at session open + phase + k × step inside each session, after ``last``."""
    step = bar_step(interval)
    name = session_calendar(calendar, interval)
    start = last.normalize().tz_localize(None) if last.tz is not None else last.normalize()
    per_session = max(1, int(pd.Timedelta(hours=6.5) // step))  # the shortest usual session
    days = int(np.ceil(steps / per_session * 7 / 5)) + 10
    sessions_calendar = exchange_calendar(
        name, start - pd.Timedelta(days=7), start + pd.Timedelta(days=days)
    )
    zone = str(sessions_calendar.tz) if tz is None else tz
    last_utc = (last.tz_localize(zone) if last.tz is None else last).tz_convert("UTC")
    sessions = sessions_calendar.sessions_in_range(
        start - pd.Timedelta(days=7), sessions_calendar.last_session
    )
    opens = pd.DatetimeIndex(sessions_calendar.opens.loc[sessions])  # UTC
    closes = pd.DatetimeIndex(sessions_calendar.closes.loc[sessions])
    started = np.flatnonzero(opens <= last_utc)
    anchor = opens[started[-1]] if len(started) else opens[0]
    phase = (last_utc - anchor) % step  # the data's bars sit this far past each open
    found: list[pd.Timestamp] = []
    for open_time, close_time in zip(opens, closes):
        stamps = pd.date_range(open_time + phase, close_time, freq=step, inclusive="left")
        found.extend(stamp for stamp in stamps if stamp > last_utc)
        if len(found) >= steps:
            break
    if len(found) < steps:  # a bug guard: the span above always holds enough sessions
        raise DataError(f"data.calendar {calendar}: found only {len(found)} bars after {last}")
    result = pd.DatetimeIndex(found[:steps]).tz_convert(zone)
    return pd.DatetimeIndex(result if tz is not None else result.tz_localize(None), name="date")
