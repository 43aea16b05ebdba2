"""batch: many tickers on Ray, one ordinary run folder each, a leaderboard with
Benjamini–Hochberg q-values. One simulated two-node Ray cluster (1 CPU per node) serves the
whole session; tiny models."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import forecast as api
from forecast.config import Config
from forecast.data.tickers import read_tickers
from forecast.errors import UserError
from forecast.evaluation.significance import benjamini_hochberg
from forecast.scaleout.batch import run_batch
from tests.conftest import ROOT, TICKERS, arrival, batch_config, ohlcv_frame, tiny_config


def test_a_broken_ticker_is_an_error_row_and_the_others_are_ordinary_runs(first_batch):
    table, folder = first_batch.table, first_batch.folder
    assert list(table["ticker"].iloc[-1:]) == ["BAD"]
    bad = table.set_index("ticker").loc["BAD"]
    assert bad["status"] == "error" and "found 8 rows of prices, need at least" in bad["message"]
    assert str(folder) not in bad["message"] and "forecast-batch" not in bad["message"]
    for ticker in ("AAA", "BBB"):
        row = table.set_index("ticker").loc[ticker]
        assert row["status"] == "ok" and row["run_folder"] == f"runs/{ticker}"
        run = folder / "runs" / ticker
        assert (run / "run.json").exists() and (run / "forecast.csv").exists()
        # An ordinary run folder: evaluate reproduces its metrics exactly.
        evaluation = api.evaluate(run).summary
        assert evaluation["rmse_ratio"] == row["rmse_ratio"]
        # no worker-local path in any artifact: the batch's own folder is recorded
        for name in ("config.yaml", "run.json", "report.html", "forecast.json"):
            assert "forecast-batch" not in (run / name).read_text(), name
        assert f"runs_dir: {folder / 'runs'}" in (run / "config.yaml").read_text()
        assert row["forecast_lo95"] <= row["forecast_median"] <= row["forecast_hi95"]
    assert not (folder / "runs" / "BAD").exists()
    for name in ("leaderboard.csv", "leaderboard.json", "batch.png", "report.html"):
        assert (folder / name).exists()
    report = (folder / "report.html").read_text()
    assert "runs/AAA/report.html" in report and html.escape(first_batch.verdict) in report
    assert "<td>None</td>" not in report
    ok = table[table["status"] == "ok"]
    significant = int((ok["dm_p_value"].astype(float) < 0.05).sum())
    lower = int((ok["rmse_ratio"].astype(float) < 1).sum())
    assert first_batch.verdict.startswith(
        f"{significant} of 2 tickers beat naive "
        f"significantly (DM, squared error) (1 failed: see "
        f"the error rows), "
    )
    assert first_batch.verdict.endswith(f"{lower} had rmse_ratio < 1, which alone is not evidence.")


def test_leaderboard_q_values_are_benjamini_hochberg_of_the_dm_and_timing_p_values(first_batch):
    """Each ticker's DM p-value is recomputed from its own predictions.csv; the q-values are
    Benjamini–Hochberg over the tickers that ran, by hand."""
    from forecast.evaluation.significance import diebold_mariano

    table = first_batch.table.set_index("ticker")
    ok = table[table["status"] == "ok"]
    for ticker, row in ok.iterrows():
        predictions = pd.read_csv(first_batch.folder / "runs" / ticker / "predictions.csv")
        p_value = diebold_mariano(
            predictions["actual"], predictions["predicted"], predictions["naive"]
        ).p_value
        assert row["dm_p_value"] == pytest.approx(p_value)
    p_values = ok["dm_p_value"].astype(float).to_numpy()
    low, high = np.sort(p_values)
    expected = {low: min(low * 2 / 1, high * 2 / 2), high: high * 2 / 2}  # m = 2
    for p_value, q_value in zip(p_values, ok["dm_q_value"].astype(float)):
        assert q_value == pytest.approx(min(1.0, expected[p_value]))
    timing = ok["timing_p_value"].astype(float)
    np.testing.assert_allclose(
        ok["timing_q_value"].astype(float), benjamini_hochberg(timing.to_numpy()), equal_nan=True
    )
    assert table.loc["BAD", "dm_q_value"] is None or pd.isna(table.loc["BAD", "dm_q_value"])


def test_tasks_ran_on_both_nodes_and_workers_were_reused(first_batch, ray_cluster):
    placement = first_batch.summary["placement"]
    assert set(placement) == set(TICKERS)
    assert len({where["node_id"] for where in placement.values()}) == 2
    # Three tasks on two one-CPU nodes: at most two worker processes (TensorFlow imported
    # once per worker, not per ticker).
    assert len({where["worker_pid"] for where in placement.values()}) <= 2


def test_resume_reruns_nothing_complete_and_gives_the_same_leaderboard(
    first_batch, long_csv, tmp_path
):
    folder = first_batch.folder
    before = (folder / "leaderboard.csv").read_bytes()
    again = run_batch(
        batch_config(tmp_path, long_csv),
        TICKERS,
        out=folder,
        forecast_steps=3,
        resume=True,
        echo=lambda line: None,
    )
    assert again.summary["ran"] == ["BAD"]  # only the ticker without a complete run folder
    assert (folder / "leaderboard.csv").read_bytes() == before
    (folder / "runs" / "BBB" / "run.json").unlink()  # as if killed before BBB finished
    again = run_batch(
        batch_config(tmp_path, long_csv),
        TICKERS,
        out=folder,
        forecast_steps=3,
        resume=True,
        echo=lambda line: None,
    )
    assert sorted(again.summary["ran"]) == ["BAD", "BBB"]
    assert (folder / "leaderboard.csv").read_bytes() == before


def test_a_worker_killed_mid_task_is_retried(first_batch, long_csv, barrier, tmp_path):
    """SIGKILL the worker process running AAA while it waits at its barrier: Ray runs AAA
    again on another worker, and the leaderboard is the undisturbed one's."""
    hold = barrier / "batch-AAA.hold"
    hold.touch()
    killed: list[int] = []

    def kill_the_worker_holding_aaa() -> None:
        pid = arrival(barrier, "batch-AAA")
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        for started in barrier.glob("batch-AAA.*.started"):
            started.unlink()
        hold.unlink()  # the retry runs through

    watcher = threading.Thread(target=kill_the_worker_holding_aaa, daemon=True)
    watcher.start()
    try:
        result = run_batch(
            batch_config(tmp_path, long_csv),
            TICKERS,
            out=tmp_path / "out",
            forecast_steps=3,
            echo=lambda line: None,
        )
    finally:
        hold.unlink(missing_ok=True)
    watcher.join(timeout=60)
    assert killed, "no worker reached AAA's barrier"
    placement = json.loads((result.folder / "batch.json").read_text())["placement"]
    assert placement["AAA"]["worker_pid"] != killed[0]  # AAA was finished by another worker
    assert (result.folder / "leaderboard.csv").read_bytes() == (
        first_batch.folder / "leaderboard.csv"
    ).read_bytes()


