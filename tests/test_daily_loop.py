"""The daily loop: a production fit on every bar, a journal of every forecast, score when the
bars come, update without a full retrain, and the nightly batch --update."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import forecast as api
from forecast.base.barrier import VARIABLE
from forecast.cli import main
from forecast.commands.nightly import score_and_forecast
from forecast.commands.score import score
from forecast.commands.update import update
from forecast.errors import DataError, RunError
from forecast.store.journal import read_journal
from tests.conftest import ROOT, arrival, ohlcv_frame, tiny_config, write_bars

DAYS = pd.bdate_range("2022-01-03", periods=320)
BARS = ohlcv_frame(DAYS, seed=21)


def production_config(tmp_path: Path, csv: Path, *overrides: str):
    return tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={csv}",
        "data.start=null",
        "data.calendar=business",
        "data.test_fraction=0",
        "train.validation_fraction=0.2",
        *overrides,
    )


def hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A production fit on the first 260 bars, with one 3-bar forecast in its journal."""
    folder = tmp_path_factory.mktemp("daily")
    csv = write_bars(folder / "bars.csv", BARS.iloc[:260])
    api.train(production_config(folder, csv), out=folder / "run", echo=lambda line: None)
    api.forecast(folder / "run", steps=3)
    return folder / "run"


def test_journal_rows_name_their_ticker_and_an_older_journal_keeps_its_columns(tmp_path):
    """Each row names the ticker forecast (a ticker called NA stays NA). A journal begun
    before the column existed keeps its header and bytes: rows appended to it are written
    without the column, and reading it fills in the run's ticker."""
    from forecast.store import journal

    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "median": [1.0, 2.0]})
    rows = journal.journal_rows(frame, "run", "2024-01-01", "conformal", "m", "d", "NA")
    assert journal.append(tmp_path, rows) == 2
    assert list(read_journal(tmp_path)["ticker"]) == ["NA", "NA"]
    assert read_journal(tmp_path)["lo80"].isna().all()  # a missing number is still missing
    older = tmp_path / "older"
    older.mkdir()
    rows.drop(columns="ticker").to_csv(older / "journal.csv", index=False)
    before = (older / "journal.csv").read_bytes()
    later = journal.journal_rows(frame, "run", "2024-01-02", "conformal", "m", "d", "MSFT")
    assert journal.append(older, later) == 2
    after = (older / "journal.csv").read_bytes()
    assert after.startswith(before) and b"MSFT" not in after
    assert pd.read_csv(older / "journal.csv").shape == (4, len(journal.COLUMNS) - 1)
    assert list(read_journal(older, "MSFT")["ticker"]) == ["MSFT"] * 4


def test_a_production_fit_forecasts_journals_and_scores_day_by_day(tmp_path, caplog):
    """A seeded replay: each day the CSV grows by a bar, the forecast starts from the newest
    bar (--refresh) and is journalled once; score matches the journal with the bars that came,
    counting a missing bar as unresolved and later targets as pending."""
    csv = write_bars(tmp_path / "bars.csv", BARS.iloc[:260])
    outcome = api.train(
        production_config(tmp_path, csv), out=tmp_path / "run", echo=lambda line: None
    )
    run = tmp_path / "run"
    assert outcome.summary == {"n_train": 260, "n_test": 0, "epochs_run": 1}
    assert not (run / "predictions.csv").exists() and (run / "calibration.npz").exists()
    with pytest.raises(RunError, match="a production fit on every bar .* no test rows"):
        api.evaluate(run)
    assert "Production fit" in (run / "report.html").read_text()
    for day in range(12):
        write_bars(csv, BARS.iloc[: 260 + day])
        api.forecast(run, steps=3, refresh=True)
    journal = read_journal(run)
    assert len(journal) == 36 and journal["origin"].nunique() == 12
    assert list(journal.columns[:5]) == ["issued_utc", "run", "origin", "step", "target"]
    before = (run / "journal.csv").read_bytes()
    api.forecast(run, steps=3, refresh=True)  # the same forecast again: recorded once
    assert (run / "journal.csv").read_bytes() == before
    api.forecast(run, steps=5, refresh=True)  # two more steps from the same origin
    assert (run / "journal.csv").read_bytes().startswith(before)  # append-only
    assert len(read_journal(run)) == 38
    # the bars that came: up to bar 273, with bar 266 missing (a halt)
    came = BARS.iloc[:274].drop(BARS.index[266])
    write_bars(csv, came)
    record = score(run)
    targets = pd.to_datetime(read_journal(run)["target"])
    assert record.summary["unresolved"] == int((targets == BARS.index[266]).sum()) > 0
    assert record.summary["pending"] == int((targets > came.index[-1]).sum()) > 0
    assert (
        record.summary["resolved"] == 38 - record.summary["unresolved"] - record.summary["pending"]
    )
    rows = record.table
    journal = read_journal(run).set_index(["origin", "step"])
    for _, row in rows.sample(5, random_state=1).iterrows():  # by hand
        issued = journal.loc[(row["origin"], row["step"])]
        actual = float(came.loc[pd.Timestamp(row["target"]), "Close"])
        assert row["actual"] == pytest.approx(actual)
        assert row["error"] == pytest.approx(actual - issued["median"])
        assert row["naive_error"] == pytest.approx(actual - issued["naive"])
        assert bool(row["inside95"]) == (issued["lo95"] <= actual <= issued["hi95"])
    first = next(part for part in record.summary["horizons"] if part["horizon"] == 1)
    ones = rows[rows["step"] == 1]
    assert first["n"] == len(ones)
    assert first["rmse"] == pytest.approx(float(np.sqrt(np.mean(ones["error"] ** 2))))
    assert first["coverage95_ci"][0] <= first["coverage95"] <= first["coverage95_ci"][1]
    assert record.verdict.endswith("too few to judge (20 at a horizon needed).")
    for name in ("live.csv", "live.json", "live.png"):
        assert (run / name).is_file()
    assert "Live record" in (run / "report.html").read_text()


