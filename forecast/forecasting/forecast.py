"""One forecast: the next bars after an origin, the point path from a fitted network and the
bands from its calibration beside the random walk's, and what training scored on its test
rows (predictions beside the naive forecast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.bands import BAND_COLUMNS, LEVELS
from forecast.config import Config
from forecast.data.interval import count_words, format_timestamps
from forecast.data.sources import data_fingerprint
from forecast.data.windows import Dataset, WindowSpec
from forecast.errors import UserError, named
from forecast.forecasting.conformal import Calibration, bands, minimum_residuals
from forecast.forecasting.predictor import Predictor
from forecast.forecasting.state import CALIBRATION

# Horizons calibrated when a forecaster is fitted: forecasts up to this far need no more.
CALIBRATED_HORIZONS = 30
PREDICT_BATCH = 1024


@dataclass(frozen=True)
class Forecast:
    """The next bars after an origin, with bands beside the random walk's."""

    frame: pd.DataFrame  # date, median, lo80 … hi95, naive, rw_lo80 … rw_hi95
    record: dict[str, Any]  # forecast.json: band method, steps, origin, calibration …
    notes: tuple[str, ...]  # what the bands could not cover, in words
    history: pd.Series  # the closes the forecast starts from
    data_sha256: str  # of those bars


def forecast_bars(
    forecaster: Any,
    predictor: Predictor,
    bars: pd.DataFrame,
    label: str,
    steps: int,
    method: str,
    samples: int,
    alphas: dict | None,
) -> Forecast:
    """The ``steps`` bars after the newest of ``bars``: the point forecast of ``predictor``
    (or MC-dropout quantiles), the bands of ``method`` from the forecaster's calibration
    beside the random walk's, and a note for each band the calibration cannot give."""
    from forecast.data.calendar import next_timestamps

    data = forecaster.config.data
    check_enough_rows(bars, forecaster.spec, label)
    dates = next_timestamps(pd.DatetimeIndex(bars.index), steps, data.interval, data.calendar)
    last_close = float(bars["price"].iloc[-1])
    frame = pd.DataFrame({"date": format_timestamps(dates)})
    if method == "mc_dropout":
        quantiles = forecaster.predictor(dropout=True).sample_quantiles(
            bars, [len(bars)], steps, samples, forecaster.config.train.seed, future_index=dates
        )
        for name, values in quantiles.items():
            frame[name] = values[0]
    else:
        paths = predictor.paths(bars, [len(bars)], steps, future_index=dates)  # (1, 1, steps)
        frame["median"] = paths[0, 0]
        for name in BAND_COLUMNS:
            frame[name] = np.nan
    record: dict[str, Any] = {
        "band_method": method,
        "steps": steps,
        "origin": format_timestamps(pd.DatetimeIndex(bars.index[-1:]))[0],
        "last_close": last_close,
    }
    notes: list[str] = []
    if method != "none":
        calibration = forecaster.calibration_for(steps)
        used = alphas if method == "conformal" else None
        widened = bands(frame["median"].to_numpy(), last_close, calibration, used)
        record["adaptive"] = used is not None
        if method == "conformal":
            for name in BAND_COLUMNS:
                frame[name] = widened[name]
        frame["naive"] = last_close
        for name in BAND_COLUMNS:
            frame[f"rw_{name}"] = widened[f"rw_{name}"]
        missing = calibration.missing(steps)
        record.update(
            calibration=CALIBRATION,
            calibration_rows=calibration.residuals,
            calibration_block=[calibration.first, calibration.last],
            missing_levels={
                name: f"no band from {count_words(horizon, 'bar')} ahead"
                for name, horizon in missing.items()
            },
        )
        notes = [
            missing_note(calibration, name, horizon, forecaster.config)
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


def calibration_steps(predictor: Predictor, steps: int = CALIBRATED_HORIZONS) -> int:
    """Horizons to calibrate: ``steps``, at least the model's own H, at most what it can
    forecast."""
    wanted = max(steps, predictor.horizon)
    limit = predictor.max_steps
    return wanted if limit is None else min(wanted, limit)


def predict_test_prices(
    model: Any, dataset: Dataset, ticker_index: int | None = None
) -> np.ndarray:
    """The Keras model's one-step predictions of every test bar, in prices; ``ticker_index``:
    a global member's row of its ticker embedding, as the windows' last column.  (n_test,)"""
    windows = dataset.x_test
    if ticker_index is not None:
        from forecast.model.embedding import with_ticker

        windows = with_ticker(windows, ticker_index)  # (n, L, F+1)
    scaled = model.predict(windows, batch_size=PREDICT_BATCH, verbose=0)[:, 0]  # (n,)
    return dataset.to_prices(scaled)


def predictions_frame(
    dates: pd.DatetimeIndex, actual: Any, predicted: Any, naive: Any
) -> pd.DataFrame:
    """One row per test bar: date (with time and zone when the bars have them), actual,
    predicted, naive."""
    return pd.DataFrame(
        {
            "date": format_timestamps(pd.DatetimeIndex(dates)),
            "actual": np.asarray(actual, dtype="float64"),
            "predicted": np.asarray(predicted, dtype="float64"),
            "naive": np.asarray(naive, dtype="float64"),
        }
    )


def missing_note(calibration: Calibration, name: str, horizon: int, config: Config) -> str:
    """One line: which band is empty from where, with n, what it needs and what would help."""
    have = calibration.counts[horizon - 1] if horizon <= calibration.horizons else 0
    return (
        f"the {name} % band is empty from {count_words(horizon, 'bar')} ahead: the "
        f"validation block gives {count_words(have, 'forecast')} that far ahead and a "
        f"conformal {name} % band needs {minimum_residuals(LEVELS[name])}; the point "
        f"forecast and the other bands are written. For this band: a longer series, a larger "
        f"train.validation_fraction (now {config.train.validation_fraction}), fewer "
        f"{named('steps')}, or {named('band_method', 'mc_dropout')} (uncalibrated)"
    )


def check_enough_rows(bars: pd.DataFrame, spec: WindowSpec, label: str) -> None:
    """A forecast needs one full window after the features' warm-up."""
    from forecast.data.features import feature_matrix, first_complete_row

    values = feature_matrix(spec.features, bars, spec.target)
    first = first_complete_row(values, spec.features, pd.DatetimeIndex(bars.index), label)
    if len(bars) < first + spec.lookback:
        raise UserError(
            f"{label}: {len(bars)} rows of prices, the run needs at least "
            f"{first + spec.lookback} (lookback {spec.lookback} after the features' warm-up)"
        )
