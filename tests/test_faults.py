"""Faults lose nothing: a killed or interrupted training resumes to the same artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from forecast.cli import main
from tests.conftest import arrival

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "configs" / "quick.yaml")
SETTINGS = [
    *("--set", "train.epochs=12", "--set", "data.lookback=10"),
    *("--set", "evaluation.baselines=[]"),  # their fits are tested in test_baselines
]


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def environment(barrier: Path | None = None) -> dict[str, str]:
    """The CLI's environment: CI's (no progress bars); with ``barrier``, its task barriers."""
    from forecast.base.barrier import VARIABLE

    return {**os.environ, "CI": "true", **({VARIABLE: str(barrier)} if barrier else {})}


def held_at(barrier: Path, name: str) -> Path:
    """Hold the next process that reaches barrier ``name`` there (base/barrier.py)."""
    barrier.mkdir(parents=True, exist_ok=True)
    hold = barrier / f"{name}.hold"
    hold.touch()
    return hold


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_the_clean_run_artifacts(tmp_path, capsys):
    clean = tmp_path / "clean"
    subprocess.run(
        cli("train", "--config", QUICK, *SETTINGS, "--out", str(clean)),
        check=True,
        capture_output=True,
        env=environment(),
        cwd=tmp_path,
    )
    killed, barrier = tmp_path / "killed", tmp_path / "barrier"
    held_at(barrier, "epoch-3")  # after epoch 3's checkpoint
    process = subprocess.Popen(
        cli("train", "--config", QUICK, *SETTINGS, "--out", str(killed)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(barrier),
        cwd=tmp_path,
    )
    assert arrival(barrier, "epoch-3") == process.pid
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert json.loads((killed / "training_state.json").read_text())["epoch"] == 3
    assert not (killed / "run.json").exists()  # an interrupted run never looks complete
    assert main(["evaluate", "--run", str(killed)]) == 2  # in this process: no second import
    assert "incomplete" in capsys.readouterr().err
    result = subprocess.run(
        cli("train", "--resume", str(killed)),
        capture_output=True,
        text=True,
        env=environment(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout and "after epoch 3 of 12" in result.stdout
    for name in ("metrics.json", "predictions.csv", "history.json", "scaler.json"):
        assert (killed / name).read_bytes() == (clean / name).read_bytes(), name
    assert sorted(path.name for path in killed.iterdir()) == sorted(
        path.name for path in clean.iterdir()
    )  # the training state is cleaned up


@pytest.mark.slow
def test_ctrl_c_saves_state_and_says_how_to_resume(tmp_path):
    run_dir, barrier = tmp_path / "run", tmp_path / "barrier"
    held_at(barrier, "epoch-2")
    process = subprocess.Popen(
        cli("train", "--config", QUICK, *SETTINGS, "--out", str(run_dir)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(barrier),
        cwd=tmp_path,
    )
    arrival(barrier, "epoch-2")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted after epoch 2 of 12" in stderr
    assert f"python main.py train --resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    assert (run_dir / "training_state.json").exists() and not (run_dir / "run.json").exists()


@pytest.mark.slow
def test_two_runs_started_together_get_their_own_folders_and_identical_results(tmp_path):
    args = cli(
        "train",
        "--config",
        QUICK,
        "--set",
        "train.epochs=1",
        "--set",
        f"output.runs_dir={tmp_path / 'runs'}",
    )
    processes = [
        subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert json.loads((folder / "run.json").read_text())["status"] == "complete"
    first, second = folders
    for name in ("metrics.json", "predictions.csv"):  # same config + seed: same bytes
        assert (first / name).read_bytes() == (second / name).read_bytes()


# --- full disks and read-only folders --------------------------------------------------------


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def no_space(name: str):
    """matplotlib's savefig, failing as a full disk does when it writes ``name``."""
    import errno

    from matplotlib.figure import Figure

    save = Figure.savefig

    def savefig(self, target, *arguments, **keywords):
        if Path(target).name.startswith(f".{Path(name).stem}.tmp-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return save(self, target, *arguments, **keywords)

    return savefig


@pytest.mark.parametrize(
    "command, failing",
    [
        (["forecast", "--steps", "3"], "forecast.png"),  # after forecast.csv and .json
        (["score"], "live.png"),  # after live.csv and live.json
    ],
)
def test_a_full_disk_mid_command_leaves_every_file_as_it_was(
    command, failing, run_copy, monkeypatch, capsys
):
    """ENOSPC at the command's third file: one line naming it and why; every file the
    command had already replaced is put back byte for byte, and nothing new is left."""
    from matplotlib.figure import Figure

    from forecast.cli import main

    assert main(["forecast", "--run", str(run_copy), "--steps", "2"]) == 0  # a journal to score
    capsys.readouterr()
    before = snapshot(run_copy)
    monkeypatch.setattr(Figure, "savefig", no_space(failing))
    code = main([command[0], "--run", str(run_copy), *command[1:]])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert error[0].startswith(f"error: {run_copy / failing}: cannot write (No space left")
    assert "nothing this command wrote was kept" in error[0]
    assert snapshot(run_copy) == before
    assert not [path.name for path in run_copy.iterdir() if ".tmp-" in path.name]


def test_a_folder_that_may_not_be_written_is_named(run_copy, monkeypatch, capsys):
    """EACCES (as a read-only folder gives; root may write anywhere, so it is patched in):
    the forecast says which file and why, and the journal is as it was."""
    import errno
    import tempfile

    from forecast.cli import main

    make = tempfile.mkstemp

    def refused(*arguments, **keywords):
        if keywords.get("prefix", "").startswith(".journal"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return make(*arguments, **keywords)

    before = snapshot(run_copy)
    monkeypatch.setattr(tempfile, "mkstemp", refused)
    code = main(["forecast", "--run", str(run_copy), "--steps", "2"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert error[0].startswith(f"error: {run_copy / 'journal.csv'}: cannot write (Permission")
    assert snapshot(run_copy) == before
