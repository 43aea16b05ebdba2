"""forecast: the next bars after a run's last one, with calibrated bands beside the random
walk's band.

The deterministic path comes from the run's NumPy network and the bands from the calibration
stored when the run was trained, so a conformal forecast imports neither TensorFlow nor
scikit-learn; ``mc_dropout`` samples with Keras.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.commands.common import bar_words, calibrate_run, newer_bars
from forecast.data.interval import count_words, format_timestamps
from forecast.data.sources import data_fingerprint
from forecast.errors import UserError
from forecast.forecasting.conformal import LEVELS, bands, minimum_residuals
from forecast.store import journal, runs

log = logging.getLogger(__name__)
INTERVALS = ("conformal", "mc_dropout", "none")
BAND_COLUMNS = ("lo80", "hi80", "lo95", "hi95")


@dataclass(frozen=True)
class Forecast:
    frame: pd.DataFrame  # date, median, lo80 … hi95, naive, rw_lo80 … rw_hi95
    record: dict[str, Any]  # forecast.json
    notes: tuple[str, ...]  # what the bands could not cover, in words
    history: pd.Series  # the closes the forecast starts from
    data_sha256: str  # of those bars


def forecast(
    run_dir: str | Path,
    steps: int = 30,
    samples: int = 100,
    data_path: str | Path | None = None,
    intervals: str | None = None,
    refresh: bool = False,
) -> pd.DataFrame:
    """Forecast the ``steps`` bars after the last one and write forecast.csv, forecast.json,
    forecast.png and report.html into the run folder, and append the forecast to its
    journal.csv; returns the frame.

    Bands as ``intervals`` says (default: the run's ``forecast.intervals``): conformal, MC
    dropout, or none; every band beside the random walk's band from the same calibration
    block and rule. A level the calibration block is too small for is left empty and said
    on stderr; the point forecast is always written. Starts from the run's own bars, from
    newer ones in ``data_path`` (a CSV with the run's date, price and feature columns), or
    (``refresh``) from the run's source read again (Yahoo: downloaded again).
    Timestamps follow the series (its interval and calendar).
    """
    if steps < 1 or samples < 1:
        raise UserError(f"--steps {steps} --samples {samples}: both must be at least 1")
    run = runs.load_run(run_dir)
    result = make_forecast(run, steps, samples, data_path, intervals, refresh)
    for note in result.notes:
        log.warning("%s", note)
    write_forecast(run, result)
    return result.frame


def make_forecast(
    run: runs.Run,
    steps: int,
    samples: int = 100,
    data_path: str | Path | None = None,
    intervals: str | None = None,
    refresh: bool = False,
) -> Forecast:
    """The forecast itself (nothing written but an extended calibration)."""
    from forecast.data.calendar import next_timestamps
    from forecast.data.features import feature_matrix, first_complete_row

    config, data = run.config, run.config.data
    method = intervals or config.forecast.intervals
    if method not in INTERVALS:
        raise UserError(f"--intervals {method}: choose one of {', '.join(INTERVALS)}")
    forecaster = run.forecaster()
    forecaster.check_steps(steps)
    bars, label = run.bars, str(run.path / "prices.csv")
    if data_path is not None or refresh:
        bars, label = newer_bars(run, data_path, refresh)
    values = feature_matrix(data.features, bars, data.target)
    needed = first_complete_row(values, data.features, pd.DatetimeIndex(bars.index), label) + (
        data.lookback
    )
    if len(bars) < needed:
        raise UserError(
            f"{label}: {len(bars)} rows of prices, the run needs at least "
            f"{needed} (lookback {data.lookback} after the features' warm-up)"
        )
    dates = next_timestamps(pd.DatetimeIndex(bars.index), steps, data.interval, data.calendar)
    last_close = float(bars["price"].iloc[-1])
    frame = pd.DataFrame({"date": format_timestamps(dates)})
    if method == "mc_dropout":
        quantiles = run.forecaster(dropout=True).sample_quantiles(
            bars, [len(bars)], steps, samples, config.train.seed, future_index=dates
        )
        for name, values_ in quantiles.items():
            frame[name] = values_[0]
    else:
        frame["median"] = forecaster.paths(bars, [len(bars)], steps, future_index=dates)[
            0, 0
        ]  # (steps,)
        for name in BAND_COLUMNS:
            frame[name] = np.nan
    record: dict[str, Any] = {
        "intervals": method,
        "steps": steps,
        "origin": format_timestamps(pd.DatetimeIndex(bars.index[-1:]))[0],
        "last_close": last_close,
    }
    notes: list[str] = []
    if method != "none":
        calibration = calibrate_run(run, forecaster, steps)
        alphas = adaptive_alphas(run, steps) if method == "conformal" else None
        widened = bands(frame["median"].to_numpy(), last_close, calibration, alphas)
        record["adaptive"] = alphas is not None
        if method == "conformal":
            for name in BAND_COLUMNS:
                frame[name] = widened[name]
        frame["naive"] = last_close
        for name in BAND_COLUMNS:
            frame[f"rw_{name}"] = widened[f"rw_{name}"]
        missing = calibration.missing(steps)
        record.update(
            calibration="calibration.json",
            calibration_rows=calibration.residuals,
            calibration_block=[calibration.first, calibration.last],
            missing_levels={
                name: f"no band from {count_words(horizon, 'bar')} ahead"
                for name, horizon in missing.items()
            },
        )
        notes = [
            missing_note(calibration, name, horizon, run.config)
            for name, horizon in missing.items()
        ]
    if method == "mc_dropout":
        record["samples"] = samples
    return Forecast(
        frame=frame,
        record=record,
        notes=tuple(notes),
        history=bars["price"],
        data_sha256=data_fingerprint(bars),
    )


def adaptive_alphas(run: runs.Run, steps: int) -> dict | None:
    """With ``forecast.adaptive``: each level's α per horizon as the lineage's live record
    left them (adaptive.json, written by ``score``; nominal past the horizons it has seen).
    None without adaptive bands or before any forecast resolved."""
    path = run.path / "adaptive.json"
    if not run.config.forecast.adaptive or not path.exists():
        return None
    stored = runs.read_json(path)["alphas"]
    return {
        method: {
            name: np.asarray(values[:steps], dtype="float64") for name, values in levels.items()
        }
        for method, levels in stored.items()
    }


def missing_note(calibration: Any, name: str, horizon: int, config: Any) -> str:
    """One line: which band is empty from where, with n, what it needs and what would help."""
    level = LEVELS[name]
    have = calibration.counts[horizon - 1] if horizon <= calibration.horizons else 0
    return (
        f"the {name} % band is empty from {count_words(horizon, 'bar')} ahead: the "
        f"validation block gives {count_words(have, 'forecast')} that far ahead and a "
        f"conformal {name} % band needs {minimum_residuals(level)}; the point forecast "
        f"and the other bands are written. For this band: a longer series, a larger "
        f"train.validation_fraction (now {config.train.validation_fraction}), fewer "
        f"--steps, or --intervals mc_dropout (uncalibrated)"
    )


def write_forecast(run: runs.Run, result: Forecast) -> None:
    """forecast.csv, forecast.json, forecast.png, a journal entry and the run's report.html."""
    from forecast.report.html import write_report
    from forecast.report.plots import plot_forecast

    config, frame = run.config, result.frame
    atomic.write_json(run.path / "forecast.json", result.record)
    runs.write_frame(run.path / "forecast.csv", frame)
    method = result.record["intervals"]
    how = {
        "conformal": "conformal bands",
        "mc_dropout": f"{result.record.get('samples')} MC-dropout samples",
        "none": "no bands",
    }[method]
    runs.save_figure(
        run.path / "forecast.png",
        plot_forecast(
            result.history,
            frame,
            title=f"{config.data.ticker}: next {bar_words(config, len(frame))} ({how})",
        ),
    )
    journal.append(
        run.path,
        journal.journal_rows(
            frame,
            run.path.name,
            result.record["origin"],
            method,
            journal.file_sha256(run.path / "model.keras"),
            result.data_sha256,
        ),
    )
    write_report(run.path, f"{config.data.ticker} run")
