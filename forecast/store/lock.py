"""One writer per folder: every command that writes a run (or a batch's, a sweep's folder)
holds an exclusive lock on FOLDER/.lock while it does (``fcntl.flock``: the operating system
drops it when the process dies, however it dies). A second writer waits for it a bounded
time (``FORECAST_LOCK_WAIT`` seconds, 60 by default), then refuses in one line naming the
command and the process that holds it. Readers take no lock and never wait: every file is
replaced whole (base/atomic.py), so a reader sees each file before or after a write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.base.barrier import wait_at
from forecast.base.marker import MARKER
from forecast.errors import RunError

LOCK = ".lock"
RUN_FILES = (MARKER, "config.yaml")  # a folder with neither is no run (nor one started)
WAIT = "FORECAST_LOCK_WAIT"  # seconds a second writer waits before it refuses
DEFAULT_WAIT = 60.0


def holder(folder: Path) -> str:
    """Who holds the folder's lock, in words (from the lock file's record)."""
    try:
        record = json.loads((Path(folder) / LOCK).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "another forecast process"
    command, pid, since = (record.get(key, "?") for key in ("command", "pid", "since"))
    return f"'{command}' (pid {pid}, since {since})"


@contextlib.contextmanager
def writing(
    folder: str | Path,
    command: str,
    wait: float | None = None,
    only_if: tuple[str, ...] = (),
) -> Iterator[Path]:
    """Hold FOLDER's write lock for the block. ``command``: what this process is doing
    there, shown to a writer that finds the lock taken. A folder that does not exist is not
    locked (nor made), nor one holding none of the files ``only_if`` names (a folder that is
    not one of ours gets no .lock file): the command's own check names it."""
    folder = Path(folder)
    if not folder.is_dir() or (only_if and not any((folder / name).exists() for name in only_if)):
        yield folder
        return
    limit = float(os.environ.get(WAIT, DEFAULT_WAIT)) if wait is None else wait
    seam = re.sub(r"[^A-Za-z0-9]+", "-", command).strip("-")  # a test's barrier names
    try:
        descriptor = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RunError(
            f"{folder}: cannot write in this folder ({error.strerror}); make it writable or "
            f"copy the run somewhere you may write"
        ) from None
    try:
        deadline, waiting = time.monotonic() + limit, False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waiting:
                    waiting = True
                    wait_at(f"waiting-{seam}")  # base/barrier.py: a test learns it waits
                if time.monotonic() >= deadline:
                    raise RunError(
                        f"{folder}: {holder(folder)} is writing this folder; waited "
                        f"{limit:g} s for it to finish (set {WAIT} to wait longer), or run "
                        f"this again when it is done"
                    ) from None
                time.sleep(0.05)
        record = {
            "command": command,
            "pid": os.getpid(),
            "since": dt.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, json.dumps(record).encode(), 0)
        try:
            wait_at(f"holding-{seam}")  # base/barrier.py: a test holds the writer here
            yield folder
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def locked(command: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A command function whose first argument is the run folder it writes runs holding that
    folder's lock, its writes all or nothing (``atomic.transaction``)."""

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(folder: str | Path, *arguments: Any, **keywords: Any) -> Any:
            with writing(folder, command, only_if=RUN_FILES), atomic.transaction():
                return function(folder, *arguments, **keywords)

        return run

    return wrap
