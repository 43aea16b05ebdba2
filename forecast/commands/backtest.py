"""backtest: a walk-forward backtest of the configured model beside the baselines, into a
new folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forecast.base import atomic
from forecast.commands.common import load_data
from forecast.commands.result import Result
from forecast.config import Config
from forecast.data.sources import MarketData
from forecast.errors import UserError, named
from forecast.forecasting import state
from forecast.report import interactive
from forecast.report.html import write_report
from forecast.report.plots import plot_backtest
from forecast.store import runs, tracking


def backtest(
    config: Config,
    folds: int = 5,
    samples: int = 0,
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    market: MarketData | None = None,
) -> Result:
    """Walk-forward backtest into a new folder: backtest.csv/.json/.png and report.html.

    ``market``: data already loaded (with ``load_data``) instead of the configured source.
    """
    from forecast.evaluation.backtest import walk_forward
    from forecast.evaluation.scoring import backtest_verdict

    if folds < 1 or samples < 0:
        raise UserError(
            f"{named('folds', folds)} {named('samples', samples)}: folds must be >= 1, samples >= 0"
        )
    tracking.check_available(config)
    if market is None:
        config, market = load_data(config, refresh=refresh)
    name = f"{config.data.ticker}-backtest"
    with runs.new_folder(
        config.output.runs_dir, name, "backtest", out=out, overwrite=overwrite
    ) as folder:
        state.write_config(folder, config)
        result = walk_forward(config, market.bars, folds=folds, samples=samples, echo=echo)
        result.summary["data_warnings"] = list(market.warnings)
        atomic.write_table(folder / "backtest.csv", result.table)
        if result.bands is not None:
            atomic.write_table(folder / "bands.csv", result.bands)
        if result.horizons is not None:
            atomic.write_table(folder / "horizons.csv", result.horizons)
        atomic.write_json(folder / "backtest.json", result.summary)
        atomic.write_figure(folder / "backtest.png", plot_backtest(result.table))
        interactive.save(folder / "backtest.png", interactive.backtest(result.table))
        write_report(
            folder,
            f"{config.data.ticker} backtest ({folds} folds)",
            config=config,
            data_warnings=market.warnings,
        )
        outcome = Result(
            folder=folder,
            table=result.table,
            summary=result.summary,
            verdict=backtest_verdict(result.summary),
            config=config,
            notes=market.warnings,
            detail=result,
        )
    tracking.log_result(config, "backtest", outcome)
    return outcome
