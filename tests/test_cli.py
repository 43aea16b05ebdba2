"""The CLI end to end: real subprocesses for the main paths, in-process for error cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_help_answers_without_importing_tensorflow():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "main.py"), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and "train" in result.stdout and "evaluate" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert not any(name.startswith(("tensorflow", "keras", "sklearn")) for name in imported)


@pytest.mark.slow
def test_train_then_evaluate_end_to_end_on_the_sample(tmp_path, capsys):
    out = tmp_path / "run"
    result = run_cli(
        "train",
        "--config",
        str(ROOT / "configs" / "quick.yaml"),
        "--set",
        "train.epochs=1",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "naive" in result.stdout and "rmse_ratio" in result.stdout
    assert f"run folder: {out}" in result.stdout
    assert "Total params" in result.stdout  # the model summary
    for name in (
        "config.yaml",
        "model.keras",
        "scaler.json",
        "metrics.json",
        "predictions.csv",
        "true_vs_predicted.png",
        "loss.png",
        "run.json",
    ):
        assert (out / name).is_file(), name
    assert main(["evaluate", "--run", str(out)]) == 0  # in this process: one import fewer
    printed = capsys.readouterr()
    assert "matches metrics.json" in printed.out
    stored = json.loads((out / "metrics.json").read_text())
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert all(evaluation[key] == stored[key] for key in evaluation if key in stored)
    assert stored["baselines"]["arima"]["label"].startswith("ARIMA(")  # from baselines.json
    assert "Traceback" not in result.stderr + printed.err


@pytest.mark.slow
def test_user_error_in_a_subprocess_is_one_line_and_exit_2(tmp_path):
    result = run_cli("train", "--set", "train.epoch=3", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --set train.epoch: unknown key 'train.epoch'; did you mean 'train.epochs'?"
    ]


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["train", "--set", "train.epochs"], "expected KEY=VALUE"),
        (["train", "--config", "missing.yaml"], "missing.yaml: config file not found"),
        (["train", "--set", "data.lookback=1"], "data.lookback: 1 is invalid: must be an integer"),
        (
            ["train", "--set", "data.source=csv", "--set", "data.path=nope.csv"],
            "nope.csv: file not found; set data.path",
        ),
        (["train", "--set", "data.start=2017-11-01"], "found 8 rows of prices, need at least"),
        (["evaluate", "--run", "no-such-run"], "--run no-such-run: no such folder"),
        # flags: argparse's own refusals, as one line too
        (["train", "--epochs", "3"], "unrecognized arguments: --epochs 3"),
        (["forecast"], "the following arguments are required: --run"),
        (
            ["forecast", "--run", "x", "--steps", "many"],
            "argument --steps/--days: invalid int value",
        ),
        (
            ["forecast", "--run", "x", "--data", "new.csv", "--refresh"],
            "argument --refresh: not allowed with argument --data",
        ),
        (["forecast", "--run", "x", "--band-method", "wide"], "invalid choice: 'wide'"),
        (["nonsense"], "invalid choice: 'nonsense'"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(argv, pattern, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and pattern in error[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_python_errors_name_the_argument_and_the_cli_names_the_flag(trained, capsys):
    """The same check speaks to whoever called: steps=0 from Python, --steps 0 from the CLI."""
    import forecast as api
    from forecast.errors import UserError

    with pytest.raises(UserError, match=r"^steps=0 samples=100: both must be at least 1$"):
        api.forecast(trained.folder, steps=0)
    assert main(["forecast", "--run", str(trained.folder), "--steps", "0"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["error: --steps 0 --samples 100: both must be at least 1"]
    with pytest.raises(UserError, match=r"data_path='new.csv' with refresh: .* drop one"):
        api.forecast(trained.folder, data_path="new.csv", refresh=True)
