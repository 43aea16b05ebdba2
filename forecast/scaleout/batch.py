"""Many tickers at once: one ordinary run folder per ticker, and a leaderboard that survives
multiple testing.

``run_batch`` schedules ``run_ticker`` over the tickers with the engine (Ray: local cores or a
cluster); each task calls the same command functions as ``train``, ``forecast`` and
``backtest`` in a scratch folder of its worker and returns the folder's files, which the
driver writes atomically under ``DIR/runs/TICKER/`` (and ``DIR/backtests/TICKER/``): no
shared filesystem is needed. A ticker whose data is bad becomes an ``error`` row with its
one-line message. The leaderboard is built from the written folders alone, so a resumed
batch and an undisturbed one give byte-identical files.

With many tickers some beat the naive forecast by chance: each ticker's test forecasts get a
Diebold–Mariano p-value against naive and a Pesaran–Timmermann p-value of directional
timing, and the p-values of the tickers that ran get Benjamini–Hochberg q-values (the false
discovery rate at which each would be significant).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.base.values import plain
from forecast.config import Config, config_from_dict, config_to_dict, resolve_progress
from forecast.errors import UserError
from forecast.evaluation.scoring import method_metrics
from forecast.evaluation.significance import SIGNIFICANCE, benjamini_hochberg
from forecast.store import runs

LEADERBOARD_COLUMNS = (
    "ticker",
    "status",
    "message",
    "n_test",
    "rmse",
    "naive_rmse",
    "rmse_ratio",
    "dm_p_value",
    "dm_q_value",
    "mase",
    "directional_accuracy",
    "up_share",
    "market_up_rate",
    "timing_p_value",
    "timing_q_value",
    "last_close",
    "forecast_date",
    "forecast_median",
    "forecast_lo95",
    "forecast_hi95",
    "backtest_rmse_ratio",
    "live_n",
    "live_rmse_ratio",
    "live_dm_p_value",
    "live_dm_q_value",
    "live_coverage95",
    "run_folder",
)
TEXT_COLUMNS = {"ticker", "status", "message", "forecast_date", "run_folder"}


@dataclass(frozen=True)
class BatchResult:
    folder: Path
    leaderboard: pd.DataFrame  # LEADERBOARD_COLUMNS, ok rows by rmse_ratio, then errors
    verdict: str
    ran: list[str]  # tickers run now (the others were complete already: --resume)
    placement: dict[str, dict[str, Any]]  # ticker -> node_id, worker_pid, seconds


def read_tickers(tickers: str | None = None, tickers_file: str | Path | None = None) -> list[str]:
    """Tickers from ``--tickers A,B,C`` or a file (one per line or comma-separated; # starts
    a comment), upper-cased, in order, without repeats."""
    if bool(tickers) == bool(tickers_file):
        raise UserError(
            "batch: give the tickers with either --tickers A,B,C or --tickers-file FILE"
        )
    text = tickers or ""
    if tickers_file:
        try:
            text = Path(tickers_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(
                f"--tickers-file {tickers_file}: cannot read it "
                f"({getattr(error, 'strerror', None) or error}); pass a text file "
                f"with one ticker per line"
            ) from None
    names: list[str] = []
    for line in text.splitlines() or [text]:
        for name in line.split("#")[0].replace(",", " ").split():
            name = name.strip().upper()
            if name and name not in names:
                names.append(name)
    if not names:
        raise UserError(
            f"{'--tickers-file ' + str(tickers_file) if tickers_file else '--tickers'}"
            f": no tickers found; list at least one, e.g. MSFT,AAPL"
        )
    for name in names:
        if not re.fullmatch(r"[A-Z0-9._^=-]+", name):
            raise UserError(
                f"ticker {name!r}: not a ticker symbol; use letters, digits and . - ^ = only"
            )
    return names


def ticker_folder(name: str) -> str:
    """The run folder's name for a ticker (file-name safe, never escaping DIR/runs)."""
    return runs.safe_name(name)