def test_update_continues_a_csv_that_grew_and_keeps_the_parent(parent, tmp_path, caplog):
    """20 new bars, the last 5 overlapping closes re-adjusted: one warning counts them and the
    newer values are used; the parent folder stays byte for byte; the new folder names its
    parent, keeps its scaler and carries the journal forward."""
    before = hashes(parent)
    grown = BARS.iloc[:280].copy()
    grown.iloc[255:260, grown.columns.get_loc("Close")] *= 0.98  # a dividend re-adjustment
    csv = write_bars(tmp_path / "grown.csv", grown)
    with caplog.at_level(logging.WARNING):
        outcome = update(parent, data_path=csv, out=tmp_path / "new", echo=lambda line: None)
    assert hashes(parent) == before
    assert any("5 overlapping bars changed since the run" in message for message in caplog.messages)
    new = outcome.folder
    record = json.loads((new / "run.json").read_text())
    assert record["update"]["parent"] == str(parent.resolve())
    assert (record["update"]["new_bars"], record["update"]["revised_bars"]) == (20, 5)
    prices = pd.read_csv(new / "prices.csv")
    assert len(prices) == 280
    np.testing.assert_allclose(prices["price"].iloc[255:260], grown["Close"].iloc[255:260])
    assert (new / "scaler.json").read_text() == (parent / "scaler.json").read_text()
    assert outcome.summary["epochs_run"] == 5  # train.update_epochs
    assert (new / "journal.csv").read_bytes() == (parent / "journal.csv").read_bytes()
    scored, _ = score_and_forecast(new, 2, echo=lambda line: None)  # update --forecast 2
    assert scored is not None and scored.summary["resolved"] > 0 and (new / "live.csv").is_file()
    assert (new / "journal.csv").read_bytes().startswith((parent / "journal.csv").read_bytes())
    assert set(read_journal(new)["run"]) == {parent.name, new.name}
    refit = update(
        parent, data_path=csv, refit=True, out=tmp_path / "refit", echo=lambda line: None
    )
    assert (refit.folder / "scaler.json").read_text() != (parent / "scaler.json").read_text()
    assert json.loads((refit.folder / "run.json").read_text())["update"]["refit"] is True
    assert hashes(parent) == before


