"""The run folder: everything needed to reuse a trained forecaster, written atomically.

    config.yaml            the fully resolved config
    prices.csv             the exact bars the run used: timestamp, price and the source
                           columns its features read (so evaluate needs no network)
    model.keras            the trained network (Keras 3 format, stock layers; loaded with
                           safe_mode, or read by the NumPy network without TensorFlow)
    scaler.json            the fitted MinMaxScaler's attributes by scikit-learn name, one
                           entry per feature (feature_names_in_ when there are several)
    history.json           loss per epoch
    metrics.json           model vs naive metrics on the test days
    predictions.csv        date, actual, predicted, naive — one row per test day
    calibration.json/.npz  the conformal bands' calibration: half-widths by name, residuals
    true_vs_predicted.png, loss.png
    run.json               written last: versions, fingerprints, status "complete"

A folder without a complete ``run.json`` is an interrupted run and is refused by readers.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import shutil
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from forecast.base import atomic
from forecast.config import Config, config_from_dict, config_to_dict, read_yaml
from forecast.data.scaling import MinMaxScaling, scaler_features
from forecast.errors import ConfigError, RunError, UserError

RUN_FILES = (
    "config.yaml",
    "prices.csv",
    "model.keras",
    "scaler.json",
    "history.json",
    "metrics.json",
    "predictions.csv",
    "true_vs_predicted.png",
    "loss.png",
)
TEST_FILES = ("predictions.csv", "true_vs_predicted.png")  # a production fit has no test rows
MARKER = "run.json"
UPDATE = "update.json"  # an update's folder: its parent and how it trained (written first)
CHECKPOINT = "training_state.json"
_PACKAGES = (
    "forecast",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "numpy",
    "pandas",
    "h5py",
    "scipy",
    "matplotlib",
    "yfinance",
    "PyYAML",
)


def safe_name(text: str) -> str:
    """A file-name-safe fragment: no separators, no '..', nothing outside [A-Za-z0-9._-]."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-.")
    return cleaned[:40] or "run"


def create_run_dir(
    runs_dir: str | Path,
    ticker: str,
    out: str | Path | None = None,
    overwrite: bool = False,
    now: dt.datetime | None = None,
) -> Path:
    """Make a new, empty run folder and return it.

    Default: ``runs_dir/YYYYMMDD-HHMMSS-TICKER`` (a suffix -2, -3, … when that exists, so
    two runs started together never share a folder). ``out`` names the folder; it may exist
    only while empty, unless ``overwrite`` allows replacing a previous run's files.
    """
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise UserError(f"--out {path}: exists and is not a folder; choose another path")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise UserError(
                f"--out {path}: folder is not empty (holds a previous run?); "
                f"choose a new folder or pass --overwrite"
            )
        if (path / "journal.csv").exists():  # a record of issued forecasts is never deleted
            raise UserError(
                f"--out {path}: holds journal.csv, the record of the forecasts its "
                f"run issued, which --overwrite does not delete; choose a new "
                f"folder (update a run with: python main.py update --run {path})"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"--out {path}: cannot create folder ({error.strerror}); choose a writable location"
            ) from None
        if overwrite:  # remove the previous run's artifacts (only ours), marker first
            (path / MARKER).unlink(missing_ok=True)
            for pattern in (
                *RUN_FILES,
                "report.html",
                "evaluation.json",
                "forecast.*",
                "explain_*",
                "backtest.*",
                "bands.*",
                "horizons.*",
                "calibration.*",
                "compare.*",
                "training_*",
                "live.*",
                "adaptive.json",
                UPDATE,
            ):
                for old in path.glob(pattern):
                    if old.is_file():
                        old.unlink()
            shutil.rmtree(path / "tensorboard", ignore_errors=True)
        return path
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{safe_name(ticker)}"
    try:
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"output.runs_dir {runs_dir}: cannot create folder ({error.strerror}); "
            f"set output.runs_dir or --out to a writable folder"
        ) from None
    for attempt in range(1, 1000):
        path = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.mkdir()  # atomic: fails if another run took the name first
            return path
        except FileExistsError:
            continue
    raise UserError(f"output.runs_dir {runs_dir}: too many runs named {base.name}")


