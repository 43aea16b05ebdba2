"""Faults lose nothing: a killed or interrupted training resumes to the same artifacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUICK = str(ROOT / "configs" / "quick.yaml")
SETTINGS = ["--set", "train.epochs=12", "--set", "data.lookback=10"]


def cli(*args: str) -> list[str]:
    return [sys.executable, str(ROOT / "main.py"), *args]


def environment() -> dict[str, str]:
    return {**os.environ, "CI": "true"}


def wait_for_epoch(
    run_dir: Path, process: subprocess.Popen, epoch: int, timeout: float = 120
) -> None:
    state = run_dir / "training_state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if state.exists():
            try:
                if json.loads(state.read_text())["epoch"] >= epoch:
                    return
            except ValueError:
                pass  # never happens with atomic writes, but do not fail the test on it
        assert process.poll() is None, "training ended before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("no training state appeared")


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_the_clean_run_artifacts(tmp_path):
    clean = tmp_path / "clean"
    subprocess.run(
        cli("train", "--config", QUICK, *SETTINGS, "--out", str(clean)),
        check=True,
        capture_output=True,
        env=environment(),
        cwd=tmp_path,
    )
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        cli("train", "--config", QUICK, *SETTINGS, "--out", str(killed)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environment(),
        cwd=tmp_path,
    )
    wait_for_epoch(killed, process, 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "run.json").exists()  # an interrupted run never looks complete
    result = subprocess.run(
        cli("evaluate", "--run", str(killed)), capture_output=True, text=True, env=environment()
    )
    assert result.returncode == 2 and "incomplete" in result.stderr
    result = subprocess.run(
        cli("train", "--resume", str(killed)),
        capture_output=True,
        text=True,
        env=environment(),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stdout
    for name in ("metrics.json", "predictions.csv", "history.json", "scaler.json"):
        assert (killed / name).read_bytes() == (clean / name).read_bytes(), name
    assert sorted(path.name for path in killed.iterdir()) == sorted(
        path.name for path in clean.iterdir()
    )  # the training state is cleaned up


@pytest.mark.slow
def test_ctrl_c_saves_state_and_says_how_to_resume(tmp_path):
    run_dir = tmp_path / "run"
    # many epochs: the signal must find the run still training, however fast epochs are
    process = subprocess.Popen(
        cli(
            "train",
            "--config",
            QUICK,
            *SETTINGS,
            "--set",
            "train.epochs=500",
            "--out",
            str(run_dir),
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
        cwd=tmp_path,
    )
    wait_for_epoch(run_dir, process, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
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
