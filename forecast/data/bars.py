"""Price bars in their one clean form, and as the text file a run keeps (prices.csv).

Clean bars are a frame indexed by timestamp (sorted, unique), whose ``price`` column is the
forecast series (finite, > 0) beside whichever of the source's open, high, low, close,
adj_close and volume columns the data has. ``clean_bars`` makes them from any frame or
refuses in one line naming the file, column, value and row; ``write_bars`` and
``read_bars`` keep timestamps (time of day, zone) and floats exactly through a CSV.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.config import SOURCE_FEATURES
from forecast.data.interval import format_timestamps, parse_timestamps
from forecast.errors import DataError, RunError, first_line

log = logging.getLogger(__name__)


_MISSING_MARKERS = {"", "null", "nan", "na", "n/a", "none", "-"}


def column_key(name: object) -> str:
    """Column names compared case- and spacing-insensitively: 'Adj Close' = 'adj_close'."""
    return re.sub(r"[\s_-]+", "_", str(name).strip().lower())


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column called ``name``, compared as ``column_key`` does."""
    if name in frame.columns:
        return name
    matches = [column for column in frame.columns if column_key(column) == column_key(name)]
    return matches[0] if matches else None


def _numbers(
    raw: pd.Series, column: str, label: str, strict: bool, price: bool = False
) -> pd.Series:
    """A column of text or numbers → float64, missing markers → NaN. ``strict``: any other
    non-number is refused, naming the first and its row (``price``: the forecast column)."""
    if not (raw.dtype == object or pd.api.types.is_string_dtype(raw)):
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    text = raw.astype(str).str.strip()
    missing = text.str.lower().isin(_MISSING_MARKERS)
    values = pd.to_numeric(text.where(~missing), errors="coerce")
    bad = values.isna() & ~missing
    if strict and bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        fix = (
            "fix them or point data.price_column at a numeric column"
            if price
            else "fix them, or remove the features that read this column"
        )
        raise DataError(
            f"{label}: {int(bad.sum())} value(s) in column {column!r} are not "
            f"numbers, first {raw.iloc[row]!r} (row {row + 2}); {fix}"
        )
    return values.astype("float64")


def clean_bars(
    frame: pd.DataFrame,
    date_column: str,
    price_column: str,
    label: str,
    required: list[str] | tuple[str, ...] = (),
    timezone: str | None = None,
) -> pd.DataFrame:
    """Validate a raw frame into sorted, de-duplicated bars with a positive ``price``.

    ``required``: source columns (open, high, low, close, adj_close, volume) that must be
    present and numeric; the others are kept when present. Timestamps keep their time of
    day; those with a UTC offset are put in ``timezone`` (default: their own).
    """
    date, price = _named_columns(frame, date_column, price_column, required, label)
    dates = _timestamps(frame[date], date, label, timezone)
    prices = _numbers(frame[price], price, label, strict=True, price=True)
    bars = pd.DataFrame(
        {"price": prices.to_numpy(dtype="float64")},
        index=pd.DatetimeIndex(dates.array, name="date").as_unit("ns"),
    )
    for name in SOURCE_FEATURES:
        column = find_column(frame, name)
        if column is not None:
            bars[name] = _numbers(frame[column], column, label, strict=name in required).to_numpy()
    return _checked_prices(bars, price_column, label)


def _named_columns(
    frame: pd.DataFrame, date_column: str, price_column: str, required: Any, label: str
) -> tuple[str, str]:
    """The frame's date and price columns, or one line naming what is missing and the
    columns there are."""
    shown = [repr(str(c)) for c in frame.columns[:12]]
    columns = ", ".join(shown + (["…"] if len(frame.columns) > 12 else [])) or "none"
    found = {}
    for role, name, key in (
        ("date", date_column, "data.date_column"),
        ("price", price_column, "data.price_column"),
    ):
        found[role] = find_column(frame, name)
        if found[role] is None:
            raise DataError(
                f"{label}: no {role} column {name!r} (columns found: {columns}); set {key} to "
                f"one of them"
            )
    for name in required:
        if find_column(frame, name) is None:
            raise DataError(
                f"{label}: data.features needs a {name!r} column, and there is none (columns "
                f"found: {columns}); remove the feature or use a source with that column"
            )
    if frame.empty:
        raise DataError(f"{label}: has a header but no rows of prices")
    return found["date"], found["price"]


