"""Future trading dates: an exchange calendar (weekends and holidays skipped) or weekdays."""

from __future__ import annotations

import warnings

import pandas as pd

from forecast.errors import DataError

BUSINESS = "business"


def next_trading_days(last_date: pd.Timestamp, days: int, calendar: str = "XNYS"
                      ) -> pd.DatetimeIndex:
    """The ``days`` sessions after ``last_date`` on ``calendar`` (``business``: Mon–Fri)."""
    last_date = pd.Timestamp(last_date).normalize()
    if calendar == BUSINESS:
        return pd.bdate_range(last_date + pd.Timedelta(days=1), periods=days, name="date")
    import exchange_calendars  # imported here: only forecasting needs it

    try:
        with warnings.catch_warnings():  # exchange_calendars trips a pandas 3.1 deprecation
            warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
            sessions_calendar = exchange_calendars.get_calendar(
                calendar, start=last_date - pd.Timedelta(days=7),
                end=last_date + pd.Timedelta(days=2 * days + 30))
    except exchange_calendars.errors.InvalidCalendarName:
        raise DataError(f"data.calendar: {calendar!r} is not an exchange calendar code "
                        f"(e.g. XNYS, XLON, XTKS); use 'business' for plain weekdays") from None
    except ValueError as error:  # dates outside the calendar's supported range
        raise DataError(f"data.calendar {calendar}: cannot give sessions after "
                        f"{last_date.date()} ({error}); use data.calendar: business") from None
    sessions = sessions_calendar.sessions_in_range(last_date + pd.Timedelta(days=1),
                                                   sessions_calendar.last_session)
    return pd.DatetimeIndex(sessions[:days].tz_localize(None) if sessions.tz else
                            sessions[:days], name="date")
