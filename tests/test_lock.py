"""One writer per folder (forecast/store/lock.py): every command that writes a run, batch or
sweep folder holds its lock; a second writer waits, or refuses in one line naming the first."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import forecast as api
from forecast.base.barrier import VARIABLE
from forecast.errors import RunError
from forecast.store.journal import read_journal
from forecast.store.lock import WAIT, writing
from tests.conftest import ROOT, arrival, tiny_config


def refused(call, folder: Path, monkeypatch) -> str:
    """The error a command gets while the test holds ``folder``'s lock."""
    monkeypatch.setenv(WAIT, "0.2")
    with writing(folder, "a test"), pytest.raises(RunError) as caught:
        call()
    return str(caught.value)


WRITERS = {
    "forecast": lambda run, tmp: api.forecast(run, steps=2),
    "score": lambda run, tmp: api.score(run),
    "evaluate": lambda run, tmp: api.evaluate(run, echo=lambda line: None),
    "explain": lambda run, tmp: api.explain(run),
    "train --resume": lambda run, tmp: api.resume(run, echo=lambda line: None),
    "train --out --overwrite": lambda run, tmp: api.train(
        tiny_config(tmp), out=run, overwrite=True, echo=lambda line: None
    ),
    "update": lambda run, tmp: api.update(run, out=tmp / "new", echo=lambda line: None),
}


@pytest.mark.parametrize("command", WRITERS)
def test_every_writer_of_a_run_folder_takes_its_lock(command, run_copy, tmp_path, monkeypatch):
    before = {path.name: path.read_bytes() for path in run_copy.iterdir() if path.is_file()}
    message = refused(lambda: WRITERS[command](run_copy, tmp_path), run_copy, monkeypatch)
    assert message.startswith(f"{run_copy}: 'a test' (pid {os.getpid()}, since ")
    assert message.endswith(
        f"is writing this folder; waited 0.2 s for it to finish (set {WAIT} to wait longer), "
        f"or run this again when it is done"
    )
    after = {path.name: path.read_bytes() for path in run_copy.iterdir() if path.is_file()}
    assert after == before  # .lock included: the refused writer changed nothing


def test_batch_update_takes_the_batch_folders_lock(tmp_path, monkeypatch):
    from forecast.scaleout.batch import update_batch

    (tmp_path / "config.yaml").write_text("{}")
    (tmp_path / "leaderboard.json").write_text("{}")
    message = refused(lambda: update_batch(tmp_path, echo=lambda line: None), tmp_path, monkeypatch)
    assert "'a test'" in message and "is writing this folder" in message


def test_a_waiting_writer_goes_on_when_the_first_is_done(tmp_path, monkeypatch):
    """The lock, held and released: the second writer waits (and says so at its barrier),
    then holds it; the lock file names whoever holds it."""
    monkeypatch.setenv(VARIABLE, str(tmp_path / "barrier"))
    (tmp_path / "run").mkdir()
    held = threading.Event()

    def second() -> None:
        with writing(tmp_path / "run", "second", wait=60):
            held.set()

    with writing(tmp_path / "run", "first"):
        assert '"command": "first"' in (tmp_path / "run" / ".lock").read_text()
        thread = threading.Thread(target=second)
        thread.start()
        arrival(tmp_path / "barrier", "waiting-second", timeout=30)
        assert not held.is_set()  # it waits while the first holds the folder
    thread.join(timeout=30)
    assert held.is_set()
    assert (tmp_path / "run" / ".lock").read_text() == ""  # nobody holds it now


def cli(*arguments: str, **environment: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "main.py", *arguments],
        cwd=ROOT,
        env={**os.environ, **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_forecasts_at_once_keep_both_journal_rows_and_a_third_refuses(run_copy, tmp_path):
    """Three CLI processes on one run: the first holds the folder (at its barrier), the second
    waits for it, the third gives up after 0.2 s naming the first. The second, from the same
    origin with more steps, journals only the steps the first did not: it read the journal
    after the first wrote it."""
    held, waiting = tmp_path / "held", tmp_path / "waiting"
    held.mkdir()
    (held / "holding-forecast.hold").touch()
    first = cli("forecast", "--run", str(run_copy), "--steps", "2", **{VARIABLE: str(held)})
    holder = arrival(held, "holding-forecast")
    second = cli("forecast", "--run", str(run_copy), "--steps", "4", **{VARIABLE: str(waiting)})
    arrival(waiting, "waiting-forecast")
    third = cli("forecast", "--run", str(run_copy), "--steps", "3", **{WAIT: "0.2"})
    _, error = third.communicate(timeout=120)
    assert third.returncode == 2
    assert len(error.strip().splitlines()) == 1 and f"'forecast' (pid {holder}," in error
    assert first.poll() is None and second.poll() is None  # one holds, one waits
    (held / "holding-forecast.hold").unlink()
    for process in (first, second):
        _, error = process.communicate(timeout=120)
        assert process.returncode == 0, error[-2000:]
    assert list(read_journal(run_copy)["step"]) == [1, 2, 3, 4]
