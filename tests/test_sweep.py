"""sweep: hyperparameters searched on Ray Tune (Optuna TPE, ASHA) on the training rows
alone, the best config retrained and tested once. Tiny models on a seeded 300-row series;
the session's simulated two-node Ray cluster (conftest.ray_cluster)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from forecast import cli
from forecast.base.barrier import VARIABLE
from forecast.config import config_to_dict, load_config
from forecast.errors import ConfigError
from forecast.scaleout.space import space_from_dict
from forecast.scaleout.sweep import run_sweep, run_trial
from tests.conftest import (
    ROOT,
    SPACE,
    arrival,
    arrival_of,
    sweep_config,
    synthetic_prices,
    tiny_config,
    write_series,
    write_space,
)


def test_sweep_writes_its_files_and_records_failed_trials(first_sweep):
    folder = first_sweep.folder
    for name in (
        "trials.csv",
        "best.yaml",
        "sweep.png",
        "report.html",
        "sweep.json",
        "best/run.json",
        "best/metrics.json",
        "best/report.html",
    ):
        assert (folder / name).is_file(), name
    written = pd.read_csv(folder / "trials.csv")
    assert list(written["trial"]) == [1, 2, 3, 4]
    assert set(written["status"]) <= {"completed", "stopped early", "failed"}
    assert {"objective", "naive_objective", "epochs_run", "status", "message", *SPACE} <= set(
        written.columns
    )
    assert written.loc[0, "data.lookback"] == 10 and written.loc[0, "model.learning_rate"] == 0.01
    failed = written[written["status"] == "failed"]
    assert len(failed) >= 1 and (failed["data.lookback"] == 230).all()
    assert failed["message"].str.contains("need at least").all()
    assert not failed["message"].str.contains("Traceback|\n").any()
    ran = written[written["status"] != "failed"]
    assert ran["objective"].notna().all() and (ran["naive_objective"] > 0).all()
    assert (written.loc[written["status"] == "completed", "epochs_run"] == 3).all()
    # Per-trial TensorBoard logs under the sweep folder, nothing in ~/ray_results
    assert list((folder / "tune" / "trial_001").glob("events.out.tfevents.*"))
    report = (folder / "report.html").read_text()
    assert "best/report.html" in report and "rmse_ratio" in report
    assert first_sweep.summary["lines"][-1].startswith(
        "The test rows were used once, after the choice"
    )


def test_best_yaml_is_a_complete_config_that_trains(first_sweep, tmp_path):
    import forecast as api

    folder, best = first_sweep.folder, first_sweep.detail["best"]
    values = yaml.safe_load((folder / "best.yaml").read_text())
    assert set(values) == {
        "data",
        "model",
        "train",
        "forecast",
        "evaluation",
        "output",
        "tracking",
    }
    config = load_config(folder / "best.yaml", [f"output.runs_dir={tmp_path}"])
    assert config.data.lookback == best["data.lookback"]
    assert config.model.layers[0].units == best["model.layers.0.units"]
    assert best["status"] == "completed"
    assert (
        best["objective"]
        == first_sweep.table["objective"][first_sweep.table["status"] == "completed"].min()
    )
    outcome = api.train(config, out=tmp_path / "again", echo=lambda line: None)
    # The same config and seed as best/: the same test metrics
    assert outcome.summary["rmse_ratio"] == first_sweep.detail["metrics"]["rmse_ratio"]
    recorded = pd.read_json(folder / "best" / "metrics.json", typ="series")
    assert recorded["rmse_ratio"] == first_sweep.detail["metrics"]["rmse_ratio"]


def test_no_trial_reads_a_test_row(first_sweep, series_csv, tmp_path, monkeypatch):
    """Change every test price: the rows handed to the trials are the same, to the bit (and
    the trials are seeded, so their parameters and objectives are the same); the test rows
    are not among them."""
    from forecast.scaleout import engine

    handed: list[pd.DataFrame] = []

    class Stop(Exception):
        pass

    def capture(function, arguments, *args, **kwargs):
        handed.append(arguments["bars"])
        raise Stop

    monkeypatch.setattr(engine, "search", capture)
    prices = synthetic_prices(300, seed=11)
    n_test = int(len(prices) * 0.2)
    changed = prices.copy()
    changed.iloc[-n_test:] = changed.iloc[-n_test:] * 3.0 + 50.0
    for name, series in (("same", prices), ("changed", changed)):
        csv = write_series(tmp_path / f"{name}.csv", series)
        with pytest.raises(Stop):
            run_sweep(
                sweep_config(tmp_path, csv),
                write_space(tmp_path / "space.yaml"),
                trials=4,
                out=tmp_path / name,
                max_concurrent=1,
                echo=lambda line: None,
            )
    pd.testing.assert_frame_equal(handed[0], handed[1])
    assert len(handed[0]) == len(prices) - n_test
    assert handed[0].index[-1] < prices.index[-n_test]
    # and the session's sweep ran on exactly these rows
    state = pd.read_json(first_sweep.folder / "sweep_state.json", typ="series")
    assert state["n_train"] == len(handed[0])


def test_trials_ran_on_the_cluster_nodes(first_sweep, ray_cluster):
    """--address (here the session's two-node cluster): every trial ran on one of its nodes."""
    import ray

    nodes = {node["NodeID"][:12] for node in ray.nodes() if node["Alive"]}
    assert len(nodes) == 2
    table = first_sweep.table
    reported = table[table["status"].isin(["completed", "stopped early"])]  # failed: no node
    assert len(reported) and reported["node"].isin(nodes).all()


def test_the_trial_reports_validation_mase_every_epoch(series_csv, tmp_path):
    """run_trial without Ray: one report per epoch, the objective computed as MASE of the
    validation block's predictions, the last report marked finished."""
    import forecast as api

    config, market = api.load_data(sweep_config(tmp_path, series_csv))
    training = market.bars.iloc[:240]
    space = space_from_dict(SPACE, config_to_dict(config))
    reports: list[dict] = []
    run_trial(
        {"model.layers.0.units": 3, "model.learning_rate": 0.01, "data.lookback": 10},
        reports.append,
        config_to_dict(config),
        space,
        training,
        folds=0,
    )
    assert [report["epochs"] for report in reports] == [1, 2, 3]
    assert [report["finished"] for report in reports] == [False, False, True]
    assert all(np.isfinite(report["objective"]) and report["objective"] > 0 for report in reports)
    assert len({report["naive_objective"] for report in reports}) == 1
    folded: list[dict] = []
    run_trial(
        {"model.layers.0.units": 3, "model.learning_rate": 0.01, "data.lookback": 10},
        folded.append,
        config_to_dict(config),
        space,
        training,
        folds=2,
    )
    assert [report["folds_run"] for report in folded] == [1, 2]
    assert folded[-1]["finished"] and folded[-1]["epochs"] == 6


def test_space_errors_name_the_key_the_range_and_the_rule(tmp_path):
    base = config_to_dict(tiny_config(tmp_path))
    cases = [
        (
            {"model.layers.0.unit": {"int": [2, 8]}},
            "unknown key 'model.layers.0.unit'; did you mean 'model.layers.0.units'?",
        ),
        (
            {"model.layers.1.rate": {"uniform": [0.0, 1.0]}},
            r"model.layers.1.rate: \{uniform: \[0.0, 1.0\]\} can draw 1.0, which the key does "
            r"not accept .*must be in \[0, 1\)",
        ),
        ({"data.lookback": {"int": [0, 20]}}, r"can draw 0.*must be an integer >= 2"),
        ({"data.lookback": {"uniform": [5, 20]}}, r"can draw 5.0.*is not an integer"),
        ({"model.optimizer": {"choice": ["adam", "adamm"]}}, r"did you mean 'adam'"),
        ({"model.learning_rate": {"loguniform": [0.0, 0.1]}}, "low must be > 0"),
        ({"model.learning_rate": {"logunifrm": [0.1, 0.2]}}, "did you mean 'loguniform'"),
        ({"model.learning_rate": {"uniform": [0.2, 0.1]}}, "needs low < high"),
        ({"data.test_fraction": {"uniform": [0.1, 0.3]}}, "cannot be searched"),
        ({}, "the search space is empty"),
    ]
    for space, message in cases:
        with pytest.raises(ConfigError, match=message):
            space_from_dict(space, base, "space.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    code = cli.main(
        [
            "sweep",
            "--config",
            str(ROOT / "configs/quick.yaml"),
            "--space",
            str(empty),
            "--out",
            str(tmp_path / "never"),
        ]
    )
    assert code == 2 and not (tmp_path / "never").exists()


def test_choices_of_lists_round_trip(tmp_path):
    base = config_to_dict(tiny_config(tmp_path))
    space = space_from_dict(
        {
            "data.features": {"choice": [["close"], ["close", "log_return"]]},
            "data.target": {"choice": ["price", "log_return"]},
        },
        base,
    )
    drawn = space.encode({"data.features": ["close", "log_return"], "data.target": "price"})
    assert drawn == {"data.features": 1, "data.target": "price"}
    assert space.decode(drawn) == {"data.features": ["close", "log_return"], "data.target": "price"}
    assert space.encode({"data.features": ["volume"], "data.target": "price"}) is None


def test_shipped_space_validates_against_the_default_and_best_configs():
    from forecast.scaleout.space import read_space

    for config in ("default.yaml", "best.yaml"):
        space = read_space(
            ROOT / "configs" / "space.yaml", config_to_dict(load_config(ROOT / "configs" / config))
        )
        assert "model.learning_rate" in space.keys


def test_the_trial_log_survives_a_damaged_line_and_reads_old_sweep_folders(tmp_path):
    """trials.jsonl is what a resumed sweep believes ran; a sweep folder from before the log
    reads its trials' JSON files, counting only trials that ended (finished or failed)."""
    from forecast.scaleout import sweep_log

    sweep_log.append(tmp_path, sweep_log.TrialRecord(1, {"a": 1}, {"objective": 1.5}, None))
    sweep_log.append(tmp_path, sweep_log.TrialRecord(2, {"a": 2}, {"objective": math.nan}, "x"))
    with open(tmp_path / sweep_log.LOG, "a") as log:
        log.write('{"number": 3, "par')  # a line cut short: trial 3 runs again
    records = sweep_log.read(tmp_path)
    assert [(r.number, r.params, r.last, r.error) for r in records] == [
        (1, {"a": 1}, {"objective": 1.5}, None),
        (2, {"a": 2}, {"objective": None}, "x"),
    ]
    old = tmp_path / "old"
    ended, stopped = '{"objective": 1.0, "finished": true}', '{"objective": 2.0}'
    for number, lines, error in (
        (1, [stopped, ended], None),
        (2, [stopped], None),  # killed mid-way: runs again
        (3, [], "Traceback ...\nforecast.errors.UserError: data.lookback=230: too long\n"),
    ):
        trial = old / "tune" / f"trial_{number:03d}"
        trial.mkdir(parents=True)
        (trial / "params.json").write_text(json.dumps({"data.lookback": 10 * number}))
        (trial / "result.json").write_text("\n".join(lines) + "\n")
        if error:
            (trial / "error.txt").write_text(error)
    records = sweep_log.read(old)
    assert [(r.number, r.last.get("objective"), r.error) for r in records] == [
        (1, 1.0, None),
        (3, None, "data.lookback=230: too long"),
    ]


@pytest.mark.slow
def test_a_sweep_interrupted_then_killed_resumes_without_redoing_a_trial(series_csv, tmp_path):
    """Ctrl-C at trial 2 (the CLI on its own local Ray), then SIGKILL of the resumed sweep
    at trial 3: each --resume reads trials.jsonl alone (nothing pickled is loaded), runs
    only the trials that had not ended, and numbers them after the others."""
    out = tmp_path / "out"
    command = [
        sys.executable,
        "main.py",
        "sweep",
        "--config",
        str(ROOT / "configs/quick.yaml"),
        "--set",
        "data.source=csv",
        "--set",
        f"data.path={series_csv}",
        "--set",
        "data.start=null",
        "--set",
        "data.lookback=10",
        "--set",
        "model.layers.0.units=4",
        "--set",
        "model.layers.2.units=4",
        "--set",
        "train.epochs=3",
        "--set",
        "evaluation.baselines=[]",  # the best run's scoring: about resuming, not baselines
        "--space",
        str(write_space(tmp_path / "space.yaml")),
        "--trials",
        "3",
        "--max-concurrent",
        "1",
        "--out",
        str(out),
    ]
    environment = {**os.environ, "CI": "true"}

    def start(arguments: list[str], held: str) -> subprocess.Popen:
        barrier = tmp_path / f"barrier-{held}"
        barrier.mkdir()
        (barrier / f"{held}.hold").touch()  # that trial waits there (base/barrier.py)
        process = subprocess.Popen(
            arguments,
            cwd=ROOT,
            env={**environment, VARIABLE: str(barrier)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        arrival(barrier, held)
        return process

    process = start(command, "trial_002")  # trial 1 has ended: one trial at a time
    first = out / "tune" / "trial_001" / "progress.csv"
    kept = arrival_of(first, lines=4)  # its header and 3 epochs, which the driver writes
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "--resume" in stderr.strip().splitlines()[-1]
    statuses = dict(pd.read_csv(out / "trials.csv")[["trial", "status"]].to_numpy())
    assert statuses[1] == "completed" and statuses.get(2, "not finished") == "not finished"

    process = start([*command, "--resume"], "trial_003")  # trial 2 has ended
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=60)
    assert [line["number"] for line in map(json.loads, (out / "trials.jsonl").open())] == [1, 2]
    second = {path: path.read_bytes() for path in (out / "tune-2").rglob("*") if path.is_file()}

    resumed = subprocess.run(
        [*command, "--resume"], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming: 2 of 3 trials finished before" in resumed.stdout
    table = pd.read_csv(out / "trials.csv")
    assert list(table["trial"]) == [1, 2, 3]
    assert set(table["status"]) <= {"completed", "stopped early", "failed"}
    assert first.read_bytes() == kept and not (out / "tune-3" / "trial_001").exists()
    assert {path: path.read_bytes() for path in second} == second  # tune-2 left alone
    assert sorted(path.name for path in (out / "tune-3").glob("trial_*")) == ["trial_003"]
    assert not list(out.rglob("*.pkl.tmp*"))
    assert (out / "best" / "run.json").is_file()
    assert resumed.stdout.strip().splitlines()[-1].startswith("The test rows were used once")