def write_config(run_dir: Path, config: Config) -> None:
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    atomic.write_text(run_dir / "config.yaml", text)


def write_prices(run_dir: Path, bars: pd.Series | pd.DataFrame) -> None:
    """The bars as text that reads back exactly: timestamps with their time of day and UTC
    offset where they have them, floats with 17 significant digits."""
    from forecast.data.interval import format_timestamps

    bars = bars.to_frame("price") if isinstance(bars, pd.Series) else bars
    frame = pd.DataFrame(
        {
            "date": format_timestamps(pd.DatetimeIndex(bars.index)),
            **{column: bars[column].to_numpy() for column in bars.columns},
        }
    )
    atomic.write_csv(run_dir / "prices.csv", frame, float_format="%.17g")


def read_prices(run_dir: Path, timezone: str | None = None) -> pd.DataFrame:
    """The run's bars (``price`` and any source columns), timestamps in ``timezone``."""
    from forecast.config import SOURCE_FEATURES
    from forecast.data.sources import clean_bars  # pandas-heavy, only when reading

    path = run_dir / "prices.csv"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise RunError(f"{path}: missing; this run folder is incomplete, retrain it") from None
    columns = [column for column in frame.columns if column in SOURCE_FEATURES]
    bars = clean_bars(frame, "date", "price", str(path), columns, timezone=timezone)
    return bars[["price", *columns]]


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """A result table: floats with 10 significant digits."""
    atomic.write_csv(path, frame, float_format="%.10g")


def save_figure(path: Path, figure: Any) -> None:
    with atomic.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def mark_complete(run_dir: Path, details: dict[str, Any]) -> None:
    """Write run.json last: its presence says every other artifact is in place."""
    record = {
        "status": "complete",
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "versions": versions(),
        "files": list(RUN_FILES),
        **details,
    }
    atomic.write_json(run_dir / MARKER, record)


