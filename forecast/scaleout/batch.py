"""Many tickers at once: one ordinary run folder per ticker, and a leaderboard that survives
multiple testing.

``run_batch`` schedules ``batch_worker.run_ticker`` over the tickers with the engine (Ray: local
cores or a cluster); each task calls the same command functions as ``train``, ``forecast`` and
``backtest`` in a scratch folder of its worker and returns the folder's files, which the
driver writes atomically under ``DIR/runs/TICKER/`` (and ``DIR/backtests/TICKER/``): no
shared filesystem is needed. A ticker whose data is bad becomes an ``error`` row with its
one-line message. The leaderboard (``leaderboard``) is built from the written folders
alone, so a resumed batch and an undisturbed one give byte-identical files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.base.barrier import wait_at
from forecast.base.marker import MARKER
from forecast.base.names import safe_name
from forecast.base.values import plain, read_json
from forecast.commands.result import Result
from forecast.config import Config, EvaluationConfig, config_to_dict, resolve_progress
from forecast.data.tickers import check_tickers
from forecast.errors import UserError, named
from forecast.evaluation.cross_section import panel_verdict
from forecast.evaluation.significance import SIGNIFICANCE
from forecast.forecasting import state
from forecast.scaleout import load_engine
from forecast.scaleout.address import check_address
from forecast.scaleout.batch_worker import read_tree, run_ticker, ticker_csv, update_ticker
from forecast.scaleout.leaderboard import (
    batch_verdict,
    cross_section_of_runs,
    leaderboard,
    ticker_row,
)
from forecast.store import runs, tracking
from forecast.store.lock import writing


def write_files(folder: Path, ticker: str, files: dict[str, bytes]) -> None:
    """A task's files into DIR/runs/TICKER and DIR/backtests/TICKER, run.json last."""
    name = safe_name(ticker)
    targets = {"run": folder / "runs" / name, "backtest": folder / "backtests" / name}
    for target in targets.values():
        if target.exists():
            shutil.rmtree(target)
    ordered = sorted(files, key=lambda path: path.endswith(MARKER))
    for relative in ordered:
        top, _, rest = relative.partition("/")
        path = targets[top] / rest
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, files[relative])