def test_single_runs_read_the_long_format_and_folders_of_files(long_csv, tmp_path):
    from forecast.data.sources import load_market

    data = batch_config(tmp_path, long_csv).data
    assert len(load_market(replace(data, ticker="bbb")).bars) == 160
    folder = tmp_path / "files"
    folder.mkdir()
    ohlcv_frame(pd.bdate_range("2022-01-03", periods=50)).to_csv(folder / "XYZ.csv")
    files = replace(data, path=str(folder), ticker="XYZ")
    assert len(load_market(files).bars) == 50
    with pytest.raises(UserError, match=r"no file NOPE.csv for ticker NOPE \(files found: XYZ\)"):
        load_market(replace(files, ticker="NOPE"))
    with pytest.raises(
        UserError,
        match=r"no rows for ticker ZZZ in column 'Ticker' \(tickers "
        r"found: AAA, BAD, BBB\)",
    ):
        load_market(replace(data, ticker="ZZZ"))


def test_tickers_are_read_from_a_list_or_a_file(tmp_path):
    assert read_tickers("msft, aapl,MSFT") == ["MSFT", "AAPL"]
    path = tmp_path / "tickers.txt"
    path.write_text("# watch list\nMSFT\nBRK.B  # class B\n\n^GSPC\n")
    assert read_tickers(tickers_file=path) == ["MSFT", "BRK.B", "^GSPC"]
    with pytest.raises(UserError, match="either tickers='A,B,C' or tickers_file='FILE'"):
        read_tickers()
    with pytest.raises(UserError, match="not a ticker symbol"):
        read_tickers("MS/FT")
    with pytest.raises(UserError, match="cannot read it"):
        read_tickers(tickers_file=tmp_path / "absent.txt")