def check_run_dir(run_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """Refuse a missing, foreign or incomplete run folder with a clear message."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(
            f"--run {path}: no such folder; pass a folder written by 'python main.py train'"
        )
    marker = path / MARKER
    if not marker.exists():
        raise RunError(
            f"--run {path}: no {MARKER}, so the run is incomplete (interrupted "
            f"or not a run folder); train again"
        )
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunError(f"{marker}: unreadable ({error}); train again") from None
    if record.get("status") != "complete":
        raise RunError(f"{marker}: status is {record.get('status')!r}, not 'complete'; train again")
    production = record.get("test_rows", 1) == 0
    for name in RUN_FILES:
        if production and name in TEST_FILES:
            continue
        if not (path / name).is_file():
            raise RunError(f"--run {path}: {name} is missing; the folder is damaged, train again")
    return path, record


def read_config(run_dir: Path) -> Config:
    try:
        return config_from_dict(read_yaml(run_dir / "config.yaml"))
    except ConfigError as error:
        raise RunError(f"{run_dir / 'config.yaml'}: {error}") from None


def check_same_config(folder: Path, config: Config, what: str) -> None:
    """--resume of a batch or sweep: refuse a config other than the one ``folder`` started
    with (its output section aside: a resumed folder is where it is)."""
    started = config_to_dict(read_config(folder))
    if {**started, "output": None} != {**config_to_dict(config), "output": None}:
        raise UserError(
            f"--resume {folder}: the config differs from the one the {what} "
            f"started with ({folder / 'config.yaml'}); resume with that config "
            f"or start a new {what}"
        )


def read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable JSON ({error}); train the run again") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object; train the run again")
    return value


@dataclass(frozen=True)
class Run:
    """A loaded run folder: config, data and fitted scaler; its network on demand, as the
    NumPy forward pass (no TensorFlow) or as a Keras model."""

    path: Path
    config: Config
    bars: pd.DataFrame  # price and the source columns the features read
    scaler: MinMaxScaling  # fitted on the training rows
    record: dict[str, Any]

    @property
    def prices(self) -> pd.Series:
        return self.bars["price"]

    def network(self) -> Any:
        """model.keras as a NumPy network (``forecast.model.reference.Network``)."""
        from forecast.model.reference import Network

        path = self.path / "model.keras"
        try:
            return Network.from_file(path)
        except ValueError as error:  # a layer the NumPy network does not know (a Lambda…)
            raise RunError(
                f"{path}: refused: {error}; only load models trained by forecast"
            ) from None
        except (OSError, KeyError, TypeError, IndexError, zipfile.BadZipFile) as error:
            raise RunError(
                f"{path}: not a readable Keras model file ({type(error).__name__}); "
                f"train the run again"
            ) from None

    def keras_model(self) -> Any:
        """model.keras loaded by Keras (TensorFlow), with the layers it was trained with."""
        return load_model(self.path / "model.keras", self.config)

    def forecaster(self, dropout: bool = False) -> Any:
        """The run's fitted forecaster: the NumPy network, or with ``dropout`` the Keras model
        (Monte-Carlo dropout needs TensorFlow)."""
        from forecast.forecasting.forecaster import Forecaster, KerasNetwork

        network = KerasNetwork(self.keras_model()) if dropout else self.network()
        return Forecaster.from_config(self.config, network, self.scaler)

    def calibration(self) -> Any:
        """The calibration computed when the run was trained (or last extended), or None
        (runs from before calibration.npz)."""
        return read_calibration(self.path)


def load_run(run_dir: str | Path) -> Run:
    """Load a complete run folder, checking that its files agree (no pickles, no user YAML;
    the network is read only when asked for)."""
    path, record = check_run_dir(run_dir)
    config = read_config(path)
    state = read_json(path / "scaler.json")
    scaler = MinMaxScaling.from_dict(state, str(path / "scaler.json"))
    features = config.data.features
    if scaler_features(state) != features:
        raise RunError(
            f"{path / 'scaler.json'}: scaler has features "
            f"{', '.join(scaler_features(state))}, config.yaml lists "
            f"{', '.join(features)}; the run is inconsistent, train it again"
        )
    shape = model_input_shape(path / "model.keras")
    expected = (None, config.data.lookback, len(features))
    if shape != expected:
        raise RunError(
            f"{path / 'model.keras'}: expects windows {shape} "
            f"but config.yaml says lookback {config.data.lookback} with "
            f"{len(features)} feature(s); the run is inconsistent, train it again"
        )
    bars = read_prices(path, config.data.timezone)
    return Run(
        path=path, config=resolve_older(config, bars, path), bars=bars, scaler=scaler, record=record
    )


def model_input_shape(path: Path) -> tuple:
    """The window shape a .keras file's network takes, from its config.json alone."""
    try:
        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
        shape = next(
            layer["config"]["batch_shape"]
            for layer in layers
            if layer["class_name"] == "InputLayer"
        )
    except (OSError, KeyError, TypeError, ValueError, StopIteration, zipfile.BadZipFile) as error:
        raise RunError(
            f"{path}: not a loadable Keras model ({type(error).__name__}); train the run again"
        ) from None
    return tuple(shape)


# --- calibration ----------------------------------------------------------------------------


def write_calibration(run_dir: Path, calibration: Any) -> None:
    """calibration.npz (the residuals) first, then calibration.json (which names it)."""
    atomic.write_npz(run_dir / "calibration.npz", calibration.arrays())
    atomic.write_json(run_dir / "calibration.json", calibration.to_dict())


def read_calibration(run_dir: Path) -> Any:
    """The run's stored calibration, or None where there is none in this format (runs made
    before calibration was stored at training, whose forecasts calibrate afresh)."""
    import numpy as np

    from forecast.forecasting.conformal import Calibration

    record_path, arrays_path = run_dir / "calibration.json", run_dir / "calibration.npz"
    if not record_path.is_file() or not arrays_path.is_file():
        return None
    record = read_json(record_path)
    if "training_rows" not in record.get("block", {}):
        return None
    try:
        with np.load(arrays_path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in ("model_scores", "naive_scores")}
        return Calibration.from_parts(record, arrays)
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise RunError(
            f"{arrays_path}: damaged calibration ({type(error).__name__}); train the run again"
        ) from None


def resolve_older(config: Config, bars: pd.DataFrame, path: Path) -> Config:
    """Runs from before bar intervals were recorded say ``auto``: resolve it from their data."""
    if config.data.interval != "auto" and config.data.calendar != "auto":
        return config
    from dataclasses import replace

    from forecast.data.calendar import resolve_calendar
    from forecast.data.interval import check_interval

    index = pd.DatetimeIndex(bars.index)
    interval = check_interval(index, config.data.interval, str(path / "prices.csv"))
    data = replace(
        config.data,
        interval=interval,
        calendar=resolve_calendar(config.data.calendar, index, interval),
    )
    return replace(config, data=data)


def load_model(path: Path, config: Config | None = None, optimizer: bool = False) -> Any:
    """Load a .keras file with safe_mode=True: code-carrying layers (Lambda) are refused.

    model.keras holds stock Keras layers (any Keras loads it); with ``config``, the network
    comes back with the layers it was trained and scored with (the fused ones where the
    config has them), so that ``evaluate`` reproduces metrics.json to the bit. Files from
    before 2026-12 name the fused classes themselves; they load too. ``optimizer``: with
    the optimizer and its state (an update continues training from them).
    """
    import keras

    import forecast.model.fused  # noqa: F401  quiet TensorFlow import; registers FusedLSTM

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=optimizer)
    except ValueError as error:
        text = str(error)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise RunError(
                f"{path}: refused to load: it contains code (a Lambda layer), which "
                f"safe mode does not execute; only load models you trained here"
            ) from None
        raise RunError(
            f"{path}: not a loadable Keras model ({text.splitlines()[0]}); train the run again"
        ) from None
    except (OSError, KeyError, TypeError) as error:
        raise RunError(
            f"{path}: not a loadable Keras model ({type(error).__name__}); train the run again"
        ) from None
    if config is None:
        return model
    from forecast.model.build import trained_layers

    return trained_layers(model, config)