def test_update_refuses_a_gap_another_interval_and_nothing_new(parent, tmp_path, caplog):
    gap = write_bars(tmp_path / "gap.csv", BARS.iloc[270:300])
    with pytest.raises(DataError, match="after the run's last bar 2022-12-30: a gap"):
        update(parent, data_path=gap, out=tmp_path / "a", echo=lambda line: None)
    weekly = BARS.resample("W-FRI").last()
    with pytest.raises(DataError, match="its bars are 1wk, the run's are 1d"):
        update(
            parent,
            data_path=write_bars(tmp_path / "weekly.csv", weekly),
            out=tmp_path / "b",
            echo=lambda line: None,
        )
    with pytest.raises(DataError, match="no bar after the run's last one"):
        update(
            parent,
            data_path=write_bars(tmp_path / "same.csv", BARS.iloc[:260]),
            out=tmp_path / "c",
            echo=lambda line: None,
        )
    halted = BARS.iloc[:280].drop(BARS.index[250])
    with pytest.raises(DataError, match="lacks 1 of the run's bars it overlaps"):
        update(
            parent,
            data_path=write_bars(tmp_path / "halted.csv", halted),
            out=tmp_path / "d",
            echo=lambda line: None,
        )
    higher = BARS.iloc[:280].copy()
    prices = ["Open", "High", "Low", "Close"]
    higher.loc[higher.index[260:], prices] *= 1.6  # far above anything the scaler saw
    with caplog.at_level(logging.WARNING):
        update(
            parent,
            data_path=write_bars(tmp_path / "higher.csv", higher),
            out=tmp_path / "e",
            epochs=1,
            echo=lambda line: None,
        )
    assert any(
        "close leaves the kept scaler's range" in message and "--refit" in message
        for message in caplog.messages
    )


def test_a_crash_while_writing_the_journal_leaves_it_intact(parent, tmp_path, monkeypatch):
    from forecast.base import atomic

    run = tmp_path / "run"
    shutil.copytree(parent, run)
    before = (run / "journal.csv").read_bytes()

    def crash(source, target):
        raise OSError("disk gone")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(atomic.WriteError, match="forecast.json: cannot write \\(disk gone\\)"):
        api.forecast(run, steps=5)
    assert (run / "journal.csv").read_bytes() == before
    assert not list(run.glob(".journal.tmp-*"))


def test_an_update_reads_its_parent_after_a_forecast_writing_it(parent, tmp_path, monkeypatch):
    """update holds its parent's lock while it reads it: a forecast journalling there (the
    lock held as forecast holds it) finishes first, and the update carries its rows."""
    from forecast.store.lock import writing

    run, later = tmp_path / "run", tmp_path / "later"
    shutil.copytree(parent, run)
    shutil.copytree(parent, later)
    api.forecast(later, steps=6)  # the journal the forecast below writes
    grown = write_bars(tmp_path / "grown.csv", BARS.iloc[:270])
    monkeypatch.setenv(VARIABLE, str(tmp_path / "barrier"))
    outcome: dict = {}

    def updating() -> None:
        try:
            outcome["result"] = update(
                run, data_path=grown, epochs=1, out=tmp_path / "new", echo=lambda line: None
            )
        except Exception as error:  # shown by the assertion below
            outcome["error"] = error

    with writing(run, "forecast"):
        thread = threading.Thread(target=updating)
        thread.start()
        arrival(tmp_path / "barrier", "waiting-update-reading-its-parent", timeout=60)
        shutil.copyfile(later / "journal.csv", run / "journal.csv")  # the forecast's rows
    thread.join(timeout=300)
    assert "result" in outcome, outcome.get("error")
    carried = outcome["result"].folder / "journal.csv"
    assert carried.read_bytes() == (later / "journal.csv").read_bytes()


