"""compare: several model families backtested on the same folds, into a new folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forecast.base import atomic
from forecast.commands.common import load_data
from forecast.commands.result import Result
from forecast.config import Config
from forecast.errors import UserError, named
from forecast.forecasting import state
from forecast.report import interactive
from forecast.report.html import write_report
from forecast.report.plots import plot_compare
from forecast.store import runs, tracking


def compare(
    config: Config,
    families: tuple[str, ...],
    folds: int = 5,
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
) -> Result:
    """Backtest each model family on the same folds; compare.csv/.json/.png, report.html."""
    from forecast.evaluation.compare import FAMILIES, compare_families, compare_verdict

    unknown = [family for family in families if family not in FAMILIES]
    if unknown or not families:
        raise UserError(
            f"{named('families', ','.join(families))}: unknown {unknown or 'empty list'}; "
            f"choose from {','.join(FAMILIES)}"
        )
    if folds < 1:
        raise UserError(f"{named('folds', folds)}: must be >= 1")
    tracking.check_available(config)
    config, market = load_data(config, refresh=refresh)
    name = f"{config.data.ticker}-compare"
    with runs.new_folder(
        config.output.runs_dir, name, "compare", out=out, overwrite=overwrite
    ) as folder:
        state.write_config(folder, config)
        table, summary = compare_families(config, market.bars, families, folds=folds, echo=echo)
        summary["data_warnings"] = list(market.warnings)
        atomic.write_table(folder / "compare.csv", table)
        atomic.write_json(folder / "compare.json", summary)
        atomic.write_figure(folder / "compare.png", plot_compare(table))
        interactive.save(folder / "compare.png", interactive.compare(table))
        write_report(
            folder,
            f"{config.data.ticker} model comparison ({folds} folds)",
            config=config,
            data_warnings=market.warnings,
        )
        outcome = Result(
            folder=folder,
            table=table,
            summary=summary,
            verdict=compare_verdict(summary),
            config=config,
            notes=market.warnings,
        )
    tracking.log_result(config, "compare", outcome)
    return outcome
