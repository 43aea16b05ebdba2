"""train() and evaluate() on tiny models: artifacts, honest metrics, reproducibility."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.commands.evaluate import evaluate
from forecast.commands.train import train
from forecast.errors import RunError, TrainingInterrupted, UserError
from forecast.evaluation.metrics import METRIC_KEYS, rmse
from forecast.forecasting.state import STATE_FILES
from forecast.model import checkpoints
from forecast.store.runs import load_run
from tests.conftest import synthetic_prices, tiny_config


def quiet(line: str) -> None:
    pass


def csv_config(tmp_path: Path, prices: pd.Series, name: str, *overrides: str):
    path = tmp_path / f"{name}.csv"
    pd.DataFrame({"Date": prices.index.strftime("%Y-%m-%d"), "Close": prices.to_numpy()}).to_csv(
        path, index=False
    )
    return tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "data.ticker=SYN",
        *overrides,
    )


def test_run_folder_holds_every_artifact(trained):
    run_dir = trained.folder
    made = (*STATE_FILES, "metrics.json", "predictions.csv", "true_vs_predicted.png", "loss.png")
    for name in (*made, "calibration.json", "calibration.npz", "report.html", "run.json"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= {*METRIC_KEYS, "n_train", "n_test", "epochs_run"}
    assert metrics["epochs_run"] == 1
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert list(predictions.columns) == ["date", "actual", "predicted", "naive"]
    assert len(predictions) == metrics["n_test"] == len(trained.forecaster.dataset().y_test)
    scaler = json.loads((run_dir / "scaler.json").read_text())
    assert {"data_min_", "data_max_", "scale_", "min_", "feature_range"} <= set(scaler)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "complete" and len(record["data_sha256"]) == 64
    assert (run_dir / "true_vs_predicted.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(run_dir.glob(".*tmp*"))  # no temporary files left behind


def test_naive_is_the_previous_close_on_the_same_days(trained):
    predictions = pd.read_csv(trained.folder / "predictions.csv")
    prices = trained.forecaster.dataset().prices
    n_train = trained.forecaster.dataset().n_train
    np.testing.assert_allclose(predictions["actual"], prices.iloc[n_train:].to_numpy())
    np.testing.assert_allclose(predictions["naive"], prices.iloc[n_train - 1 : -1].to_numpy())
    assert predictions["date"].iloc[0] == prices.index[n_train].strftime("%Y-%m-%d")
    assert trained.summary["naive_rmse"] == pytest.approx(
        rmse(predictions["actual"], predictions["naive"]), rel=1e-9
    )


def test_evaluate_reproduces_metrics_from_the_folder_alone(trained):
    evaluation = evaluate(trained.folder).summary
    stored = json.loads((trained.folder / "metrics.json").read_text())
    assert {key: evaluation[key] for key in METRIC_KEYS} == {
        key: stored[key] for key in METRIC_KEYS
    }
    written = json.loads((trained.folder / "evaluation.json").read_text())
    assert written == evaluation
    run = load_run(trained.folder)
    assert run.forecaster.keras_model().input_shape == (None, run.config.data.lookback, 1)


def test_evaluate_refuses_incomplete_or_missing_runs(trained, tmp_path):
    with pytest.raises(RunError, match="no such folder"):
        evaluate(tmp_path / "nothing")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.yaml").write_text((trained.folder / "config.yaml").read_text())
    with pytest.raises(RunError, match="no run.json, so the run is incomplete"):
        evaluate(partial)


def test_same_config_and_seed_give_identical_results_and_scaler_ignores_test_prices(tmp_path):
    prices = synthetic_prices(260, seed=11)
    first = train(csv_config(tmp_path, prices, "a"), out=tmp_path / "a", echo=quiet)
    second = train(csv_config(tmp_path, prices, "a"), out=tmp_path / "b", echo=quiet)
    for name in ("metrics.json", "predictions.csv", "scaler.json"):
        assert (first.folder / name).read_bytes() == (second.folder / name).read_bytes(), name
    future = prices.copy()
    future.iloc[first.forecaster.dataset().n_train :] *= 3.0  # change every test price
    third = train(csv_config(tmp_path, future, "c"), out=tmp_path / "c", echo=quiet)
    assert (third.folder / "scaler.json").read_bytes() == (
        first.folder / "scaler.json"
    ).read_bytes()
    assert third.summary["rmse"] != first.summary["rmse"]


def test_out_folder_with_a_run_is_refused_unless_overwrite(trained, tmp_path):
    with pytest.raises(UserError, match="folder is not empty"):
        train(tiny_config(tmp_path), out=trained.folder, echo=quiet)


def test_default_run_folders_never_collide(tmp_path):
    import datetime as dt

    from forecast.store.runs import create_run_dir

    moment = dt.datetime(2026, 1, 2, 3, 4, 5)
    first = create_run_dir(tmp_path, "../MSFT", now=moment)
    second = create_run_dir(tmp_path, "../MSFT", now=moment)
    assert first != second and first.parent == second.parent == tmp_path
    assert first.name == "20260102-030405-MSFT" and second.name.endswith("-2")


def test_overwrite_clears_the_previous_runs_artifacts(trained, tmp_path):
    import shutil

    folder = tmp_path / "again"
    shutil.copytree(trained.folder, folder)
    (folder / "forecast.csv").write_text("date,median\n")
    (folder / "notes.txt").write_text("mine")
    from forecast.store.runs import create_run_dir

    create_run_dir(tmp_path, "X", out=folder, overwrite=True)
    assert sorted(path.name for path in folder.iterdir()) == [
        ".lock",
        "notes.txt",
    ]  # the lock stays


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_lost_in_a_finalizer_still_stops_training_at_the_epoch_end(tmp_path, monkeypatch):
    """Python only prints a KeyboardInterrupt raised inside __del__; the noted Ctrl-C still
    stops the run after the epoch it came in, with the resume message."""
    save_checkpoint = checkpoints.save_checkpoint

    class DropsTheInterrupt:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)

    def save_then_lose_a_ctrl_c(run_dir, state, model, best):
        save_checkpoint(run_dir, state, model, best)
        if state.epoch == 1:
            DropsTheInterrupt()  # freed at once: its KeyboardInterrupt is printed, not raised

    monkeypatch.setattr(checkpoints, "save_checkpoint", save_then_lose_a_ctrl_c)
    # Python's own handler, as in a plain process: a worker that started Ray holds Ray's, and
    # training leaves a foreign handler alone.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(TrainingInterrupted, match="after epoch 1 of 3.*--resume"):
            train(tiny_config(tmp_path, "train.epochs=3"), echo=quiet)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    finally:
        signal.signal(signal.SIGINT, previous)
