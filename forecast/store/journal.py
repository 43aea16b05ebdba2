"""journal.csv: every forecast a run (and the runs updated from it) ever issued, append-only.

One row per forecast step: when it was issued (UTC), the run that issued it, the origin bar,
the step h and the target bar's timestamp, the point forecast and its bands, the naive
forecast and the random walk's band, the band method, the sha256 of the model file and of
the bars the forecast started from, and the ticker forecast (so that the journals of a watch
list's runs, put together, still say whose each row is).

- Append-only: earlier rows are never rewritten. Each append writes the old file's bytes
  followed by the new rows to a temporary file and renames it into place, so a crash
  mid-write leaves the previous journal intact.
- The same forecast issued twice is recorded once: a row whose (model, origin, step, method)
  is already in the journal is not added again.
- ``update`` copies the parent's journal into the new run folder, so one journal holds a
  lineage's whole record.
- A journal begun before the ``ticker`` column existed keeps its header: rows appended to it
  are written without the column, and reading it fills the column with the run's ticker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pandas as pd

from forecast.base import atomic
from forecast.errors import RunError, first_line

JOURNAL = "journal.csv"
TEXT_BEFORE = ("issued_utc", "run", "origin", "step", "target")
NUMBERS = (
    "median",
    "lo80",
    "hi80",
    "lo95",
    "hi95",
    "naive",
    "rw_lo80",
    "rw_hi80",
    "rw_lo95",
    "rw_hi95",
)
TEXT_AFTER = ("method", "model_sha256", "data_sha256", "ticker")
COLUMNS = TEXT_BEFORE + NUMBERS + TEXT_AFTER
KEY = ("model_sha256", "origin", "step", "method")  # one forecast, however often issued


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_journal(run_dir: Path, ticker: str = "") -> pd.DataFrame:
    """The run's journal (no rows when it has issued no forecast yet); text columns as
    written, timestamps as text. ``ticker``: the run's, for a journal begun before rows named
    theirs."""
    path = Path(run_dir) / JOURNAL
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    text = dict.fromkeys(TEXT_BEFORE + TEXT_AFTER, str)
    try:
        journal = pd.read_csv(  # a ticker or run named NA stays NA: only numbers can be missing
            path, dtype=text, keep_default_na=False, na_values=dict.fromkeys(NUMBERS, [""])
        )
        if "ticker" not in journal.columns:
            journal["ticker"] = ticker
        missing = [column for column in COLUMNS if column not in journal.columns]
        if missing:
            raise ValueError(f"no column {missing[0]!r}")
        for column in NUMBERS:
            journal[column] = pd.to_numeric(journal[column], errors="raise")
        journal["step"] = pd.to_numeric(journal["step"], errors="raise").astype("int64")
    except (ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = first_line(error)
        raise RunError(
            f"{path}: not a journal forecast wrote ({first}); a record of issued forecasts "
            f"is never rewritten: move it aside to start a new one"
        ) from None
    return journal[list(COLUMNS)]


def journal_rows(
    frame: pd.DataFrame,
    run: str,
    origin: str,
    method: str,
    model_sha256: str,
    data_sha256: str,
    ticker: str,
    issued: dt.datetime | None = None,
) -> pd.DataFrame:
    """A forecast frame (date, median, lo80 … rw_hi95) as journal rows."""
    issued = (issued or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    rows = pd.DataFrame(
        {
            "issued_utc": issued,
            "run": run,
            "origin": origin,
            "step": range(1, len(frame) + 1),
            "target": frame["date"].astype(str),
        }
    )
    for column in NUMBERS:
        rows[column] = frame[column].to_numpy() if column in frame else float("nan")
    rows["method"], rows["model_sha256"], rows["data_sha256"] = method, model_sha256, data_sha256
    rows["ticker"] = ticker
    return rows[list(COLUMNS)]


def append(run_dir: Path, rows: pd.DataFrame) -> int:
    """Add the rows not already recorded; returns how many were added. The journal's
    existing bytes are kept exactly; the file is replaced atomically."""
    path = Path(run_dir) / JOURNAL
    existing = read_journal(run_dir)
    same = existing["origin"].astype(str).isin(rows["origin"].astype(str))  # the few that
    existing = existing[same.to_numpy()]  # could match, before a row-by-row key set
    known = set(zip(*(existing[column].astype(str) for column in KEY)))
    fresh = rows[[key not in known for key in zip(*(rows[column].astype(str) for column in KEY))]]
    if fresh.empty:
        return 0
    old = path.read_bytes() if path.exists() else b""
    header = old.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
    if old and "ticker" not in header:  # begun before rows named their ticker: its columns
        fresh = fresh.drop(columns="ticker")
    text = io.StringIO()
    fresh.to_csv(text, index=False, header=not old, float_format="%.10g")
    atomic.write_bytes(path, old + text.getvalue().encode("utf-8"))
    return len(fresh)
