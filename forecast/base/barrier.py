"""A seam for tests of interruptions: with ``FORECAST_TASK_BARRIER`` set to a folder, a task
that reaches ``wait_at(name)`` writes ``NAME.PID.started`` there and, while ``NAME.hold``
exists beside it, waits (at most ten minutes). A test can then kill or interrupt the task at
a known point instead of racing a clock. Without the variable it does nothing."""

from __future__ import annotations

import os
import time
from pathlib import Path

from forecast.base import atomic

VARIABLE = "FORECAST_TASK_BARRIER"
LONGEST_WAIT = 600.0  # seconds


def wait_at(name: str) -> None:
    folder = os.environ.get(VARIABLE)
    if not folder:
        return
    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    atomic.write_text(folder_path / f"{name}.{os.getpid()}.started", str(os.getpid()))
    hold, deadline = folder_path / f"{name}.hold", time.monotonic() + LONGEST_WAIT
    while hold.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