def run_batch(
    config: Config,
    tickers: list[str],
    out: str | Path | None = None,
    forecast_steps: int = 0,
    backtest_folds: int = 0,
    cpus_per_task: int = 1,
    address: str | None = None,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> Result:
    """Run every ticker (on Ray), write the folders, the leaderboard, batch.png, report.html."""
    load_engine("batch")  # the scaleout extra, named when missing

    if forecast_steps < 0 or backtest_folds < 0 or cpus_per_task < 1:
        raise UserError(
            f"{named('forecast_steps', forecast_steps)} {named('backtest_folds', backtest_folds)} "
            f"{named('cpus_per_task', cpus_per_task)}: forecast and backtest must be >= 0 "
            f"(0: skip), cpus-per-task >= 1"
        )
    tickers = check_tickers(list(tickers))
    tracking.check_available(config)
    if address:
        check_address(address)  # before any folder is made
    with _batch_folder(config, out, resume) as folder:
        complete = {
            ticker for ticker in tickers if (folder / "runs" / safe_name(ticker) / MARKER).exists()
        }
        todo = [ticker for ticker in tickers if ticker not in complete or not resume]
        if resume and complete:
            echo(
                f"resuming: {len(complete)} of {len(tickers)} tickers are complete; running "
                f"{len(todo)}"
            )
        values = config_to_dict(config)
        errors: dict[str, str] = {}
        arguments = []
        for ticker in todo:
            try:
                csv = ticker_csv(config, ticker)
            except UserError as error:  # the driver cannot read this ticker's rows
                errors[ticker] = str(error)
                continue
            runs_dir = str(folder / "runs")
            arguments.append((values, ticker, csv, forecast_steps, backtest_folds, runs_dir))
        queued = [arguments_[1] for arguments_ in arguments]
        result = _dispatch(
            folder,
            tickers,
            run_ticker,
            arguments,
            queued,
            errors,
            cpus_per_task,
            address,
            echo,
            evaluation=config.evaluation,
        )
    tracking.log_result(config, "batch", result)
    return result


@contextlib.contextmanager
def _batch_folder(config: Config, out: str | Path | None, resume: bool) -> Iterator[Path]:
    """The batch's folder held with its write lock: a new one with the config written, or
    (``resume``) the one given, refused unless it started with this config."""
    if not resume:
        with runs.new_folder(config.output.runs_dir, "batch", "batch", out=out) as folder:
            state.write_config(folder, config)
            yield folder
        return
    folder = Path(out) if out is not None else Path()
    if out is None or not (folder / "config.yaml").is_file():
        raise UserError(
            f"{named('resume', folder, flag='--resume')}: not a batch folder; run the batch "
            f"without resuming first"
        )
    with writing(folder, "batch --resume"):
        runs.check_same_config(folder, config, "batch")
        yield folder


def update_batch(
    batch_dir: str | Path,
    forecast_steps: int = 0,
    cpus_per_task: int = 1,
    address: str | None = None,
    echo: Callable[[str], None] = print,
) -> Result:
    """The nightly step over an existing batch folder: every ticker's run updated with its
    newest bars, a forecast of ``forecast_steps`` bars, its journal scored. Each run folder
    is replaced by its update; the run it came from is kept under previous/TICKER/."""
    load_engine("batch --update")  # the scaleout extra, named when missing

    folder = Path(batch_dir)
    if not (folder / "config.yaml").is_file() or not (folder / "leaderboard.json").is_file():
        raise UserError(
            f"{named('batch_dir', folder)}: not a batch folder; run the batch first "
            f"(batch --tickers … --out {folder})"
        )
    if forecast_steps < 0 or cpus_per_task < 1:
        raise UserError(
            f"{named('forecast_steps', forecast_steps)} {named('cpus_per_task', cpus_per_task)}: "
            f"forecast must be >= 0 (0: skip), cpus-per-task >= 1"
        )
    if address:
        check_address(address)
    with writing(folder, "batch --update"):
        return _update_each(folder, forecast_steps, cpus_per_task, address, echo)


def _update_each(
    folder: Path,
    forecast_steps: int,
    cpus_per_task: int,
    address: str | None,
    echo: Callable[[str], None],
) -> Result:
    """``update_batch`` with the batch folder's write lock held."""
    config = runs.read_config(folder)
    tickers = [str(row["ticker"]) for row in read_json(folder / "leaderboard.json")["rows"]]
    errors: dict[str, str] = {}
    arguments, moves = [], {}
    for ticker in tickers:
        run = folder / "runs" / safe_name(ticker)
        if not (run / MARKER).exists() and not restore(folder, ticker, echo):
            errors[ticker] = "no complete run folder to update"
            continue
        stamp = read_json(run / MARKER).get("finished", "run").replace(":", "")
        kept = folder / "previous" / safe_name(ticker) / safe_name(stamp)
        try:
            arguments.append(
                (ticker, read_tree(run), ticker_csv(config, ticker), forecast_steps, str(kept))
            )
            moves[ticker] = (run, kept)
        except UserError as error:  # the driver cannot read this ticker's rows
            errors[ticker] = str(error)

    def keep_parent(ticker: str) -> None:
        run, kept = moves[ticker]
        kept.parent.mkdir(parents=True, exist_ok=True)
        with writing(run, "batch --update"):  # not while a forecast or score writes it
            os.replace(run, kept)  # the run the update came from, as it was
        wait_at(f"batch-moved-{safe_name(ticker)}")  # a test's barrier (base/barrier.py)

    queued = [arguments_[0] for arguments_ in arguments]
    return _dispatch(
        folder,
        tickers,
        update_ticker,
        arguments,
        queued,
        errors,
        cpus_per_task,
        address,
        echo,
        before_write=keep_parent,
        evaluation=config.evaluation,
    )


def restore(folder: Path, ticker: str, echo: Callable[[str], None]) -> bool:
    """A ticker whose run sits only under previous/ (an --update stopped between keeping its
    run there and writing the update): the newest kept run back in runs/TICKER, any partial
    update there removed. False when there is none to restore."""
    kept = folder / "previous" / safe_name(ticker)
    candidates = sorted(path for path in kept.glob("*") if (path / MARKER).is_file())
    if not candidates:
        return False
    run = folder / "runs" / safe_name(ticker)
    if run.exists():
        shutil.rmtree(run)  # an update's files, written only in part: it runs again
    run.parent.mkdir(parents=True, exist_ok=True)
    os.replace(candidates[-1], run)
    echo(
        f"{ticker}: restored {candidates[-1].relative_to(folder)} to runs/ (the last --update "
        f"stopped after keeping it and before writing its update); updating it again"
    )
    return True


def _dispatch(
    folder: Path,
    tickers: list[str],
    task: Callable[..., dict[str, Any]],
    arguments: list[tuple],
    queued: list[str],
    errors: dict[str, str],
    cpus_per_task: int,
    address: str | None,
    echo: Callable[[str], None],
    before_write: Callable[[str], None] | None = None,
    evaluation: EvaluationConfig | None = None,
) -> Result:
    """Run ``task`` for each argument tuple on the engine, write each ticker's files as its
    result arrives, then the leaderboard (with the cross-section's verdict: ``evaluation``'s
    long–short book and costs), batch.json, batch.png and report.html."""
    evaluation = evaluation or EvaluationConfig()
    from forecast.report import interactive
    from forecast.report.html import write_batch_report
    from forecast.report.plots import plot_batch
    from forecast.scaleout import engine

    progress = Progress(len(queued) + len(errors), echo)
    for ticker in errors:
        progress.finished(ticker, "error")
    placement: dict[str, dict[str, Any]] = {}

    def on_result(outcome: engine.TaskOutcome) -> None:
        ticker = queued[outcome.index]
        result = outcome.value
        if result is None:  # the task itself was lost (worker or node died beyond retries)
            errors[ticker] = f"the task failed: {outcome.error}"
        elif result["status"] == "error":
            errors[ticker] = result["message"]
        else:
            if before_write is not None:
                before_write(ticker)
            write_files(folder, ticker, result["files"])
        placement[ticker] = {
            "node_id": outcome.node_id,
            "worker_pid": outcome.worker_pid,
            "seconds": round(outcome.seconds, 2),
            "worker_peak_mb": outcome.worker_peak_mb and round(outcome.worker_peak_mb),
        }
        progress.finished(ticker, "error" if ticker in errors else "ok")

    if arguments:
        with engine.connected(address):
            engine.run_tasks(task, arguments, cpus_per_task, on_result)
    progress.close()
    table = leaderboard([ticker_row(folder, ticker, errors.get(ticker)) for ticker in tickers])
    line = batch_verdict(table)
    ok = table.loc[table["status"] == "ok", "ticker"]
    judged = cross_section_of_runs(
        {ticker: folder / "runs" / safe_name(ticker) for ticker in ok},
        evaluation.long_short,
        evaluation.cost_bps,
    )
    if judged is not None:
        line += " " + panel_verdict(judged)
    atomic.write_table(folder / "leaderboard.csv", table)
    atomic.write_json(
        folder / "leaderboard.json",
        {
            "tickers": len(tickers),
            "verdict": line,
            "rows": [plain(row) for row in table.to_dict(orient="records")],
            "cross_section": judged,
        },
    )
    atomic.write_json(
        folder / "batch.json",
        {"ran": queued, "placement": placement, "cpus_per_task": cpus_per_task, "address": address},
    )
    atomic.write_figure(folder / "batch.png", plot_batch(table, SIGNIFICANCE))
    interactive.save(folder / "batch.png", interactive.batch(table, SIGNIFICANCE))
    write_batch_report(folder, table, line)
    return Result(
        folder=folder,
        table=table,
        summary={"ran": queued, "placement": placement},
        verdict=line,
    )


class Progress:
    """A bar with counts and ETA on a terminal, a line per finished ticker in a log, quiet
    under CI."""

    def __init__(self, total: int, echo: Callable[[str], None]) -> None:
        self.total, self.done, self.echo = total, 0, echo
        self.started = time.perf_counter()
        self.mode = "none" if total == 0 else resolve_progress("auto")  # bar, epoch or none

    def finished(self, ticker: str, status: str) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        remaining = elapsed / self.done * (self.total - self.done)
        if self.mode == "epoch":  # a line per finished ticker
            self.echo(
                f"[{self.done}/{self.total}] {ticker}: {status} "
                f"({elapsed:.0f} s, about {remaining:.0f} s left)"
            )
        elif self.mode == "bar":
            filled = int(30 * self.done / self.total)
            sys.stdout.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/"
                f"{self.total} ETA {remaining:4.0f} s  {ticker}: {status:<5}"
            )
            sys.stdout.flush()

    def close(self) -> None:
        if self.mode == "bar":
            sys.stdout.write("\n")