def read_tree(folder: Path, prefix: str = "") -> dict[str, bytes]:
    """Every file under ``folder`` by its path relative to it (after ``prefix``), sorted:
    how a folder travels between the driver and a worker (nothing is shared on disk)."""
    return {
        f"{prefix}{path.relative_to(folder)}": path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --- in the worker --------------------------------------------------------------------------


def scratch_folder(ticker: str) -> Path:
    """A worker's scratch folder, named by ticker and process (a killed task is findable)."""
    return Path(tempfile.mkdtemp(prefix=f"forecast-batch-{ticker_folder(ticker)}-{os.getpid()}-"))


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
    from forecast.data.sources import read_csv, ticker_file, ticker_rows

    data = replace(config.data, ticker=ticker)
    path = ticker_file(data)
    frame = ticker_rows(read_csv(path), data, str(path))
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
    local = scratch / f"{ticker_folder(ticker)}.csv"
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
            market = replace(
                market,
                warnings=tuple(  # named by the driver's file too
                    line.replace(str(local), csv[1]) for line in market.warnings
                ),
            )
        else:
            config, market = load_data(config)
        quiet = replace(config, train=replace(config.train, progress="none"))
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
    local = scratch / f"{ticker_folder(ticker)}.csv"
    try:
        parent = scratch / "parent"
        for relative, data in files.items():
            (parent / relative).parent.mkdir(parents=True, exist_ok=True)
            (parent / relative).write_bytes(data)
        market = None
        if csv is not None:  # the driver's rows, read here from a local copy
            local.write_text(csv[0], encoding="utf-8")
            data = runs.read_config(parent).data
            market = (load_market(replace(data, path=str(local), end=None)).bars, csv[1])
        quiet = lambda line: None  # noqa: E731
        update(parent, out=scratch / "run", echo=quiet, market=market, parent_record=parent_record)
        if steps:
            forecast(scratch / "run", steps=steps)
        if (scratch / "run" / "journal.csv").exists():
            score(scratch / "run", bars=market[0] if market else None)
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


# --- on the driver --------------------------------------------------------------------------


def write_files(folder: Path, ticker: str, files: dict[str, bytes]) -> None:
    """A task's files into DIR/runs/TICKER and DIR/backtests/TICKER, run.json last."""
    name = ticker_folder(ticker)
    targets = {"run": folder / "runs" / name, "backtest": folder / "backtests" / name}
    for target in targets.values():
        if target.exists():
            shutil.rmtree(target)
    ordered = sorted(files, key=lambda path: path.endswith(runs.MARKER))
    for relative in ordered:
        top, _, rest = relative.partition("/")
        path = targets[top] / rest
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(path, files[relative])


def ticker_row(folder: Path, ticker: str, error: str | None = None) -> dict[str, Any]:
    """One leaderboard row, from the ticker's written folders alone (so a resumed batch and
    an undisturbed one agree byte for byte)."""
    name = ticker_folder(ticker)
    row: dict[str, Any] = {column: None for column in LEADERBOARD_COLUMNS}
    row.update(ticker=ticker, status="error", message=error or "")
    run = folder / "runs" / name
    if error is not None or not (run / runs.MARKER).exists():
        row["message"] = row["message"] or "no complete run folder"
        return row
    metrics = runs.read_json(run / "metrics.json")
    prices = pd.read_csv(run / "prices.csv")["price"].to_numpy()
    row.update(
        status="ok",
        n_test=metrics["n_test"],
        last_close=float(prices[-1]),
        run_folder=f"runs/{name}",
    )
    if metrics["n_test"]:  # a production fit (after --update) has no test rows
        predictions = pd.read_csv(run / "predictions.csv")
        scores = method_metrics(
            predictions["actual"].to_numpy(),
            predictions["predicted"].to_numpy(),
            predictions["naive"].to_numpy(),
            prices[: metrics["n_train"]],
        )
        row.update(
            rmse=metrics["rmse"],
            naive_rmse=metrics["naive_rmse"],
            rmse_ratio=metrics["rmse_ratio"],
            dm_p_value=scores["dm_p_value"],
            mase=scores["mase"],
            directional_accuracy=scores["directional_accuracy"],
            up_share=scores["up_share"],
            market_up_rate=scores["market_up_rate"],
            timing_p_value=scores["timing_p_value"],
        )
    if (run / "live.json").exists():  # the nightly record, one bar ahead
        first = next(
            (
                part
                for part in runs.read_json(run / "live.json")["horizons"]
                if part["horizon"] == 1
            ),
            None,
        )
        if first is not None:
            row.update(
                live_n=first["n"],
                live_rmse_ratio=first["rmse_ratio"],
                live_dm_p_value=first["dm_p_value"],
                live_coverage95=first.get("coverage95"),
            )
    forecast_record = (
        runs.read_json(run / "forecast.json") if (run / "forecast.json").exists() else {}
    )
    if "error" in forecast_record:
        row["message"] = f"no forecast: {forecast_record['error']}"
    elif forecast_record.get("missing_levels"):
        row["message"] = "; ".join(
            f"{name} % band: {text}" for name, text in forecast_record["missing_levels"].items()
        )
    if (run / "forecast.csv").exists():
        last = pd.read_csv(run / "forecast.csv").iloc[-1]
        row.update(
            forecast_date=str(last["date"]),
            forecast_median=float(last["median"]),
            forecast_lo95=float(last["lo95"]),
            forecast_hi95=float(last["hi95"]),
        )
    backtest = folder / "backtests" / name / "backtest.json"
    if backtest.exists():
        overall = runs.read_json(backtest)["overall"]["model"]
        row["backtest_rmse_ratio"] = overall.get("rmse_ratio", overall.get("theil_u"))  # older
    return row


def leaderboard(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows with Benjamini–Hochberg q-values over the tickers that ran (of the DM and of the
    timing p-values); ok rows by rmse_ratio, then errors."""
    table = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    for column in set(LEADERBOARD_COLUMNS) - TEXT_COLUMNS:  # None (an error row) → NaN
        table[column] = table[column].astype("float64")
    ok = table["status"] == "ok"
    for test in ("dm", "timing", "live_dm"):
        table.loc[ok, f"{test}_q_value"] = benjamini_hochberg(
            table.loc[ok, f"{test}_p_value"].astype("float64").to_numpy()
        )
    table["_order"] = np.where(ok, table["rmse_ratio"].astype("float64"), np.inf)
    table = table.sort_values(["_order", "ticker"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def batch_verdict(table: pd.DataFrame) -> str:
    """The last line, in words: significance first, the raw count of ratios below 1 last."""
    ok = table[table["status"] == "ok"]

    def below(column: str) -> int:
        return int((ok[column].astype("float64") < SIGNIFICANCE).sum())

    lower = int((ok["rmse_ratio"].astype("float64") < 1).sum())
    errors = len(table) - len(ok)
    failed = f" ({errors} failed: see the error rows)" if errors else ""
    tested = ok[ok["n_test"].astype("float64") > 0]
    line = (
        f"{below('dm_p_value')} of {len(tested)} tickers beat naive significantly (DM, "
        f"squared error){failed}, {below('dm_q_value')} after Benjamini–Hochberg at 5 %; "
        f"{below('timing_q_value')} show directional timing after Benjamini–Hochberg "
        f"({below('timing_p_value')} alone); {lower} had rmse_ratio < 1, which alone is "
        f"not evidence."
    )
    live = ok[ok["live_n"].astype("float64") > 0]
    if len(live):
        line += (
            f" Live, one bar ahead: {below('live_dm_p_value')} of {len(live)} beat naive "
            f"significantly, {below('live_dm_q_value')} after Benjamini–Hochberg "
            f"(median {int(live['live_n'].median())} forecasts resolved)."
        )
    return line


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
) -> BatchResult:
    """Run every ticker (on Ray), write the folders, the leaderboard, batch.png, report.html."""
    from forecast.scaleout import engine

    if forecast_steps < 0 or backtest_folds < 0 or cpus_per_task < 1:
        raise UserError(
            f"--forecast {forecast_steps} --backtest {backtest_folds} "
            f"--cpus-per-task {cpus_per_task}: forecast and backtest must be >= 0 "
            f"(0: skip), cpus-per-task >= 1"
        )
    if address:
        engine.check_address(address)  # before any folder is made
    if resume:
        folder = Path(out) if out is not None else Path()
        if out is None or not (folder / "config.yaml").is_file():
            raise UserError(
                f"--resume: {folder} is not a batch folder; run the batch without --resume first"
            )
        runs.check_same_config(folder, config, "batch")
    else:
        folder = runs.create_run_dir(config.output.runs_dir, "batch", out=out)
        runs.write_config(folder, config)
    complete = {
        ticker
        for ticker in tickers
        if (folder / "runs" / ticker_folder(ticker) / runs.MARKER).exists()
    }
    todo = [ticker for ticker in tickers if ticker not in complete or not resume]
    if resume and complete:
        echo(
            f"resuming: {len(complete)} of {len(tickers)} tickers are complete; running {len(todo)}"
        )
    values = config_to_dict(config)
    errors: dict[str, str] = {}
    arguments = []
    for ticker in todo:
        try:
            arguments.append(
                (
                    values,
                    ticker,
                    ticker_csv(config, ticker),
                    forecast_steps,
                    backtest_folds,
                    str(folder / "runs"),
                )
            )
        except UserError as error:  # the driver cannot read this ticker's rows
            errors[ticker] = str(error)
    queued = [arguments_[1] for arguments_ in arguments]
    return _dispatch(
        folder, tickers, run_ticker, arguments, queued, errors, cpus_per_task, address, echo
    )


def update_batch(
    out: str | Path,
    forecast_steps: int = 0,
    cpus_per_task: int = 1,
    address: str | None = None,
    echo: Callable[[str], None] = print,
) -> BatchResult:
    """The nightly step over an existing batch folder: every ticker's run updated with its
    newest bars, a forecast of ``forecast_steps`` bars, its journal scored. Each run folder
    is replaced by its update; the run it came from is kept under previous/TICKER/."""
    from forecast.scaleout import engine

    folder = Path(out)
    if not (folder / "config.yaml").is_file() or not (folder / "leaderboard.json").is_file():
        raise UserError(
            f"--update {folder}: not a batch folder; run the batch first "
            f"(batch --tickers … --out {folder})"
        )
    if forecast_steps < 0 or cpus_per_task < 1:
        raise UserError(
            f"--forecast {forecast_steps} --cpus-per-task {cpus_per_task}: "
            f"forecast must be >= 0 (0: skip), cpus-per-task >= 1"
        )
    if address:
        engine.check_address(address)
    config = runs.read_config(folder)
    tickers = [str(row["ticker"]) for row in runs.read_json(folder / "leaderboard.json")["rows"]]
    errors: dict[str, str] = {}
    arguments, moves = [], {}
    for ticker in tickers:
        run = folder / "runs" / ticker_folder(ticker)
        if not (run / runs.MARKER).exists():
            errors[ticker] = "no complete run folder to update"
            continue
        stamp = runs.read_json(run / runs.MARKER).get("finished", "run").replace(":", "")
        kept = folder / "previous" / ticker_folder(ticker) / runs.safe_name(stamp)
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
        os.replace(run, kept)  # the run the update came from, as it was

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
    )


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
) -> BatchResult:
    """Run ``task`` for each argument tuple on the engine, write each ticker's files as its
    result arrives, then the leaderboard, batch.json, batch.png and report.html."""
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
    runs.write_frame(folder / "leaderboard.csv", table)
    atomic.write_json(
        folder / "leaderboard.json",
        {
            "tickers": len(tickers),
            "verdict": line,
            "rows": [plain(row) for row in table.to_dict(orient="records")],
        },
    )
    atomic.write_json(
        folder / "batch.json",
        {"ran": queued, "placement": placement, "cpus_per_task": cpus_per_task, "address": address},
    )
    runs.save_figure(folder / "batch.png", plot_batch(table, SIGNIFICANCE))
    write_batch_report(folder, table, line)
    return BatchResult(
        folder=folder, leaderboard=table, verdict=line, ran=queued, placement=placement
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
