"""forecast: the next bars after a run's last one, with calibrated bands beside the random
walk's band."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.commands.common import bar_words, dataset_for
from forecast.data.interval import format_timestamps
from forecast.data.sources import load_market
from forecast.errors import UserError
from forecast.report.html import write_report
from forecast.report.plots import plot_forecast
from forecast.store import atomic, runs

def forecast(run_dir: str | Path, steps: int = 30, samples: int = 100,
             data_path: str | Path | None = None, days: int | None = None) -> pd.DataFrame:
    """Forecast the ``steps`` bars after the last one, with bands as the run's
    ``forecast.intervals`` says: conformal (the default), MC dropout, or none.

    The conformal point forecast is the model's deterministic path (dropout off), its bands
    calibrated on the run's validation block (forecast/forecasting/conformal.py); every band comes
    beside the random walk's band from the same block and rule. Starts from the run's own
    bars, or from newer ones in ``data_path`` (a CSV with the run's date, price and feature
    columns). Timestamps follow the series (its interval and calendar). Writes
    forecast.csv (date, median, lo80, hi80, lo95, hi95, then naive and the random walk's
    band), forecast.json, calibration.json, forecast.png and report.html. ``days``: the old
    name of ``steps``.
    """
    from forecast.data.calendar import next_timestamps
    from forecast.data.features import feature_matrix, first_complete_row, recursable
    from forecast.forecasting.paths import forecast_future
    from forecast.forecasting.conformal import bands, fit_calibration
    from forecast.forecasting.paths import recursive_forecasts

    steps = days if days is not None else steps
    if steps < 1 or samples < 1:
        raise UserError(f"--steps {steps} --samples {samples}: both must be at least 1")
    run = runs.load_run(run_dir)
    config, data = run.config, run.config.data
    method = config.forecast.intervals
    bars = run.bars
    label = str(run.path / "prices.csv")
    if data_path is not None:
        newer = replace(data, source="csv", path=str(data_path), start=None, end=None)
        bars, label = load_market(newer).bars, str(data_path)
    fixed = [name for name in data.features if not recursable(name)]
    horizon = config.model.horizon
    if steps > horizon and fixed:
        raise UserError(f"--steps {steps}: the model reads {', '.join(fixed)}, which it does "
                        f"not predict, so it cannot forecast past {horizon} bar(s) (each "
                        f"later step would need their future values); use --steps {horizon}, "
                        f"train with model.horizon {steps} (direct multi-step), or with "
                        f"features it can recompute (close, log_return, volatility_N, rsi_N, "
                        f"macd, day_of_week, hour, month)")
    if steps > horizon > 1 and data.features != ("close",):
        raise UserError(f"--steps {steps}: a model.horizon {horizon} model with inputs beside "
                        f"the close forecasts at most {horizon} bars; use --steps {horizon} "
                        f"or train with a larger model.horizon")
    values = feature_matrix(data.features, bars, data.target)
    needed = first_complete_row(values, data.features, pd.DatetimeIndex(bars.index), label) + (
        data.lookback)
    if len(bars) < needed:
        raise UserError(f"{label}: {len(bars)} rows of prices, the run needs at least "
                        f"{needed} (lookback {data.lookback} after the features' warm-up)")
    dates = next_timestamps(pd.DatetimeIndex(bars.index), steps, data.interval, data.calendar)
    last_close = float(bars["price"].iloc[-1])
    if method == "mc_dropout":
        frame = forecast_future(run.model, run.scaler, bars, data.lookback, data.target, dates,
                                samples=samples, seed=config.train.seed,
                                features=data.features).frame
        points = frame["median"].to_numpy()
    else:
        points = recursive_forecasts(run.model, run.scaler, bars, np.array([len(bars)]), steps,
                                     data.lookback, data.target, data.features,
                                     future_index=dates)[0]  # (steps,)
        frame = pd.DataFrame({"date": format_timestamps(dates), "median": points,
                              **{name: np.nan for name in ("lo80", "hi80", "lo95", "hi95")}})
    record: dict[str, Any] = {"intervals": method, "steps": steps,
                              "origin": format_timestamps(pd.DatetimeIndex(bars.index[-1:]))[0],
                              "last_close": last_close}
    calibration = None
    if method != "none":
        training = dataset_for(config, run.bars, scaler=run.scaler)
        try:
            calibration = fit_calibration(
                run.model, run.scaler, run.bars.iloc[:training.n_train], len(training.y_val),
                steps, data.lookback, data.target, data.features,
                label=f"forecast --steps {steps}")
        except UserError as error:
            if method == "conformal":
                raise
            record["random_walk"] = f"no random-walk band: {error}"  # MC bands need none
    if calibration is None:
        (run.path / "calibration.json").unlink(missing_ok=True)  # a previous forecast's
    else:
        atomic.write_json(run.path / "calibration.json", calibration.to_dict())
        widened = bands(points, last_close, calibration)
        if method == "conformal":
            for name in ("lo80", "hi80", "lo95", "hi95"):
                frame[name] = widened[name]
        frame["naive"] = last_close
        for name in ("rw_lo80", "rw_hi80", "rw_lo95", "rw_hi95"):
            frame[name] = widened[name]
        record.update(calibration="calibration.json", calibration_rows=calibration.residuals,
                      calibration_block=[calibration.first, calibration.last])
    if method == "mc_dropout":
        record["samples"] = samples
    atomic.write_json(run.path / "forecast.json", record)
    runs.write_frame(run.path / "forecast.csv", frame)
    how = {"conformal": "conformal bands", "mc_dropout": f"{samples} MC-dropout samples",
           "none": "no bands"}[method]
    runs.save_figure(run.path / "forecast.png", plot_forecast(
        bars["price"], frame, title=f"{data.ticker}: next {bar_words(config, steps)} ({how})"))
    write_report(run.path, f"{data.ticker} run {run.path.name}")
    return frame