def test_ray_is_imported_by_the_engine_only():
    code = (
        "import sys, forecast.cli, forecast.commands.train, forecast.scaleout.batch, "
        "forecast.evaluation.backtest, forecast.scaleout.sweep, forecast.scaleout.space; "
        "forecast.cli.build_parser(); print('ray' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "False"
    imports = [
        path
        for path in (ROOT / "forecast").rglob("*.py")
        if "import ray" in path.read_text() or "from ray" in path.read_text()
    ]
    assert imports == [ROOT / "forecast" / "scaleout" / "engine.py"]


@pytest.mark.slow
def test_batch_command_end_to_end(tmp_path, long_csv):
    """The CLI on a fresh local Ray instance (its own process), its result as one JSON object
    (--json), then a clear error line."""
    command = [
        sys.executable,
        "main.py",
        "batch",
        "--tickers",
        "AAA,BAD",
        "--config",
        str(ROOT / "configs/quick.yaml"),
        "--set",
        "data.source=csv",
        "--set",
        f"data.path={long_csv}",
        "--set",
        "data.start=null",
        "--set",
        "train.epochs=1",
        "--set",
        "data.lookback=10",
        "--out",
        str(tmp_path / "out"),
        "--json",
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [line] = result.stdout.strip().splitlines()  # the progress went to stderr
    document = json.loads(line)
    assert document["command"] == "batch" and document["folder"] == str(tmp_path / "out")
    rows = {row["ticker"]: row for row in document["table"]}
    beat = int(rows["AAA"]["dm_q_value"] < 0.05)
    assert document["verdict"].startswith(f"{beat} of 1 tickers beat naive")
    assert rows["AAA"]["status"] == "ok" and isinstance(rows["AAA"]["rmse_ratio"], float)
    assert rows["BAD"]["status"] == "error" and rows["BAD"]["message"]
    result = subprocess.run(
        [sys.executable, "main.py", "batch", "--tickers", "", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_the_sample_source_holds_msft_only(ray_cluster, tmp_path):
    result = run_batch(
        tiny_config(tmp_path), ["AAPL"], out=tmp_path / "out", echo=lambda line: None
    )
    [row] = result.table.to_dict(orient="records")
    assert row["status"] == "error" and "holds MSFT only" in row["message"]
    assert result.verdict.startswith(
        "0 of 0 tickers beat naive significantly (DM, squared error) (1 failed"
    )
    assert (result.folder / "batch.png").exists() and (result.folder / "report.html").exists()


def test_a_forecast_the_data_cannot_fully_calibrate_keeps_what_it_can(
    ray_cluster, long_csv, tmp_path
):
    """30 bars ahead needs more validation bars than AAA has for a conformal 95 % band: the
    ticker's run and forecast stand, the 95 % band is empty and its row says from where."""
    result = run_batch(
        batch_config(tmp_path, long_csv),
        ["AAA"],
        out=tmp_path / "out",
        forecast_steps=30,
        echo=lambda line: None,
    )
    [row] = result.table.to_dict(orient="records")
    assert row["status"] == "ok" and np.isfinite(row["forecast_median"])
    assert pd.isna(row["forecast_lo95"]) and pd.isna(row["forecast_hi95"])
    assert row["message"].startswith("95 % band: no band from ")
    frame = pd.read_csv(result.folder / "runs" / "AAA" / "forecast.csv")
    assert np.isfinite(frame["lo80"]).all() and frame["lo95"].isna().any()


def test_resume_refuses_another_config(first_batch, long_csv, tmp_path):
    with pytest.raises(UserError, match="the config differs from the one the batch started"):
        run_batch(Config(), TICKERS, out=first_batch.folder, resume=True, echo=lambda line: None)


def test_an_address_where_no_cluster_answers_is_refused_at_once(tmp_path):
    with pytest.raises(UserError, match=r"address='127.0.0.1:1': no Ray cluster answers"):
        run_batch(tiny_config(tmp_path), ["MSFT"], out=tmp_path / "out", address="127.0.0.1:1")
    assert not (tmp_path / "out").exists()  # refused before any folder is made
