"""train --tickers with model.scope global: one network for a watch list, written as one
folder that reads like a batch's:

    runs/TICKER/      an ordinary run folder per ticker: the shared network, its own bars,
                      scaler, calibration, predictions, metrics and report (its config
                      carries the panel's cuts as dates, so every command splits it alike)
    leaderboard.csv   each ticker judged as a single run, with Benjamini–Hochberg q-values;
                      a ticker that could not be loaded or is too short is an error row
    panel.json        the cut dates, the tickers, the cross-section (pooled DM, rank IC,
                      long–short beside reversal and momentum) and the verdict; written last
    cross_section.csv/.png  the daily rank IC and the books' returns (three tickers or more)
    batch.png, report.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base import atomic
from forecast.base.names import safe_name
from forecast.base.values import json_ready
from forecast.commands.common import load_tickers
from forecast.commands.fitting import write_scores
from forecast.commands.judging import judge_tickers
from forecast.commands.result import Result
from forecast.config import Config
from forecast.errors import UserError
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.store import runs, tracking
from forecast.store.runs import PANEL


def train_global(
    config: Config,
    tickers: list[str],
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
) -> Result:
    """Load every ticker as the config's source serves it (a long CSV's rows, TICKER.csv in
    a folder, Yahoo), fit one network on them all (``model.scope: global``), write the
    folder and judge each ticker, pooled and across the cross-section."""
    if config.model.scope != "global":
        raise UserError(
            "train --tickers fits one network on every ticker: add --set model.scope=global "
            "(or run batch for a network per ticker)"
        )
    tracking.check_available(config)
    markets, errors = load_tickers(config, tickers, refresh=refresh)
    echo(f"loaded {len(markets)} of {len(tickers)} tickers; fitting one network on them all")
    with runs.new_folder(
        config.output.runs_dir, "global", "train", out=out, overwrite=overwrite
    ) as folder:
        forecaster = Forecaster(config).fit(markets, echo=echo)
        state.write_config(folder, forecaster.config)
        scored = save_members(folder, forecaster, lambda ticker: {"global_run": str(folder)})
        judged = judge_tickers(forecaster, scored=scored)
        errors.update(forecaster.panel_.errors)
        table = leaderboard(judged.table, errors, forecaster)
        result = _write(folder, forecaster, table, judged, errors)
    tracking.log_result(forecaster.config, "train", result, history=forecaster.history_)
    return result


def save_members(
    folder: Path,
    forecaster: Forecaster,
    details: Callable[[str], dict[str, Any]],
    carried: Mapping[str, Mapping[str, bytes]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each ticker's member as an ordinary run folder, ``folder/runs/TICKER``: its
    ``carried`` files first (an update's lineage: journal, adaptive bands), then the
    forecaster, its scores and page, run.json last with ``details(ticker)``. Returns what
    each scored (``fitting.write_scores``), for judging without predicting again."""
    scored: dict[str, dict[str, Any]] = {}
    for ticker, member in forecaster.members_.items():
        path = folder / "runs" / safe_name(ticker)
        path.mkdir(parents=True, exist_ok=True)
        for name, data in (carried or {}).get(ticker, {}).items():
            atomic.write_bytes(path / name, data)
        record = details(ticker)

        def scores(ticker=ticker, member=member, path=path, record=record) -> None:
            scored[ticker] = write_scores(member, path, lambda line: None, record)

        member.save(path, record, finish=scores)
    return scored


def leaderboard(
    judged: pd.DataFrame, errors: dict[str, str], forecaster: Forecaster
) -> pd.DataFrame:
    """The judged rows, each with its run folder, and an error row per ticker left out."""
    table = judged[judged["status"] != "error"].copy()
    table["message"] = ""
    table["run_folder"] = [
        f"runs/{safe_name(ticker)}" if ticker in forecaster.members_ else None
        for ticker in table["ticker"]
    ]
    failed = pd.DataFrame(
        [{"ticker": ticker, "status": "error", "message": text} for ticker, text in errors.items()]
    )
    return pd.concat([table, failed], ignore_index=True) if len(failed) else table


def _write(
    folder: Path,
    forecaster: Forecaster,
    table: pd.DataFrame,
    judged: Result,
    errors: dict[str, str],
) -> Result:
    from forecast.report import interactive
    from forecast.report.html import write_batch_report
    from forecast.report.plots import plot_batch

    split = forecaster.panel_.split
    verdict = judged.verdict
    atomic.write_table(folder / "leaderboard.csv", table)
    ran = table[table["status"] == "ok"]
    if len(ran):
        atomic.write_figure(folder / "batch.png", plot_batch(table))
        interactive.save(folder / "batch.png", interactive.batch(table))
    charts = ()
    if judged.detail is not None:  # three or more tickers tested: the cross-section, drawn
        from forecast.report import cross_section

        series = judged.detail
        atomic.write_table(folder / "cross_section.csv", series.reset_index())
        atomic.write_figure(folder / "cross_section.png", cross_section.figure(series))
        interactive.save(folder / "cross_section.png", cross_section.interactive(series))
        charts = (("cross_section.png", cross_section.TITLE),)
    write_batch_report(folder, table, verdict, subject="Global model", charts=charts)
    summary = {
        "scope": "global",
        "tickers": list(forecaster.members_),
        "test_start": forecaster.config.data.test_start,
        "validation_start": forecaster.config.train.validation_start,
        "calendar_dates": split.dates,
        "epochs_run": forecaster.epochs_run_,
        "train_seconds": round(forecaster.train_seconds_, 2),
        "errors": errors,
        "cross_section": judged.summary["cross_section"],
        "verdict": verdict,
    }
    summary = json_ready(summary)
    atomic.write_json(folder / PANEL, summary)
    return Result(
        folder=folder,
        table=table,
        summary=summary,
        verdict=verdict,
        config=forecaster.config,
        forecaster=forecaster,
    )