def _timestamps(raw: pd.Series, column: str, label: str, timezone: str | None) -> pd.Series:
    """A column of dates or timestamps as datetimes, or one line naming the first it cannot
    read and its row."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw.dt.tz_convert(timezone) if timezone and raw.dt.tz else raw
    dayfirst = day_first(raw.astype(str).str.strip(), column, label)
    try:
        dates = parse_timestamps(raw, timezone, dayfirst)
    except (ValueError, TypeError):  # e.g. a zone name that the values contradict
        dates = pd.Series(pd.NaT, index=raw.index)
    years = dates.dt.year
    dates = dates.where((years >= 1678) & (years <= 2261))  # what nanoseconds can hold
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise DataError(
            f"{label}: cannot read {raw.iloc[row]!r} in column {column!r} (row {row + 2}) as a "
            f"date; use YYYY-MM-DD dates or YYYY-MM-DD HH:MM[:SS][+HH:MM] timestamps"
        )
    return dates


_DAY_MONTH = r"^(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"  # 02.01.2024, 1/2/24


def day_first(text: pd.Series, column: str, label: str) -> bool:
    """Whether the column's D.M.Y / M/D/Y dates put the day first, decided for the whole
    column: a first field over 12 says day-first, a second over 12 month-first (both: one
    line naming one of each). Where every field is 12 or less, the reading that spaces the
    rows as bars are spaced (1 day, not 1 month, between 01/02 and 01/03); dotted dates are
    day-first; otherwise the dates are refused as ambiguous rather than guessed."""
    parts = text.str.extract(_DAY_MONTH)
    shaped = parts[0].notna()
    if not shaped.any():
        return False
    first, second = parts.loc[shaped, 0].astype(int), parts.loc[shaped, 2].astype(int)
    if (first > 12).any() and (second > 12).any():
        raise DataError(
            f"{label}: column {column!r} writes dates day-first ({text[first.idxmax()]!r}) and "
            f"month-first ({text[second.idxmax()]!r}); write them one way, best YYYY-MM-DD"
        )
    if (first > 12).any() or (second > 12).any():
        return bool((first > 12).any())
    spacing = {}
    for option in (True, False):
        parsed = pd.DatetimeIndex(parse_timestamps(text[shaped], dayfirst=option))
        steps = np.abs(np.diff(parsed.asi8)) if parsed.notna().all() else np.array([np.inf])
        spacing[option] = float(np.median(steps)) if len(steps) else 0.0
    if spacing[True] < spacing[False] / 2 or spacing[False] < spacing[True] / 2:
        return spacing[True] < spacing[False]
    if (first == second).all() or (parts.loc[shaped, 1] == ".").all():
        return True  # the same either way, or dotted (day-first wherever it is written)
    example = text[shaped].iloc[0]
    raise DataError(
        f"{label}: the dates in column {column!r} read either way ({example!r}: day or month "
        f"first); write them as YYYY-MM-DD"
    )


def _checked_prices(bars: pd.DataFrame, price_column: str, label: str) -> pd.DataFrame:
    """Rows without a price dropped (said), then refused: no price at all, infinite or
    non-positive prices, duplicate timestamps; sorted by time."""
    n_missing = int(bars["price"].isna().sum())
    if n_missing == len(bars):
        raise DataError(
            f"{label}: every value in column {price_column!r} is missing; "
            f"choose another data.price_column"
        )
    if n_missing:
        log.warning("%s: dropped %d row(s) with no %s price", label, n_missing, price_column)
        bars = bars[bars["price"].notna()]
    if not np.isfinite(bars["price"].to_numpy()).all():
        raise DataError(
            f"{label}: column {price_column!r} holds infinite values; remove those rows"
        )
    non_positive = bars["price"][bars["price"] <= 0]
    if len(non_positive):
        raise DataError(
            f"{label}: {len(non_positive)} price(s) in column {price_column!r} are "
            f"zero or negative, first {float(non_positive.iloc[0]):g} on "
            f"{format_timestamps(non_positive.index[:1])[0]}; prices must be > 0"
        )
    if not bars.index.is_monotonic_increasing:
        log.warning("%s: rows were not in date order; sorted them", label)
        bars = bars.sort_index(kind="stable")
    duplicated = bars.index.duplicated(keep="first")
    if duplicated.any():
        first = format_timestamps(bars.index[duplicated][:1])[0]
        what = "date" if len(first) == 10 else "timestamp"
        raise DataError(
            f"{label}: {int(duplicated.sum())} duplicate {what}(s), first "
            f"{first}; keep one row per {what}"
        )
    return bars


def write_bars(path: Path, bars: pd.Series | pd.DataFrame) -> None:
    """The bars as text that reads back exactly: timestamps with their time of day and UTC
    offset where they have them, floats with 17 significant digits."""
    bars = bars.to_frame("price") if isinstance(bars, pd.Series) else bars
    frame = pd.DataFrame(
        {
            "date": format_timestamps(pd.DatetimeIndex(bars.index)),
            **{column: bars[column].to_numpy() for column in bars.columns},
        }
    )
    atomic.write_csv(path, frame, float_format="%.17g")


def read_bars(path: Path, timezone: str | None = None) -> pd.DataFrame:
    """Bars written by ``write_bars`` (``price`` and any source columns), timestamps in
    ``timezone``."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise RunError(f"{path}: missing; this run folder is incomplete, retrain it") from None
    except (
        ValueError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
    ) as error:
        first = first_line(error)
        raise RunError(f"{path}: damaged ({first}); train the run again") from None
    columns = [column for column in frame.columns if column in SOURCE_FEATURES]
    try:
        bars = clean_bars(frame, "date", "price", str(path), columns, timezone=timezone)
    except DataError as error:
        raise RunError(f"{error}; the run's prices are damaged: train it again") from None
    return bars[["price", *columns]]
