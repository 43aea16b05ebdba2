"""trials.jsonl: every trial a sweep finished, one JSON line each, appended as it finishes
(each append replaces the file whole: a crash leaves the previous lines). A resumed sweep
reads it, and only it, to know what ran: nothing Ray Tune pickled is ever loaded again, so a
sweep killed at any moment resumes, and resuming unpickles nothing. Sweep folders made
before this log read their trial folders' JSON files instead (params.json, result.json,
error.txt), counting only trials that reported their last epoch or failed."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecast.base import atomic

LOG = "trials.jsonl"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the search ended it (Ray-free: the log and the tables read it)."""

    number: int  # 1, 2, … in the order the search proposed them
    params: dict[str, Any]  # the drawn values, as Tune holds them (see Space.decode)
    last: dict[str, Any]  # the last metrics it reported ({} when it failed before any)
    error: str | None  # one line when it failed


def json_values(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready part of a trial's last metrics (numbers, text, flags; NaN as null)."""
    kept = {}
    for key, value in values.items():
        if isinstance(value, bool | str) or value is None:
            kept[key] = value
        elif isinstance(value, int | float):
            kept[key] = float(value) if math.isfinite(value) else None
    return kept


def append(folder: Path, record: TrialRecord) -> None:
    """Add one finished trial to the sweep's log."""
    path = Path(folder) / LOG
    line = json.dumps(
        {
            "number": record.number,
            "params": record.params,
            "last": json_values(record.last),
            "error": record.error,
        }
    )
    old = path.read_bytes() if path.exists() else b""
    atomic.write_bytes(path, old + line.encode("utf-8") + b"\n")


def read(folder: Path) -> list[TrialRecord]:
    """The finished trials of a sweep folder, by number (a damaged line: that trial runs
    again)."""
    path = Path(folder) / LOG
    if not path.exists():
        return _from_trial_folders(Path(folder))
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
            record = TrialRecord(
                int(value["number"]), dict(value["params"]), dict(value["last"]), value["error"]
            )
        except (ValueError, KeyError, TypeError):
            continue
        records[record.number] = record
    return [records[number] for number in sorted(records)]


def _from_trial_folders(folder: Path) -> list[TrialRecord]:
    """Trials from the JSON Ray Tune wrote per trial (sweep folders made before the log)."""
    records = {}
    for trial in sorted(folder.glob("tune*/trial_*")):
        try:
            number = int(trial.name.split("_")[1])
            params = json.loads((trial / "params.json").read_text(encoding="utf-8"))
            lines = (trial / "result.json").read_text(encoding="utf-8").strip().splitlines()
            last = json.loads(lines[-1]) if lines else {}
        except (OSError, ValueError, IndexError):
            continue
        error = None
        if (trial / "error.txt").exists():
            error = error_from_text((trial / "error.txt").read_text(encoding="utf-8"))
        if error is None and not last.get("finished"):
            continue  # stopped mid-way (or by ASHA: it cannot be told apart here): run again
        records[number] = TrialRecord(number, params, json_values(last), error)
    return [records[number] for number in sorted(records)]


def error_from_text(traceback: str) -> str:
    """The one line a failed trial's traceback (its error.txt) ends with: one of forecast's
    own errors as its message alone, any other exception with its type."""
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    if not lines:
        return "failed"
    last = re.sub(r"^(forecast\.errors\.)?\w*Error: ", "", lines[-1], count=1)
    return last if last != lines[-1] and _user_error(lines[-1]) else lines[-1][:300]


def _user_error(line: str) -> bool:
    """Whether a traceback's last line is one of forecast's own errors (its text is meant for
    the user as it is)."""
    from forecast import errors

    name = line.split(":", 1)[0].rsplit(".", 1)[-1]
    kind = getattr(errors, name, None)
    return isinstance(kind, type) and issubclass(kind, errors.UserError)
