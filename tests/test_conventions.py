"""The command line behaves like its peers': --version, the resolved config printed, shell
completion, NO_COLOR, --json, hints that name the command as the user typed it, progress
after training; experiment tracking in a real MLflow store; the interactive charts' specs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

import forecast as api
from forecast.cli import main
from forecast.config import config_to_dict, load_config
from tests.conftest import QUICK, tiny_config

ROOT = Path(__file__).resolve().parent.parent


def test_version_prints_one_line_and_exits_zero(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    line = capsys.readouterr().out
    assert line.startswith(f"forecast {api.__version__} (Python 3.") and line.count("\n") == 1
    assert "keras 3." in line and "tensorflow 2." in line


def test_config_prints_the_resolved_config_without_training(capsys, tmp_path):
    assert main(["config", "--config", "quick", "--set", "train.epochs=3"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed == config_to_dict(load_config(QUICK, ["train.epochs=3"]))
    assert printed["train"]["epochs"] == 3 and printed["tracking"]["enabled"] is False
    assert main(["config", "--set", "train.epochz=3"]) == 2
    assert "did you mean 'train.epochs'?" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_name_every_command_and_flag(shell, capsys, tmp_path):
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("train", "backtest", "batch", "completion", "--json", "--tickers-file"):
        assert word in script, word
    assert "python main.py" not in script  # completes the installed command
    checker = shutil.which(shell)
    if checker:  # the script parses in its shell
        path = tmp_path / f"forecast.{shell}"
        path.write_text(script)
        checked = subprocess.run([checker, "-n", str(path)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


def test_no_color_strips_escape_sequences(monkeypatch, capsys):
    from forecast.cli import plain_output

    bar = "\x1b[1m3/10\x1b[0m \x1b[32m━━\x1b[0m\x1b[37m━━\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    with plain_output():
        print(bar)
        print(bar, file=sys.stderr)
    captured = capsys.readouterr()
    assert captured.out == "3/10 ━━━━\n" and captured.err == "3/10 ━━━━\n"
    monkeypatch.setenv("NO_COLOR", "")  # set but empty: colour stays (no-color.org)
    with plain_output():
        print(bar)
    assert capsys.readouterr().out == bar + "\n"


def test_hints_name_the_command_as_the_user_called_it(monkeypatch, run_copy):
    from forecast.base.names import program_name
    from forecast.commands.score import score
    from forecast.errors import UserError

    for argv0, name in (
        ("/usr/local/bin/forecast", "forecast"),
        ("main.py", "python main.py"),
        ("/x/forecast/__main__.py", "python -m forecast"),
    ):
        monkeypatch.setattr(sys, "argv", [argv0])
        assert program_name() == name
    (run_copy / "journal.csv").unlink(missing_ok=True)
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/forecast"])
    with pytest.raises(UserError, match=r"issue one with forecast forecast --run"):
        score(run_copy)
    monkeypatch.setattr(sys, "argv", ["main.py"])
    with pytest.raises(UserError, match=r"issue one with python main.py forecast --run"):
        score(run_copy)


def _json_line(text: str) -> dict:
    """stdout of a --json command: exactly one line of strict JSON."""
    lines = text.splitlines()
    assert len(lines) == 1, text[-2000:]
    return json.loads(lines[0], parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def test_json_prints_one_object_and_sends_the_rest_to_stderr(run_copy, capsys):
    assert main(["evaluate", "--run", str(run_copy), "--json"]) == 0
    captured = capsys.readouterr()
    document = _json_line(captured.out)
    metrics = json.loads((run_copy / "metrics.json").read_text())
    assert document["command"] == "evaluate" and document["folder"] == str(run_copy)
    assert document["summary"]["rmse_ratio"] == metrics["rmse_ratio"]
    assert document["matches"] is True and document["verdict"].startswith("The model")
    api.forecast(run_copy, steps=3)
    assert main(["score", "--run", str(run_copy), "--json"]) == 0
    document = _json_line(capsys.readouterr().out)
    assert document["command"] == "score" and "horizons" in document["summary"]


def test_backtest_json_carries_its_table(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(tmp_path))))
    out = tmp_path / "backtest"
    arguments = ["backtest", "--config", str(config), "--folds", "1", "--out", str(out)]
    assert main([*arguments, "--json"]) == 0
    document = _json_line(capsys.readouterr().out)
    assert document["verdict"].startswith("The model") and document["folder"] == str(out)
    methods = {row["method"] for row in document["table"]}
    assert {"model", "naive", "drift"} <= methods
    assert document["summary"]["overall"]["model"]["n"] > 0


def test_train_json_and_its_progress_after_the_last_epoch(tmp_path, capsys):
    """train --json: the object on stdout; the epoch lines and the calibration's progress
    (the minute after the last epoch that used to be silent) on stderr."""
    from forecast.evaluation.metrics import metrics_verdict

    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            "quick",
            "--set",
            "data.lookback=10",
            "--set",
            "model.layers.0.units=4",
            "--set",
            "model.layers.2.units=4",
            "--set",
            "train.epochs=1",
            "--set",
            "train.progress=epoch",
            "--set",
            "evaluation.baselines=[theta]",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    document = _json_line(captured.out)
    assert document["folder"] == str(out) and document["summary"]["epochs_run"] == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert document["verdict"] == metrics_verdict(metrics)
    assert "Epoch 1/1" in captured.err
    assert "calibrating the bands on the" in captured.err
    assert "fitting the baselines (theta)" in captured.err


# --- tracking ---------------------------------------------------------------------------------


def test_a_train_and_a_backtest_land_in_a_local_mlflow_store(tmp_path):
    """One setting (tracking.enabled) and the runs are in a SQLite store under the runs
    folder: params, per-epoch losses, metrics with DM p-values and band coverage, the
    verdict, the folder's files; read back with MLflow's own client."""
    import mlflow

    from forecast.commands.backtest import backtest
    from forecast.commands.train import train

    config = tiny_config(tmp_path, "tracking.enabled=true", "train.epochs=2")
    trained = train(config, out=tmp_path / "runs" / "run", echo=lambda line: None)
    tested = backtest(config, folds=1, out=tmp_path / "runs" / "backtest", echo=lambda line: None)
    store = tmp_path / "runs" / "mlflow.db"
    assert store.exists()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("forecast")
    found = {
        run.data.tags["command"]: run for run in client.search_runs([experiment.experiment_id])
    }
    assert set(found) == {"train", "backtest"}
    run = found["train"]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["model.layers.0.units"] == "4"
    assert run.data.params["train.epochs"] == "2"
    assert run.data.metrics["rmse_ratio"] == pytest.approx(trained.summary["rmse_ratio"])
    assert run.data.metrics["dm_p_value"] == pytest.approx(trained.summary["dm_p_value"])
    assert run.data.tags["verdict"] == trained.verdict
    losses = client.get_metric_history(run.info.run_id, "loss")
    assert [point.step for point in losses] == [1, 2]
    assert [point.value for point in losses] == pytest.approx(trained.forecaster.history_["loss"])
    files = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"metrics.json", "model.keras", "report.html", "verdict.txt"} <= files
    assert "plotly.min.js" not in files  # the page falls back to its PNGs
    backtested = found["backtest"].data.metrics
    model = tested.summary["overall"]["model"]
    assert backtested["overall.model.rmse_ratio"] == pytest.approx(model["rmse_ratio"])
    assert any(key.startswith("bands.") and "coverage" in key for key in backtested), backtested


def test_tracking_is_off_by_default_and_an_unreachable_server_costs_a_warning(
    tmp_path, monkeypatch, caplog
):
    from forecast.store import tracking

    result = SimpleNamespace(
        folder=tmp_path, verdict="The model is no better.", summary={"rmse": 1.0}, table=None
    )
    assert tracking.log_result(tiny_config(tmp_path), "train", result) is None
    assert not (tmp_path / "runs").exists()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    config = tiny_config(tmp_path, "tracking.uri=http://127.0.0.1:9")  # nothing listens
    assert config.tracking.on
    with caplog.at_level("WARNING"):
        assert tracking.log_result(config, "train", result) is None
    assert f"the run folder {tmp_path} is complete" in caplog.text


def test_a_batch_and_a_sweep_are_one_run_each_with_their_tables(tmp_path):
    """A batch logs each ticker's leaderboard row (TICKER.column), a sweep its objective per
    trial as a series; both with the folder's files, into a store at tracking.uri."""
    import mlflow

    from forecast.store import tracking

    store = tmp_path / "elsewhere.db"
    config = tiny_config(tmp_path, f"tracking.uri=sqlite:///{store}", "tracking.experiment=w")
    folder = tmp_path / "batch"
    (folder / "runs" / "AAA").mkdir(parents=True)
    (folder / "runs" / "AAA" / "metrics.json").write_text("{}")
    (folder / "plotly.min.js").write_text("//")
    table = pd.DataFrame(
        {
            "ticker": ["AAA", "B$B"],
            "status": ["ok", "error"],
            "rmse_ratio": [0.98, np.nan],
            "dm_q_value": [0.4, np.nan],
        }
    )
    batch = SimpleNamespace(
        folder=folder, verdict="0 of 1 tickers beat naive.", summary={"ran": 2}, table=table
    )
    sweep = SimpleNamespace(
        folder=tmp_path, verdict="best: trial 2", summary={"trials": 3}, table=table
    )
    batch_id = tracking.log_result(config, "batch", batch)
    sweep_id = tracking.log_result(
        config, "sweep", sweep, steps={"trial_objective": [1.2, float("nan"), 0.9]}
    )
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
    logged = client.get_run(batch_id).data
    assert logged.metrics == {"ran": 2.0, "AAA.rmse_ratio": 0.98, "AAA.dm_q_value": 0.4}
    files = {item.path for item in client.list_artifacts(batch_id, "runs/AAA")}
    assert files == {"runs/AAA/metrics.json"}
    assert "plotly.min.js" not in {item.path for item in client.list_artifacts(batch_id)}
    history = client.get_metric_history(sweep_id, "trial_objective")
    assert [(point.step, point.value) for point in history] == [(1, 1.2), (3, 0.9)]
    where = client.get_experiment_by_name("w").artifact_location
    assert where == (tmp_path / "mlartifacts").as_uri()  # beside the store, not ./mlruns