# --- resumable training state ---------------------------------------------------------------


def save_checkpoint(run_dir: Path, state: Any, model: Any, best_weights: list | None) -> None:
    """Save the state after a finished epoch: model (with optimizer state) and best weights
    under epoch-numbered names first, then the JSON that points at them, then prune."""

    model_file = f"training_state-{state.epoch:04d}.keras"
    with atomic.atomic_path(run_dir / model_file) as temporary:
        model.save(temporary)
    best_file = None
    if best_weights is not None:
        best_file = f"training_best-{state.epoch:04d}.npz"
        atomic.write_npz(
            run_dir / best_file,
            {f"arr_{index}": weight for index, weight in enumerate(best_weights)},
        )
    atomic.write_json(
        run_dir / CHECKPOINT, {**state.to_dict(), "model_file": model_file, "best_file": best_file}
    )
    keep = {model_file, best_file}
    for old in _checkpoint_files(run_dir):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def _checkpoint_files(run_dir: Path) -> list[Path]:
    """The epoch-numbered model and best-weights files ``save_checkpoint`` writes."""
    return [*run_dir.glob("training_state-*.keras"), *run_dir.glob("training_best-*.npz")]


def load_checkpoint(run_dir: Path) -> tuple[Any, Any, list | None] | None:
    """(state, model, best_weights) saved by the last finished epoch, or None."""
    import numpy as np

    from forecast.model.train import TrainingState

    path = run_dir / CHECKPOINT
    if not path.exists():
        return None
    record = read_json(path)
    try:
        state = TrainingState(
            epoch=int(record["epoch"]),
            history=record["history"],
            best_val_loss=record["best_val_loss"],
            best_epoch=record["best_epoch"],
            wait=int(record["wait"]),
            stopped_early=bool(record["stopped_early"]),
            callbacks=list(record.get("callbacks", [])),
        )
        model_file = run_dir / record["model_file"]
        best_file = record.get("best_file")
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path}: damaged training state ({error}); train again") from None
    import keras

    import forecast.model.fused  # noqa: F401  quiet TensorFlow import; registers FusedLSTM

    try:
        model = keras.saving.load_model(model_file, safe_mode=True, compile=True)
    except (OSError, ValueError) as error:
        raise RunError(
            f"{model_file}: cannot load the saved training state ({error}); train again"
        ) from None
    best_weights = None
    if best_file:
        with np.load(run_dir / best_file, allow_pickle=False) as archive:
            best_weights = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    return state, model, best_weights


def clear_checkpoint(run_dir: Path) -> None:
    """Remove the training state once the run's artifacts are all written."""
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    for old in _checkpoint_files(run_dir):
        old.unlink(missing_ok=True)
