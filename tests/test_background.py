"""A command's work beside it in a forked child (forecast.png): the job runs in another
process, its error is raised in the command, and inline where forking is not safe."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from forecast.base import background
from forecast.errors import UserError


def write_pid(path: Path) -> None:
    path.write_text(str(os.getpid()))


def fail(message: str) -> None:
    raise UserError(message)


@pytest.fixture
def forking(monkeypatch):
    """Fork even inside the test runner (its threads do not touch the child's job)."""
    monkeypatch.setattr(background, "can_fork", lambda: True)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("a worker hung"))
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_the_job_runs_in_a_child_after_its_preparation(forking, tmp_path):
    prepared = tmp_path / "prepared"
    worker = background.Worker(prepare=lambda: write_pid(prepared))
    assert worker.forked
    worker.submit(write_pid, tmp_path / "job")
    worker.wait()
    child = int((tmp_path / "job").read_text())
    assert child != os.getpid() and int(prepared.read_text()) == child
    assert worker.pid is None
    worker.wait()  # again: nothing left to wait for


def test_the_childs_error_is_raised_in_the_command(forking):
    worker = background.Worker()
    worker.submit(fail, "data.csv: no 'Close' column")
    with pytest.raises(UserError, match="no 'Close' column"):
        worker.wait()


def test_an_error_while_preparing_is_raised_too(forking):
    worker = background.Worker(prepare=lambda: fail("cannot import"))
    worker.submit(write_pid, Path("/nonexistent/never"))
    with pytest.raises(UserError, match="cannot import"):
        worker.wait()


def slow_preparation() -> None:
    time.sleep(30)


def test_a_command_that_fails_first_stops_its_child_at_once(forking):
    """Nothing was submitted (the run folder did not load, say): the child is stopped and
    reaped, not waited for through its preparation."""
    worker = background.Worker(prepare=slow_preparation)
    pid = worker.pid
    started = time.perf_counter()
    worker.wait()
    assert time.perf_counter() - started < 5
    with pytest.raises(ChildProcessError):  # reaped
        os.waitpid(pid, os.WNOHANG)


def test_a_later_workers_child_does_not_hold_an_earlier_job_open(forking, tmp_path):
    """The second child closes its copy of the first worker's job pipe, so the first child
    sees its job end while the second is still alive (else this waits forever)."""
    first, second = background.Worker(), background.Worker()
    first.submit(write_pid, tmp_path / "first")
    first.wait()
    assert (tmp_path / "first").exists() and second.forked
    second.submit(write_pid, tmp_path / "second")
    second.wait()
    assert (tmp_path / "second").read_text() != (tmp_path / "first").read_text()


def test_inline_where_forking_is_not_safe(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_BACKGROUND", "0")
    assert not background.can_fork()
    worker = background.Worker(prepare=lambda: pytest.fail("no child, nothing to prepare"))
    assert not worker.forked
    worker.submit(write_pid, tmp_path / "job")
    assert int((tmp_path / "job").read_text()) == os.getpid()  # done at submit
    with pytest.raises(UserError, match="inline"):
        worker.submit(fail, "inline")


def test_only_a_processs_first_forecast_draws_in_a_child(forking, monkeypatch):
    """A loop over runs in one process imports matplotlib once and draws inline after the
    first picture, instead of a child importing it again for every run."""
    from forecast.commands import forecast

    monkeypatch.setattr(forecast, "_painted", [])
    first = forecast.first_painter()
    assert first.forked
    first.wait()
    assert not forecast.first_painter().forked


def write_outside(path: Path, text: str) -> None:
    from forecast.base import atomic

    with atomic.outside_transaction():
        atomic.write_text(path, text)


@pytest.mark.parametrize("fails", [False, True])
def test_a_childs_file_joins_the_commands_all_or_nothing(forking, tmp_path, fails):
    """The command keeps the file before its child replaces it: a failed command puts it
    back, a successful one leaves no kept copy behind (the child's own copy of the
    transaction is never used)."""
    from forecast.base import atomic

    picture = tmp_path / "forecast.png"
    picture.write_text("before")
    failing = pytest.raises(RuntimeError) if fails else contextlib.nullcontext()
    with failing, atomic.transaction():
        atomic.keep(picture)
        worker = background.Worker()
        worker.submit(write_outside, picture, "after")
        worker.wait()
        assert picture.read_text() == "after"
        if fails:
            raise RuntimeError("the journal could not be written")
    assert picture.read_text() == ("before" if fails else "after")
    assert [path.name for path in tmp_path.iterdir()] == ["forecast.png"]


class Awkward(Exception):
    """An exception whose class cannot be rebuilt from its arguments."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def fail_awkwardly() -> None:
    raise Awkward("disk", "gone")


def test_an_error_that_cannot_travel_comes_back_as_its_text(forking):
    worker = background.Worker()
    worker.submit(fail_awkwardly)
    with pytest.raises(RuntimeError, match="Awkward: disk gone"):
        worker.wait()
