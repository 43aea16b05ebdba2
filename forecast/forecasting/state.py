"""The files a fitted forecaster is saved as, and read back from (the core of a run folder):

    config.yaml            the fully resolved config
    prices.csv             the exact bars it was fitted on (data.bars.write_bars)
    scaler.json            the fitted min-max scaler by scikit-learn's attribute names, one
                           entry per feature (feature_names_in_ when there are several)
    model.keras            the trained network in stock Keras layers (model.saving)
    history.json           loss per epoch
    calibration.json/.npz  the conformal bands' calibration: half-widths by name, residuals
    baselines.json         the statistical baselines fitted on the training rows: each one's
                           label, orders and parameters (forecasting/classical.py)

Every file is written to a temporary name and renamed into place. Readers refuse, in one line
naming the file, a state that does not hang together (a scaler for other features, a network
for other windows); nothing is unpickled and YAML is read safely.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from forecast.base import atomic
from forecast.base.values import read_json
from forecast.config import Config, config_from_dict, config_to_dict, migrate_renamed, read_yaml
from forecast.data.scaling import Scaling, scaler_features, scaler_from_dict
from forecast.errors import ConfigError, RunError
from forecast.forecasting.classical import Baselines
from forecast.model.keras_file import DAMAGED

CONFIG = "config.yaml"
PRICES = "prices.csv"
SCALER = "scaler.json"
MODEL = "model.keras"
HISTORY = "history.json"
CALIBRATION = "calibration.json"
CALIBRATION_ARRAYS = "calibration.npz"
BASELINES = "baselines.json"
STATE_FILES = (CONFIG, PRICES, MODEL, SCALER, HISTORY)  # calibration: runs since 2026-12


def write_config(folder: Path, config: Config) -> None:
    atomic.write_text(folder / CONFIG, yaml.safe_dump(config_to_dict(config), sort_keys=False))


def read_config(folder: Path) -> Config:
    """A saved config.yaml (keys renamed since it was written read by their new names)."""
    path = Path(folder) / CONFIG
    try:
        return config_from_dict(migrate_renamed(read_yaml(path)))
    except ConfigError as error:
        message = str(error)
        raise RunError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def write_scaler(folder: Path, scaler: Scaling, features: tuple[str, ...]) -> None:
    atomic.write_json(folder / SCALER, scaler.to_dict(features))


def read_scaler(folder: Path, features: tuple[str, ...]) -> Scaling:
    """scaler.json, refused unless it was fitted on ``features``."""
    path = Path(folder) / SCALER
    state = read_json(path)
    scaler = scaler_from_dict(state, str(path))
    if scaler_features(state) != tuple(features):
        raise RunError(
            f"{path}: scaler has features {', '.join(scaler_features(state))}, config.yaml "
            f"lists {', '.join(features)}; the run is inconsistent, train it again"
        )
    return scaler


def write_calibration(folder: Path, calibration: Any) -> None:
    """calibration.npz (the residuals) first, then calibration.json (which names it)."""
    atomic.write_npz(folder / CALIBRATION_ARRAYS, calibration.arrays())
    atomic.write_json(folder / CALIBRATION, calibration.to_dict())


def read_calibration(folder: Path) -> Any:
    """The stored calibration, or None where there is none in this format (runs made before
    calibration was stored at training, whose forecasts calibrate afresh)."""
    from forecast.forecasting.conformal import Calibration

    record_path, arrays_path = Path(folder) / CALIBRATION, Path(folder) / CALIBRATION_ARRAYS
    if not record_path.is_file() or not arrays_path.is_file():
        return None
    record = read_json(record_path)
    if "training_rows" not in record.get("block", {}):
        return None
    try:
        with np.load(arrays_path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in ("model_scores", "naive_scores")}
        return Calibration.from_parts(record, arrays)
    except (*DAMAGED, ValueError) as error:
        raise RunError(
            f"{arrays_path}: damaged calibration ({type(error).__name__}); train the run again"
        ) from None


def write_baselines(folder: Path, baselines: Baselines) -> None:
    atomic.write_json(Path(folder) / BASELINES, baselines.to_dict())


def read_baselines(folder: Path) -> Baselines | None:
    """The run's fitted statistical baselines; None for runs from before them."""
    path = Path(folder) / BASELINES
    if not path.is_file():
        return None
    try:
        return Baselines.from_dict(read_json(path))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RunError(
            f"{path}: damaged baselines ({type(error).__name__}: {error}); train the run again"
        ) from None


def read_history(folder: Path) -> dict[str, list[float]]:
    path = Path(folder) / HISTORY
    return read_json(path) if path.is_file() else {}


def resolve_older(config: Config, bars: pd.DataFrame, folder: Path) -> Config:
    """Runs from before bar intervals were recorded say ``auto``: resolve it from their data."""
    if config.data.interval != "auto" and config.data.calendar != "auto":
        return config
    from forecast.data.calendar import resolve_calendar
    from forecast.data.interval import check_interval

    index = pd.DatetimeIndex(bars.index)
    interval = check_interval(index, config.data.interval, str(Path(folder) / PRICES))
    data = replace(
        config.data,
        interval=interval,
        calendar=resolve_calendar(config.data.calendar, index, interval),
    )
    return replace(config, data=data)


def check_model_shape(path: Path, config: Config) -> None:
    """Refuse a network that takes other windows than the config's."""
    from forecast.model.keras_file import input_shape

    shape = input_shape(path)
    columns = len(config.data.features) + (config.model.ticker_embedding > 0)  # + the index
    expected = (None, config.data.lookback, columns)
    if shape != expected:
        raise RunError(
            f"{path}: expects windows {shape} but config.yaml says lookback "
            f"{config.data.lookback} with {len(config.data.features)} feature(s); the run is "
            f"inconsistent, train it again"
        )


def read_network(path: Path) -> Any:
    """model.keras as the NumPy network (no TensorFlow), refusing a layer it does not know."""
    from forecast.model.reference import Network

    try:
        return Network.from_file(path)
    except ValueError as error:  # a layer the NumPy network does not know (a Lambda…)
        raise RunError(f"{path}: refused: {error}; only load models trained by forecast") from None
    except DAMAGED as error:
        raise RunError(
            f"{path}: not a readable Keras model ({type(error).__name__}); train the run again"
        ) from None
