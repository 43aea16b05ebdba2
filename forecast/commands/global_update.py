"""update on a global run's folder (train --tickers): the one network brought up to every
ticker's newest bars in one step, into a new global folder.

Each ticker's newer bars are read and checked as a single run's update reads them
(``update.plan_update``: they continue its bars, overlapping bars revised by a dividend are
counted, its scaler is kept). The one network is then warm-started from the parent's weights
and optimizer state and trained ``train.update_epochs`` epochs (or ``--epochs``) on the
pooled windows of every ticker's bars, cut at one calendar again (a production fit: the
newest block validates, nothing is tested), and the bands of every ticker are calibrated
again. A ticker whose newer bars cannot be used (nothing new, a gap) is an error row and
stays out of the new folder; its run stays in the parent. The new folder reads like the
parent's (``runs/TICKER`` ordinary runs, each carrying its lineage's journal forward,
``leaderboard.csv``, ``panel.json`` written last naming its parent); the parent stays as it
was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from forecast.base import atomic
from forecast.base.names import safe_name
from forecast.base.values import json_ready, read_json
from forecast.commands.global_run import save_members
from forecast.commands.result import Result
from forecast.commands.update import UpdatePlan, plan_update, updated_config
from forecast.errors import DataError, UserError, named
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.forecasting.global_fit import fit_global
from forecast.store import runs
from forecast.store.lock import RUN_FILES, writing
from forecast.store.runs import PANEL


def update_global(
    folder: str | Path,
    data_path: str | Path | None = None,
    refresh: bool = False,
    epochs: int | None = None,
    out: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> Result:
    """Update a global run with every ticker's newest bars into a new global folder (see
    the module docstring). ``data_path``: a CSV with the newer bars (a long CSV with every
    ticker's rows), else each ticker's own source read again (``refresh``: Yahoo again)."""
    folder = Path(folder)
    with writing(folder, "update (reading its tickers)", only_if=RUN_FILES):
        parent = read_json(folder / PANEL)
        config = state.read_config(folder)
        plans: dict[str, UpdatePlan] = {}
        errors: dict[str, str] = {}
        for ticker in parent["tickers"]:
            try:
                plans[ticker] = plan_update(
                    folder / "runs" / safe_name(ticker),
                    data_path=data_path,
                    refresh=refresh,
                    epochs=epochs,
                    refit=False,
                    newer=None,
                    parent_record=None,
                )
            except UserError as error:  # this ticker is an error row; the others go on
                errors[ticker] = str(error)
    if not plans:
        raise DataError(
            f"{named('run_dir', folder)}: no ticker could be updated: "
            + "; ".join(f"{ticker}: {message}" for ticker, message in errors.items())
        )
    first = next(iter(plans.values()))
    config = updated_config(config, data_path, first.config.train.epochs, refit=False)
    start = first.parent / state.MODEL  # every member holds the one network
    echo(
        f"{len(plans)} of {len(parent['tickers'])} tickers have newer bars; warm start of the "
        f"one network for {config.train.epochs} epoch(s)"
    )
    with runs.new_folder(config.output.runs_dir, "global", "update", out=out) as new:
        forecaster = fit_global(
            Forecaster(config),
            {ticker: plan.market for ticker, plan in plans.items()},
            callbacks=(),
            on_epoch=None,
            echo=None,
            scalers={ticker: plan.scaler for ticker, plan in plans.items()},
            start=start,
            indices=_indices(folder, list(plans)),
        )
        state.write_config(new, forecaster.config)
        save_members(
            new,
            forecaster,
            lambda ticker: {"global_run": str(new), "update": plans[ticker].record},
            carried={ticker: plan.carried for ticker, plan in plans.items()},  # the lineage's
        )
        errors.update(forecaster.panel_.errors)
        return _write(new, folder, forecaster, plans, errors)


def _indices(folder: Path, tickers: list[str]) -> dict[str, int] | None:
    """Each ticker's row of the parent's ticker embedding (None: it has none)."""
    found = {
        ticker: read_json(folder / "runs" / safe_name(ticker) / "run.json").get("ticker_index")
        for ticker in tickers
    }
    return None if None in found.values() else found


def _write(
    new: Path,
    parent: Path,
    forecaster: Forecaster,
    plans: dict[str, UpdatePlan],
    errors: dict[str, str],
) -> Result:
    from forecast.evaluation.metrics import production_text
    from forecast.report.html import write_batch_report

    rows = [
        {
            "ticker": ticker,
            "status": "ok",
            "new_bars": plans[ticker].record["new_bars"],
            "revised_bars": plans[ticker].record["revised_bars"],
            "message": "",
            "run_folder": f"runs/{safe_name(ticker)}",
        }
        for ticker in forecaster.members_
    ]
    rows += [
        {"ticker": ticker, "status": "error", "message": text, "run_folder": None}
        for ticker, text in errors.items()
    ]
    table = pd.DataFrame(rows)
    atomic.write_table(new / "leaderboard.csv", table)
    verdict = (
        f"{len(forecaster.members_)} tickers updated with one network: "
        + production_text().replace("RUN/", f"{new}/runs/TICKER/")
        + "."
    )
    write_batch_report(new, table, verdict, subject="Global model update")
    summary = json_ready(
        {
            "scope": "global",
            "tickers": list(forecaster.members_),
            "test_start": None,
            "validation_start": forecaster.config.train.validation_start,
            "calendar_dates": forecaster.panel_.split.dates,
            "epochs_run": forecaster.epochs_run_,
            "train_seconds": round(forecaster.train_seconds_, 2),
            "errors": errors,
            "cross_section": None,
            "update": {
                "parent": str(parent.resolve()),
                "new_bars": {ticker: plan.record["new_bars"] for ticker, plan in plans.items()},
                "epochs": forecaster.config.train.epochs,
            },
            "verdict": verdict,
        }
    )
    atomic.write_json(new / PANEL, summary)
    return Result(
        folder=new,
        table=table,
        summary=summary,
        verdict=verdict,
        config=forecaster.config,
        forecaster=forecaster,
    )
