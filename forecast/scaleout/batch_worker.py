"""A batch's tasks, run in its workers: one ticker's train (then forecast and backtest), or
its nightly update, in a scratch folder with the single-run command functions; the folder's
files go back to the driver, which writes them (no shared filesystem)."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.base.barrier import wait_at
from forecast.base.names import safe_name
from forecast.config import Config, TrackingConfig, config_from_dict
from forecast.errors import UserError
from forecast.store import runs


def read_tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to it (after ``prefix``), sorted:
    how a folder travels between the driver and a worker (nothing is shared on disk)."""
    return {
        f"{prefix}{path.relative_to(folder)}": path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def scratch_folder(ticker: str) -> Path:
    """A worker's scratch folder, named by ticker and process (a killed task is findable)."""
    return Path(tempfile.mkdtemp(prefix=f"forecast-batch-{safe_name(ticker)}-{os.getpid()}-"))


def error_row(
    ticker: str, error: UserError, local: Path, csv: tuple[str, str] | None
) -> dict[str, Any]:
    """A task's error, naming the driver's file rather than the worker's copy of its rows."""
    message = str(error).replace(str(local), csv[1]) if csv else str(error)
    return {"ticker": ticker, "status": "error", "message": message, "files": {}}


def ticker_csv(config: Config, ticker: str) -> tuple[str, str] | None:
    """For a csv source, (the ticker's rows as CSV text, the file they came from), read on
    the driver so that workers need no shared filesystem; None for other sources."""
    if config.data.source != "csv":
        return None
    from forecast.data.csv_files import read_csv
    from forecast.data.sources import ticker_file, ticker_rows

    data = replace(config.data, ticker=ticker)
    path = ticker_file(data)
    frame = ticker_rows(read_csv(path, data.decimal), data, str(path))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue(), str(path)


def run_ticker(
    values: dict[str, Any],
    ticker: str,
    csv: tuple[str, str] | None,
    steps: int,
    folds: int,
    runs_dir: str,
) -> dict[str, Any]:
    """Train (then forecast ``steps`` bars, then backtest ``folds`` folds) one ticker in a
    scratch folder with the single-run command functions; return its files.

    Returns {"ticker", "status": "ok"|"error", "message", "files": {relative path: bytes}}.
    csv: the ticker's rows as CSV text and the file they came from (``ticker_csv``).
    runs_dir: where the driver writes the run folders (what their config.yaml records; the
    scratch folder is named by ticker and worker process: forecast-batch-TICKER-PID-…).
    """
    # pandas/matplotlib; TensorFlow only once training starts
    from forecast.commands.backtest import backtest
    from forecast.commands.common import load_data
    from forecast.commands.forecast import forecast
    from forecast.commands.train import train

    scratch = scratch_folder(ticker)
    local = scratch / f"{safe_name(ticker)}.csv"
    wait_at(f"batch-{safe_name(ticker)}")  # a test's barrier (base/barrier.py)
    try:
        config = config_from_dict(
            {
                **values,
                "data": {**values["data"], "ticker": ticker},
                "output": {**values["output"], "runs_dir": runs_dir},
            }
        )
        if csv is not None:  # the driver's rows, read here from a local copy
            local.write_text(csv[0], encoding="utf-8")
            resolved, market = load_data(
                replace(config, data=replace(config.data, path=str(local)))
            )
            config = replace(resolved, data=replace(resolved.data, path=config.data.path))
            market = replace(  # named by the driver's file, not this copy
                market,
                data=config.data,
                warnings=tuple(line.replace(str(local), csv[1]) for line in market.warnings),
                label=csv[1],
            )
        else:
            config, market = load_data(config)
        quiet = replace(  # the batch is tracked as one run, by the driver
            config, train=replace(config.train, progress="none"), tracking=TrackingConfig()
        )
        run = scratch / "run"
        train(quiet, out=run, echo=lambda line: None, market=market)
        if steps:
            try:
                forecast(run, steps=steps)
            except UserError as error:  # the run stands; the row says why it has no forecast
                atomic.write_json(run / "forecast.json", {"error": str(error)})
        if folds:
            backtest(
                quiet, folds=folds, out=scratch / "backtest", echo=lambda line: None, market=market
            )
        files = {
            **read_tree(scratch / "backtest", "backtest/"),
            **read_tree(scratch / "run", "run/"),
        }
        return {"ticker": ticker, "status": "ok", "message": "", "files": files}
    except UserError as error:
        return error_row(ticker, error, local, csv)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def update_ticker(
    ticker: str,
    files: dict[str, bytes],
    csv: tuple[str, str] | None,
    steps: int,
    parent_record: str,
) -> dict[str, Any]:
    """The nightly step of one ticker in a scratch folder: update its run with the newest
    bars (a warm start), forecast ``steps`` bars, score the lineage's journal; return the
    new run folder's files (``run/…``). ``files``: the current run folder's, from the driver;
    ``parent_record``: where the driver keeps that run from now on."""
    from forecast.commands.forecast import forecast
    from forecast.commands.score import score
    from forecast.commands.update import update
    from forecast.data.sources import load_market

    scratch = scratch_folder(ticker)
    local = scratch / f"{safe_name(ticker)}.csv"
    wait_at(f"update-{safe_name(ticker)}")  # a test's barrier (base/barrier.py)
    try:
        parent = scratch / "parent"
        for relative, data in files.items():
            (parent / relative).parent.mkdir(parents=True, exist_ok=True)
            (parent / relative).write_bytes(data)
        newer = None
        if csv is not None:  # the driver's rows, read here from a local copy
            local.write_text(csv[0], encoding="utf-8")
            data = runs.read_config(parent).data
            newer = replace(load_market(replace(data, path=str(local), end=None)), label=csv[1])
        quiet = lambda line: None  # noqa: E731
        update(parent, out=scratch / "run", echo=quiet, newer=newer, parent_record=parent_record)
        if steps:
            forecast(scratch / "run", steps=steps)
        if (scratch / "run" / "journal.csv").exists():
            score(scratch / "run", bars=newer.bars if newer else None)
        return {
            "ticker": ticker,
            "status": "ok",
            "message": "",
            "files": read_tree(scratch / "run", "run/"),
        }
    except UserError as error:
        return error_row(ticker, error, local, csv)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
