"""forecast: the next bars after a run's last one, with calibrated bands beside the random
walk's band, written into the run folder and appended to its journal.

The deterministic path comes from the run's NumPy network and the bands from the calibration
stored when the run was trained, so a conformal forecast imports neither TensorFlow nor
scikit-learn; ``mc_dropout`` samples with Keras.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.base import atomic, background
from forecast.base.values import read_json
from forecast.commands.common import bar_words, members_each, newer_bars
from forecast.commands.result import Result
from forecast.forecasting import state
from forecast.forecasting.forecast import Forecast
from forecast.report import HISTORY_BARS
from forecast.store import journal, runs
from forecast.store.lock import locked

log = logging.getLogger(__name__)


@locked("forecast")
def forecast(
    run_dir: str | Path,
    steps: int = 30,
    samples: int = 100,
    data_path: str | Path | None = None,
    band_method: str | None = None,
    refresh: bool = False,
) -> Result:
    """Forecast the ``steps`` bars after the last one and write forecast.csv, forecast.json,
    forecast.png and report.html into the run folder, and append the forecast to its
    journal.csv.

    Bands as ``band_method`` says (default: the run's ``forecast.band_method``): conformal,
    MC dropout, or none; every band beside the random walk's band from the same calibration
    block and rule. A level the calibration block is too small for is left empty and said
    on stderr; the point forecast is always written. Starts from the run's own bars, from
    newer ones in ``data_path`` (a CSV with the run's date, price and feature columns), or
    (``refresh``) from the run's source read again (Yahoo: downloaded again).
    Timestamps follow the series (its interval and calendar). A global run's folder
    (``train --tickers``): every ticker's run forecast in turn, one table with a ticker
    column.
    """
    if runs.is_global_run(run_dir):
        return members_each(
            run_dir,
            lambda member: forecast(member, steps, samples, data_path, band_method, refresh),
        )
    painter = first_painter()
    try:
        run = runs.load_run(run_dir)
        bars = newer_bars(run, data_path, refresh) if data_path is not None or refresh else None
        forecaster = run.forecaster
        stored = forecaster.calibration_
        result = forecaster.predict(
            steps,
            bars=bars,
            band_method=band_method,
            samples=samples,
            alphas=adaptive_alphas(run, steps),
        )
        if forecaster.calibration_ is not stored:  # calibrated further ahead: kept for next time
            state.write_calibration(run.path, forecaster.calibration_)
        for note in result.notes:
            log.warning("%s", note)
        write_forecast(run, result, painter)
    finally:
        painter.wait()
    return Result(
        folder=run.path,
        table=result.frame,
        summary=result.record,
        verdict=forecast_line(run, result),
        config=run.config,
        forecaster=forecaster,
        notes=result.notes,
        detail=result,
    )


def adaptive_alphas(run: runs.Run, steps: int) -> dict | None:
    """With ``forecast.adaptive``: each level's α per horizon as the lineage's live record
    left them (adaptive.json, written by ``score``; nominal past the horizons it has seen).
    None without adaptive bands or before any forecast resolved."""
    path = run.path / "adaptive.json"
    if not run.config.forecast.adaptive or not path.exists():
        return None
    stored = read_json(path)["alphas"]
    return {
        method: {
            name: np.asarray(values[:steps], dtype="float64") for name, values in levels.items()
        }
        for method, levels in stored.items()
    }


def forecast_line(run: runs.Run, result: Forecast) -> str:
    """One line: where the forecast ends, its 95 % band beside the random walk's."""
    last = result.frame.iloc[-1]
    line = (
        f"{run.config.data.ticker}: {bar_words(run.config, len(result.frame))} from "
        f"{result.record['origin']} (last close {result.record['last_close']:.2f}): "
        f"median {last['median']:.2f} on {last['date']}"
    )
    if np.isfinite(last.get("lo95", np.nan)):
        line += f", 95 % band {last['lo95']:.2f}–{last['hi95']:.2f}"
    if np.isfinite(last.get("rw_lo95", np.nan)):
        line += f" (the random walk's {last['rw_lo95']:.2f}–{last['rw_hi95']:.2f})"
    return line


def write_forecast(
    run: runs.Run,
    result: Forecast,
    painter: background.Worker | None = None,
) -> None:
    """forecast.csv, forecast.json, forecast.png (drawn by ``painter``, a forked process,
    where there is one) and its Plotly chart, a journal entry and the run's report.html."""
    from forecast.report import interactive
    from forecast.report.html import write_report

    config, frame = run.config, result.frame
    atomic.write_json(run.path / "forecast.json", result.record)
    atomic.write_table(run.path / "forecast.csv", frame)
    method = result.record["band_method"]
    how = {
        "conformal": "conformal bands",
        "mc_dropout": f"{result.record.get('samples')} MC-dropout samples",
        "none": "no bands",
    }[method]
    title = f"{config.data.ticker}: next {bar_words(config, len(frame))} ({how})"
    png = run.path / "forecast.png"
    painter = painter or background.Worker(fork=False)
    recent = result.history.iloc[-HISTORY_BARS:]  # what the pictures show: a small message
    atomic.keep(png)  # this command's transaction puts it back if the command fails
    painter.submit(draw_forecast, png, recent, frame, title)
    try:
        interactive.save(png, interactive.forecast(recent, frame, title))
        append_journal(run, result)
    finally:
        painter.wait()  # the page links the picture
    write_report(run.path, f"{config.data.ticker} run", config=config, record=run.record)


_painted: list[bool] = []  # whether this process has drawn a forecast's picture


def first_painter() -> background.Worker:
    """Who draws forecast.png: for a process's first forecast, a forked child that imports
    matplotlib while this process forecasts (where forking is safe); later forecasts in
    the same process (a global run's tickers, a loop over runs) draw inline, matplotlib
    imported once by then."""
    first = not _painted
    _painted[:] = [True]
    return background.Worker(prepare=import_plots, fork=first)


def import_plots() -> None:
    """What drawing forecast.png imports (about 0.3 s), loaded ahead of the picture."""
    import forecast.report.plots  # noqa: F401


def draw_forecast(path: Path, history: pd.Series, frame: pd.DataFrame, title: str) -> None:
    """forecast.png (matplotlib is imported here, where the picture is drawn), outside the
    command's transaction, which kept the previous picture (this may run in a forked
    child: its copy of the transaction would leave the kept file behind)."""
    from forecast.report.plots import plot_forecast

    with atomic.outside_transaction():
        atomic.write_figure(path, plot_forecast(history, frame, title=title))


def append_journal(run: runs.Run, result: Forecast) -> None:
    """The forecast's rows in journal.csv, and the run's baselines' forecasts issued with it
    (scored beside it)."""
    frame = result.frame
    model_sha256 = journal.file_sha256(run.path / state.MODEL)

    def issued_rows(forecast: pd.DataFrame, method: str) -> pd.DataFrame:
        """One method's forecast from this origin as journal rows."""
        return journal.journal_rows(
            forecast,
            run.path.name,
            result.record["origin"],
            method,
            model_sha256,
            result.data_sha256,
            run.config.data.ticker,
        )

    rows = [issued_rows(frame, result.record["band_method"])]
    baselines = run.forecaster.baselines_
    if baselines is not None and baselines.fitted:  # issued with it, scored beside it
        closes = result.history.to_numpy(dtype="float64")  # (N,) up to the origin
        for model in baselines.fitted:
            issued = model.forecast(closes, [len(closes)], len(frame))  # each (1, steps)
            same = frame[["date", "naive"]].assign(
                **{column: values[0] for column, values in issued.items()}
            )
            rows.append(issued_rows(same, model.name))
    journal.append(run.path, pd.concat(rows, ignore_index=True))