def test_flat_metrics_names_band_rows_by_method_and_horizon():
    from forecast.store.tracking import flat_metrics

    summary = {
        "overall": {"model": {"rmse": 2.0, "dm_p_value": None}},
        "bands": [
            {"method": "conformal", "horizon": 1, "coverage95": 0.94, "note": "x"},
            {"method": "conformal", "horizon": 5, "coverage95": 0.9},
        ],
        "verdict": "text",
        "n": float("nan"),
    }
    assert dict(flat_metrics(summary)) == {
        "overall.model.rmse": 2.0,
        "bands.conformal.h1.horizon": 1.0,
        "bands.conformal.h1.coverage95": 0.94,
        "bands.conformal.h5.horizon": 5.0,
        "bands.conformal.h5.coverage95": 0.9,
    }


# --- interactive charts -----------------------------------------------------------------------


def test_the_forecast_chart_has_bands_beside_the_random_walks_and_escapes_input():
    from forecast.report import interactive

    dates = pd.bdate_range("2024-01-01", periods=30)
    history = pd.Series(np.linspace(100, 110, 30), index=dates)
    frame = pd.DataFrame(
        {
            "date": [day.strftime("%Y-%m-%d") for day in pd.bdate_range("2024-02-12", periods=5)],
            "median": np.full(5, 110.0),
            **{name: np.full(5, value) for name, value in (("lo80", 108.0), ("hi80", 112.0))},
            **{name: np.full(5, value) for name, value in (("lo95", 106.0), ("hi95", 114.0))},
            **{"rw_lo95": np.full(5, 105.0), "rw_hi95": np.full(5, 115.0)},
        }
    )
    figure = interactive.forecast(history, frame, "<b>SYN</b>: next 5")
    names = [trace.name for trace in figure.data if trace.showlegend is not False]
    assert names == ["history", "95 % band", "80 % band", "median", "random walk's 95 % band"]
    assert figure.layout.title.text == "&lt;b&gt;SYN&lt;/b&gt;: next 5"
    assert figure.layout.xaxis.rangeselector.buttons  # zoom to 1m, 6m, 1y, all
    band = next(trace for trace in figure.data if trace.name == "95 % band")
    assert band.y[0] == history.iloc[-1] and band.y[-1] == 114.0  # from the last close


def test_the_loss_chart_counts_whole_epochs_and_tables_share_decimals():
    from forecast.report import interactive
    from forecast.report.page import column_format

    figure = interactive.loss({"loss": [0.1, 0.05, 0.02], "val_loss": [0.2, 0.1, 0.09]})
    assert figure.layout.xaxis.tickformat == "d" and figure.layout.xaxis.dtick == 1
    assert list(figure.data[0].x) == [1, 2, 3]
    mae = column_format(pd.Series([3.4, 0.4932]))
    assert [mae(value) for value in (3.4, 0.4932)] == ["3.4000", "0.4932"]
    prices = column_format(pd.Series([412.3456, 98.1]))
    assert [prices(value) for value in (412.3456, 98.1, float("nan"))] == ["412.35", "98.10", "–"]
    counts = column_format(pd.Series([151.0, 20.0]))
    assert counts(151.0) == "151"
