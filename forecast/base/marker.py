"""run.json: written last into every folder forecast writes, so that its presence says every
other file is in place; an interrupted write leaves a folder readers refuse."""

from __future__ import annotations

import datetime as dt
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.base.names import program_name
from forecast.base.values import read_json
from forecast.errors import RunError, named

MARKER = "run.json"
PACKAGES = (
    "forecast",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "numpy",
    "pandas",
    "h5py",
    "scipy",
    "matplotlib",
    "yfinance",
    "PyYAML",
)


def versions() -> dict[str, str]:
    """Python's and the installed packages' versions, for provenance."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def mark_complete(folder: Path, details: dict[str, Any]) -> None:
    """Write run.json last: status complete, when, the versions, and ``details``."""
    record = {
        "status": "complete",
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        **details,
    }
    atomic.write_json(folder / MARKER, record)


def read_marker(folder: Path) -> dict[str, Any]:
    """The run folder's run.json, refusing a missing folder, a missing or unfinished marker
    (named as the caller gave the folder: ``run_dir=…`` or ``--run …``)."""
    path = Path(folder)
    if not path.is_dir():
        raise RunError(
            f"{named('run_dir', path)}: no such folder; pass a folder written by "
            f"'{program_name()} train'"
        )
    marker = path / MARKER
    if not marker.exists():
        raise RunError(
            f"{named('run_dir', path)}: no {MARKER}, so the run is incomplete (interrupted or "
            f"not a run folder); train again"
        )
    record = read_json(marker)
    if record.get("status") != "complete":
        raise RunError(f"{marker}: status is {record.get('status')!r}, not 'complete'; train again")
    return record
