"""score: the run's journalled forecasts against the bars that came (live.csv, live.json,
live.png, the "Live record" section of report.html)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.base.names import program_name
from forecast.commands.common import members_each, newer_bars
from forecast.commands.result import Result
from forecast.errors import UserError, named
from forecast.evaluation.live import live_record
from forecast.store import journal, runs
from forecast.store.lock import locked


@locked("score")
def score(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    refresh: bool = False,
    bars: pd.DataFrame | None = None,
) -> Result:
    """Match every forecast in the run's journal.csv with the realized bar at its target and
    score them per horizon; the bars come from ``data_path``, or the run's source read again
    (``refresh``: download again), or ``bars`` already loaded. With ``forecast.adaptive``
    the resolved record also updates each level's α per horizon (adaptive.json), which the
    next forecast uses. A global run's folder (``train --tickers``): every ticker's run
    scored in turn (``bars`` is one ticker's, so it is not taken there)."""
    from forecast.forecasting.conformal import journal_alphas
    from forecast.report import interactive
    from forecast.report.html import write_report
    from forecast.report.plots import plot_live

    if runs.is_global_run(run_dir):
        if bars is not None:
            raise UserError(
                f"{named('bars')}: a global run scores each ticker from its own source; drop "
                f"bars, or score one ticker's run folder (runs/TICKER)"
            )
        each = members_each(run_dir, lambda member: score(member, data_path, refresh))
        return _pooled(Path(run_dir), each)
    run = runs.load_run(run_dir)
    record = journal.read_journal(run.path, run.config.data.ticker)
    if record.empty:
        raise UserError(
            f"{named('run_dir', run.path)}: journal.csv holds no forecast yet; issue one with "
            f"{program_name()} forecast --run {run.path}"
        )
    if bars is None:
        bars = newer_bars(run, data_path, refresh).bars
    result = live_record(record, bars, run.config.data.timezone)
    atomic.write_table(run.path / "live.csv", result.rows)
    atomic.write_json(run.path / "live.json", result.summary)
    title = (
        f"{run.config.data.ticker}: forecasts issued and what came "
        f"({result.summary['resolved']} resolved)"
    )
    atomic.write_figure(run.path / "live.png", plot_live(bars["price"], record, title=title))
    interactive.save(run.path / "live.png", interactive.live(bars["price"], record, title))
    forecast_config = run.config.forecast
    if forecast_config.adaptive and len(result.rows):
        horizons = int(result.rows["step"].max())
        alphas = journal_alphas(result.rows, horizons, forecast_config.adaptive_step)
        atomic.write_json(
            run.path / "adaptive.json",
            {
                "rule": "alpha = nominal + step * sum(nominal - miss) over resolved forecasts",
                "step": forecast_config.adaptive_step,
                "resolved": len(result.rows),
                "alphas": {
                    method: {
                        name: [float(value) for value in np.asarray(values)]
                        for name, values in levels.items()
                    }
                    for method, levels in alphas.items()
                },
            },
        )
    write_report(run.path, f"{run.config.data.ticker} run", config=run.config, record=run.record)
    return Result(
        folder=run.path,
        table=result.rows,
        summary=result.summary,
        verdict=result.verdict,
        config=run.config,
        detail=result,
    )


def _pooled(folder: Path, each: Result) -> Result:
    """A global run's tickers scored together: their live records pooled per horizon
    (``cross_section.pooled_live``), written as live_pooled.json beside panel.json."""
    from dataclasses import replace

    from forecast.evaluation.cross_section import pooled_live, pooled_live_verdict
    from forecast.evaluation.live import MIN_TO_JUDGE

    horizons = pooled_live({ticker: result.table for ticker, result in each.detail.items()})
    verdict = pooled_live_verdict(horizons, MIN_TO_JUDGE)
    atomic.write_json(folder / "live_pooled.json", {"horizons": horizons, "verdict": verdict})
    summary = {**each.summary, "pooled": {"horizons": horizons, "verdict": verdict}}
    return replace(each, summary=summary, verdict=f"{each.verdict} {verdict}")
