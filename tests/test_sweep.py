"""sweep: hyperparameters searched on Ray Tune (Optuna TPE, ASHA) on the training rows
alone, the best config retrained and tested once. Tiny models on a seeded 300-row series;
the session's simulated two-node Ray cluster (conftest.ray_cluster)."""

from __future__ import annotations

import os
import pickletools
import re
import signal
import subprocess
import sys
from pathlib import Path

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
    assert set(values) == {"data", "model", "train", "forecast", "output"}
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


def before_the_move(pickled: bytes) -> bytes:
    """A one-frame protocol-5 pickle as the code before forecast/ was regrouped wrote it:
    classes and functions of ``forecast.engine`` (now ``forecast.scaleout.engine``)."""
    new, old = b"forecast.scaleout.engine", b"forecast.engine"
    marker = b"\x8c" + bytes([len(new)]) + new
    count = pickled.count(marker)
    if not count:
        return pickled
    assert pickled[:3] == b"\x80\x05\x95"  # PROTO 5, FRAME
    assert sum(op.name == "FRAME" for op, _, _ in pickletools.genops(pickled)) == 1
    size = int.from_bytes(pickled[3:11], "little") - count * (len(new) - len(old))
    body = pickled[11:].replace(marker, b"\x8c" + bytes([len(old)]) + old)
    return pickled[:3] + size.to_bytes(8, "little") + body


def make_old(tune: Path) -> None:
    """Rewrite a sweep's Tune state as a sweep folder made before the regroup: tuner.pkl
    and the hex pickles inside the experiment state JSON name forecast.engine."""
    (tune / "tuner.pkl").write_bytes(before_the_move((tune / "tuner.pkl").read_bytes()))
    for path in tune.glob("experiment_state-*.json"):
        path.write_text(
            re.sub(
                r"(?<=\")(80059[0-9a-f]+)(?=\")",
                lambda match: before_the_move(bytes.fromhex(match.group(1))).hex(),
                path.read_text(),
            )
        )
    assert b"forecast.scaleout" not in (tune / "tuner.pkl").read_bytes()


def test_a_sweep_signature_is_checked_before_anything_is_unpickled(tmp_path, monkeypatch):
    from forecast.errors import UserError
    from forecast.store.signature import KEY_NAME, check_signed, sign_folder

    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    tune = tmp_path / "tune"
    (tune / "trial_001").mkdir(parents=True)
    (tune / "tuner.pkl").write_bytes(b"state")
    (tune / "trial_001" / "params.pkl").write_bytes(b"params")
    signature = tmp_path / "tune.signature.json"
    with pytest.raises(UserError, match="carries no signature of this user .*add --trust"):
        check_signed(tune, signature, "--resume x")
    sign_folder(tune, signature)
    assert (tmp_path / "cache" / KEY_NAME).stat().st_mode & 0o777 == 0o600
    check_signed(tune, signature, "--resume x")  # as signed: accepted
    (tune / "trial_001" / "params.pkl").write_bytes(b"someone else's code")
    with pytest.raises(UserError, match="changed since this user's forecast signed it"):
        check_signed(tune, signature, "--resume x")
    sign_folder(tune, signature)
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "another user"))
    with pytest.raises(UserError, match="changed since"):  # another key, another user
        check_signed(tune, signature, "--resume x")


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_from_signed_state_and_from_an_old_folder(
    series_csv, tmp_path
):
    """Ctrl-C mid-sweep (the CLI on its own local Ray): the Tune state is signed. Rewritten as
    a sweep folder from before the regroup (pickles naming forecast.engine), --resume refuses
    it (this user did not sign those files) before unpickling anything; --resume --trust
    continues it without redoing finished trials."""
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
        "--space",
        str(write_space(tmp_path / "space.yaml")),
        "--trials",
        "4",
        "--max-concurrent",
        "1",
        "--out",
        str(out),
    ]
    environment = {**os.environ, "CI": "true"}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    (barrier / "trial_002.hold").touch()  # trial 2 waits there (base/barrier.py)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**environment, VARIABLE: str(barrier)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = out / "tune" / "trial_001" / "progress.csv"
    arrival(barrier, "trial_002")  # trial 1 has finished: one trial at a time
    kept = arrival_of(first, lines=4)  # its header and 3 epochs, which the driver writes
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "--resume" in stderr.strip().splitlines()[-1]
    interrupted = pd.read_csv(out / "trials.csv")
    statuses = dict(zip(interrupted["trial"], interrupted["status"]))
    assert statuses[1] == "completed" and statuses.get(2, "not finished") == "not finished"
    assert (out / "tune.signature.json").is_file()
    make_old(out / "tune")
    states = sorted((out / "tune").glob("experiment_state-*.json"))
    refused = subprocess.run(
        [*command, "--resume"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1:] == [
        f"error: --resume {out}: {out / 'tune'} changed since this user's forecast signed it "
        f"(or another user's did); resuming would unpickle files you did not write: start a "
        f"new sweep"
    ]
    assert sorted((out / "tune").glob("experiment_state-*.json")) == states  # not restored
    resumed = subprocess.run(
        [*command, "--resume", "--trust"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    table = pd.read_csv(out / "trials.csv")
    assert list(table["trial"]) == [1, 2, 3, 4]
    assert set(table["status"]) <= {"completed", "stopped early", "failed"}
    assert first.read_bytes() == kept  # trial 1 finished before the interrupt: not redone
    assert (out / "best" / "run.json").is_file()
    assert resumed.stdout.strip().splitlines()[-1].startswith("The test rows were used once")
    from forecast.store.signature import check_signed

    check_signed(out / "tune", out / "tune.signature.json", "again")  # signed anew