@pytest.mark.slow
def test_sigkill_during_update_loses_nothing(parent, tmp_path):
    """Kill an update mid-training: the parent is untouched, the new folder is not a run
    (no run.json) and train --resume finishes it as an update."""
    before = hashes(parent)
    grown = write_bars(tmp_path / "grown.csv", BARS.iloc[:290])
    new = tmp_path / "new"
    environment = {**os.environ, "CI": "true"}
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    (barrier / "epoch-1.hold").touch()  # after the update's first epoch (base/barrier.py)
    process = subprocess.Popen(
        [
            sys.executable,
            "main.py",
            "update",
            "--run",
            str(parent),
            "--data",
            str(grown),
            "--epochs",
            "3",
            "--out",
            str(new),
        ],
        cwd=ROOT,
        env={**environment, VARIABLE: str(barrier)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert arrival(barrier, "epoch-1") == process.pid
    assert json.loads((new / "training_state.json").read_text())["epoch"] == 1
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert hashes(parent) == before
    assert not (new / "run.json").exists()
    with pytest.raises(RunError, match="no run.json"):
        api.forecast(new, steps=1)
    assert main(["train", "--resume", str(new)]) == 0  # in this process: one import fewer
    record = json.loads((new / "run.json").read_text())
    assert record["update"]["parent"] == str(parent.resolve())
    assert (new / "scaler.json").read_text() == (parent / "scaler.json").read_text()
    assert hashes(parent) == before


def test_an_hourly_series_forecasts_scores_and_updates(tmp_path):
    from tests.conftest import xnys_hourly_index

    index = xnys_hourly_index(sessions=60)
    bars = ohlcv_frame(index, seed=5, sigma=0.004)
    csv = write_bars(tmp_path / "hourly.csv", bars.iloc[:350])
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={csv}",
        "data.start=null",
        "data.test_fraction=0",
        "train.validation_fraction=0.2",
        "data.timezone=America/New_York",
    )
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    frame = api.forecast(tmp_path / "run", steps=9).table
    assert list(pd.to_datetime(frame["date"], utc=True)) == list(index[350:359].tz_convert("UTC"))
    write_bars(csv, bars.iloc[:360])
    record = score(tmp_path / "run")
    assert record.summary["resolved"] == 9 and record.summary["pending"] == 0
    assert record.table["actual"].tolist() == pytest.approx(bars["Close"].iloc[350:359].tolist())
    outcome = update(tmp_path / "run", out=tmp_path / "new", epochs=1, echo=lambda line: None)
    assert json.loads((outcome.folder / "run.json").read_text())["update"]["new_bars"] == 10
    assert api.forecast(outcome.folder, steps=2).table["date"].iloc[0] == str(
        index[360].tz_convert("America/New_York")
    )


def killed_between_keeping_and_writing(batch: Path, address: str, tmp_path: Path) -> str:
    """Run batch --update (the CLI, on the session's cluster) and SIGKILL it once it has moved
    the first ticker's run to previous/ and before it writes that ticker's update; which
    ticker that was."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    for ticker in ("AAA", "BBB"):
        (barrier / f"batch-moved-{ticker}.hold").touch()
    process = subprocess.Popen(
        [sys.executable, "main.py", "batch", "--update", str(batch), "--forecast", "3"]
        + ["--address", address],
        cwd=ROOT,
        env={**os.environ, "CI": "true", VARIABLE: str(barrier)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not list(barrier.glob("batch-moved-*.started")) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()[-2000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    moved = next(barrier.glob("batch-moved-*.started")).name.split(".")[0].split("-")[-1]
    assert not (batch / "runs" / moved).exists()  # kept under previous/, its update unwritten
    assert len(list((batch / "previous" / moved).glob("*/run.json"))) == 1
    return moved


def test_batch_update_on_two_tickers(ray_cluster, tmp_path):
    """The nightly step: every ticker updated, forecast and scored; the leaderboard gains the
    live record; each previous run is kept. A first --update killed after it moved one
    ticker's run to previous/ and before it wrote the update: the next puts it back and
    updates it."""
    from forecast.scaleout.batch import run_batch, update_batch

    frames = []
    for seed, ticker in enumerate(("AAA", "BBB")):
        frame = ohlcv_frame(pd.bdate_range("2022-01-03", periods=190), seed=seed).reset_index()
        frame.insert(1, "Ticker", ticker)
        frames.append(frame)
    long = pd.concat(frames)
    path = tmp_path / "long.csv"
    long[long["Date"] < pd.Timestamp("2022-01-03") + pd.Timedelta(days=250)].to_csv(
        path, index=False
    )
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "data.calendar=business",
        "train.validation_fraction=0.3",
    )
    first = run_batch(
        config, ["AAA", "BBB"], out=tmp_path / "batch", forecast_steps=3, echo=lambda line: None
    )
    long.to_csv(path, index=False)  # the bars that came since
    moved = killed_between_keeping_and_writing(first.folder, ray_cluster.address, tmp_path)
    lines: list[str] = []
    result = update_batch(first.folder, forecast_steps=3, echo=lines.append)
    assert any(line.startswith(f"{moved}: restored previous/{moved}/") for line in lines)
    table = result.table.set_index("ticker")
    assert (table["status"] == "ok").all()
    assert (table["live_n"] == 1).all()  # each first forecast's one-bar step resolved
    assert table["live_rmse_ratio"].notna().all()
    for ticker in ("AAA", "BBB"):
        run = first.folder / "runs" / ticker
        record = json.loads((run / "run.json").read_text())
        kept = Path(record["update"]["parent"])
        assert kept.parent == first.folder / "previous" / ticker and (kept / "run.json").exists()
        assert len(read_journal(run)) == 6 and (run / "live.json").exists()
    assert "Live, one bar ahead:" in result.verdict


def test_adaptive_bands_learn_from_the_journal(tmp_path):
    """forecast.adaptive: score turns the resolved record into each level's α per horizon
    (α = nominal + γ Σ(nominal − miss)), kept in adaptive.json; the next forecast's bands use
    it: after every one-bar forecast missed (the closes came in half as high again), the 80 %
    band one bar ahead is wider."""
    csv = write_bars(tmp_path / "bars.csv", BARS.iloc[:260])
    config = production_config(
        tmp_path, csv, "forecast.adaptive=true", "forecast.adaptive_step=0.05"
    )
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    run = tmp_path / "run"
    plain = api.forecast(run, steps=2).table
    for day in range(1, 6):
        write_bars(csv, BARS.iloc[: 260 + day])
        api.forecast(run, steps=2, refresh=True)
    shocked = BARS.iloc[:266].copy()
    shocked.loc[shocked.index[260:], ["Open", "High", "Low", "Close"]] *= 1.5  # far outside
    write_bars(csv, shocked)
    record = score(run)
    rows = record.table[record.table["step"] == 1]
    misses = int((~rows["inside80"].astype(bool)).sum())
    assert misses == len(rows) == 6  # every one-bar forecast missed
    stored = json.loads((run / "adaptive.json").read_text())
    expected = 0.2 + 0.05 * (len(rows) * 0.2 - misses)
    assert stored["alphas"]["model"]["80"][0] == pytest.approx(expected) and expected < 0.2
    write_bars(csv, BARS.iloc[:260])  # the first origin again: only the α differs
    (run / "journal.csv").rename(tmp_path / "journal.csv")  # so the forecast is issued anew
    again = api.forecast(run, steps=2).table
    widths = lambda frame, h: frame["hi80"].iloc[h] / frame["median"].iloc[h]  # noqa: E731
    assert widths(again, 0) > widths(plain, 0) * (1 + 1e-9)  # a lower α: a wider band
    assert json.loads((run / "forecast.json").read_text())["adaptive"] is True


def test_a_yahoo_run_refreshes_forecasts_scores_and_updates(tmp_path, monkeypatch, caplog):
    """The loop on a Yahoo source (downloads faked with yfinance 1.x frames): --refresh
    downloads again, the newest bar becomes the origin, and a dividend that re-adjusts every
    earlier close is counted once by update, which uses the newer values."""
    import yfinance

    from tests.conftest import yfinance_frame

    full = yfinance_frame("AAPL", n_rows=200)
    first = full.iloc[:180]
    adjusted = full.copy()
    adjusted.loc[adjusted.index[:185], ("Close", "AAPL")] *= 0.99  # dividend on bar 186
    downloads = [first, full.iloc[:185], adjusted]
    monkeypatch.setattr(yfinance, "download", lambda *args, **kwargs: downloads.pop(0))
    config = tiny_config(
        tmp_path,
        "data.source=yahoo",
        "data.ticker=AAPL",
        "data.start=null",
        "data.calendar=business",
        "data.test_fraction=0",
        "train.validation_fraction=0.2",
        f"data.cache_dir={tmp_path / 'cache'}",
    )
    run = api.train(config, out=tmp_path / "run", echo=lambda line: None).folder
    api.forecast(run, steps=3)  # from the 180th bar, as trained
    api.forecast(run, steps=3, refresh=True)  # downloads 185 bars: origin the newest
    origins = sorted(set(read_journal(run)["origin"]))
    assert len(origins) == 2 and origins[-1].startswith(str(full.index[184].date()))
    assert score(run).summary["resolved"] == 3  # the first forecast's bars came
    with caplog.at_level(logging.WARNING):
        outcome = update(run, refresh=True, out=tmp_path / "new", epochs=1, echo=lambda line: None)
    assert downloads == []
    record = json.loads((outcome.folder / "run.json").read_text())["update"]
    assert (record["new_bars"], record["revised_bars"]) == (20, 180)
    assert (
        sum("180 overlapping bars changed since the run" in message for message in caplog.messages)
        == 1
    )
    updated = pd.read_csv(outcome.folder / "prices.csv")
    assert updated["price"].iloc[0] == pytest.approx(float(adjusted[("Close", "AAPL")].iloc[0]))
