"""One piece of a command's work done in a forked child process while the command goes on.

Why: ``forecast`` spends about half a second importing matplotlib and drawing forecast.png,
as long as everything else it does after its imports; on a machine with two cores the
picture can be made beside the rest. A ``Worker`` forks when the command starts, so the
child imports what it will need (``prepare``) while the command loads the run and
forecasts; ``submit`` then hands it one job (a function and its arguments, pickled through
a pipe) and ``wait`` blocks until it is done, raising the child's error in the command, so
a failure is as loud as inline. The child leaves with ``os._exit`` (no second flush of the
parent's buffers, no exit handlers); a command that fails before it submits stops it.

Pickle only crosses the pipe between this process and its own fork: the same program, the
same memory, a job this process just built and an error its child just raised. Nothing
pickled is written to a file or read from anywhere else (run folders hold no pickles).

The job runs inline at ``submit`` instead wherever forking is not safe or not known to be:
off Linux, once TensorFlow is loaded (its thread pools), or when this process runs other
Python threads (a notebook's kernel, a Ray worker, a test runner); ``FORECAST_BACKGROUND=0``
asks for inline everywhere.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


def can_fork() -> bool:
    """Whether a ``Worker`` forks here (see the module's docstring)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and os.environ.get("FORECAST_BACKGROUND", "1") != "0"
        and "tensorflow" not in sys.modules
        and threading.active_count() == 1
    )


# The parent's ends of every live worker's pipes. A child closes its copies of them at once:
# a later worker's child holding an earlier worker's job pipe open would keep that worker
# from seeing the end of its job.
_parent_ends: set[int] = set()


def _close(descriptor: int) -> None:
    _parent_ends.discard(descriptor)
    os.close(descriptor)


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, 1 << 16):
        chunks.append(chunk)
    _close(descriptor)
    return b"".join(chunks)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
    _close(descriptor)


class Worker:
    """A forked child that runs ``prepare()`` at once and then the one job it is given."""

    def __init__(self, prepare: Callable[[], Any] | None = None, fork: bool = True) -> None:
        """``fork=False``: the job runs inline at ``submit`` (no child, nothing prepared)."""
        self.pid: int | None = None
        if not (fork and can_fork()):
            return
        job_reader, self._job_writer = os.pipe()
        self._error_reader, error_writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            for descriptor in (*_parent_ends, self._job_writer, self._error_reader):
                os.close(descriptor)
            _parent_ends.clear()
            self._child(prepare, job_reader, error_writer)  # never returns
        os.close(job_reader)
        os.close(error_writer)
        _parent_ends.update((self._job_writer, self._error_reader))
        self.pid = pid

    @property
    def forked(self) -> bool:
        return self.pid is not None

    @staticmethod
    def _child(prepare: Callable[[], Any] | None, job_reader: int, error_writer: int) -> None:
        code = 0
        try:
            if prepare is not None:
                prepare()
            job = _read_all(job_reader)
            if job:  # nothing: the parent did not submit
                function, args, kwargs = pickle.loads(job)
                function(*args, **kwargs)
        except BaseException as error:  # every error goes to the parent
            code = 1
            try:
                report = pickle.dumps(error)
                pickle.loads(report)  # an exception class that cannot be rebuilt goes as text
            except Exception:
                report = pickle.dumps(RuntimeError(f"{type(error).__name__}: {error}"))
            _write_all(error_writer, report)
        finally:
            os._exit(code)

    def submit(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``function(*args, **kwargs)`` in the child (a module-level function: it is
        pickled by name), or now where there is no child; its result is dropped. A job
        larger than the pipe's buffer (64 KB on Linux) waits here until the child has
        prepared and reads it: hand over small data."""
        if self.pid is None:
            function(*args, **kwargs)
            return
        _write_all(self._job_writer, pickle.dumps((function, args, kwargs)))
        self._job_writer = -1

    def wait(self) -> None:
        """Block until the child is done; the job's exception, if it raised one, is raised
        here. Without a submitted job (the command failed first) the child is stopped, not
        waited for: it has nothing left to do."""
        if self.pid is None:
            return
        if self._job_writer >= 0:  # never submitted
            _close(self._job_writer)
            self._job_writer = -1
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _close(self._error_reader)
            os.waitpid(self.pid, 0)
            self.pid = None
            return
        report = _read_all(self._error_reader)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if report:
            raise pickle.loads(report)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"the background work ended with exit status {code}")
