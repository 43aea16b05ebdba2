"""Run folders: made new (never two runs in one), loaded whole, and checked to hang together.

A run folder is a saved forecaster (``forecasting.state``: config.yaml, prices.csv,
scaler.json, model.keras, history.json, calibration.json/.npz) beside what the commands
wrote about it:

    metrics.json           model vs naive metrics on the test bars (train, update)
    predictions.csv        date, actual, predicted, naive: one row per test bar
    true_vs_predicted.png, loss.png, report.html (with NAME.plotly.json, plotly.min.js)
    forecast.csv/.json/.png, journal.csv      the last forecast; every forecast issued
    live.csv/.json/.png, adaptive.json        the live record (score)
    run.json               written last: versions, fingerprints, status "complete"

A folder without a complete ``run.json`` is an interrupted run and is refused by readers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base.marker import MARKER
from forecast.base.names import program_name, safe_name
from forecast.config import Config, config_to_dict
from forecast.errors import UserError, named
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.store.lock import LOCK, writing

UPDATE = "update.json"  # an update's folder: its parent and how it trained (written first)
PANEL = "panel.json"  # a global run's folder (train --tickers): written last
# What --overwrite removes from a folder: the files forecast writes, and nothing else.
OWN_FILES = (
    *state.STATE_FILES,
    MARKER,
    "metrics.json",
    "predictions.csv",
    "true_vs_predicted.*",
    "loss.*",
    "report.html",
    "plotly.min.js",
    "evaluation.json",
    "forecast.*",
    "explain_*",
    "backtest.*",
    "bands.*",
    "horizons.*",
    "calibration.*",
    state.BASELINES,
    "compare.*",
    "training_*",
    "live.*",
    "adaptive.json",
    UPDATE,
)


def is_global_run(folder: str | Path) -> bool:
    """Whether ``folder`` is a global run's (train --tickers): it holds panel.json."""
    return (Path(folder) / PANEL).is_file()


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
        return _named_folder(Path(out), overwrite)
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{safe_name(ticker)}"
    try:
        Path(runs_dir).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"output.runs_dir {runs_dir}: cannot create folder ({error.strerror}); "
            f"set output.runs_dir or {named('out')} to a writable folder"
        ) from None
    for attempt in range(1, 1000):
        path = base if attempt == 1 else base.with_name(f"{base.name}-{attempt}")
        try:
            path.mkdir()  # atomic: fails if another run took the name first
            return path
        except FileExistsError:
            continue
    raise UserError(f"output.runs_dir {runs_dir}: too many runs named {base.name}")


@contextlib.contextmanager
def new_folder(
    runs_dir: str | Path,
    name: str,
    command: str,
    out: str | Path | None = None,
    overwrite: bool = False,
) -> Iterator[Path]:
    """A new run (or batch, sweep) folder, held with its write lock (store/lock.py) for the
    block: two commands never write one folder, and a named ``out`` is checked empty (or
    emptied, with ``overwrite``) only once the lock is held."""
    if out is None:
        path = create_run_dir(runs_dir, name)
        with writing(path, command):
            yield path
        return
    path = _make_folder(Path(out))
    with writing(path, command):
        yield create_run_dir(runs_dir, name, out=path, overwrite=overwrite)


def _make_folder(path: Path) -> Path:
    """``out`` made if missing; a file there, or a folder that cannot be made, refused."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{named('out', path)}: exists and is not a folder; choose another path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"{named('out', path)}: cannot create folder ({error.strerror}); choose a "
            f"writable location"
        ) from None
    return path


def _named_folder(path: Path, overwrite: bool) -> Path:
    """``out``: an empty (or, with ``overwrite``, emptied of our files) folder."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{named('out', path)}: exists and is not a folder; choose another path")
    if path.is_dir() and any(item.name != LOCK for item in path.iterdir()) and not overwrite:
        raise UserError(
            f"{named('out', path)}: folder is not empty (holds a previous run?); choose a new "
            f"folder or pass {named('overwrite')}"
        )
    if (path / "journal.csv").exists():  # a record of issued forecasts is never deleted
        raise UserError(
            f"{named('out', path)}: holds journal.csv, the record of the forecasts its run "
            f"issued, which {named('overwrite')} does not delete; choose a new folder "
            f"(update a run with: {program_name()} update --run {path})"
        )
    _make_folder(path)
    if overwrite:  # remove the previous run's artifacts (only ours), marker first
        (path / MARKER).unlink(missing_ok=True)
        for pattern in OWN_FILES:
            for old in path.glob(pattern):
                if old.is_file():
                    old.unlink()
        shutil.rmtree(path / "tensorboard", ignore_errors=True)
    return path


def read_config(folder: Path) -> Config:
    """A run's (or a batch's, a sweep's) config.yaml."""
    return state.read_config(folder)


def check_same_config(folder: Path, config: Config, what: str) -> None:
    """--resume of a batch or sweep: refuse a config other than the one ``folder`` started
    with (its output section aside: a resumed folder is where it is)."""
    started = config_to_dict(read_config(folder))
    if {**started, "output": None} != {**config_to_dict(config), "output": None}:
        raise UserError(
            f"{named('resume', folder, flag='--resume')}: the config differs from the one the "
            f"{what} started with ({folder / 'config.yaml'}); resume with that config or start "
            f"a new {what}"
        )


@dataclass(frozen=True)
class Run:
    """A loaded run folder: its run.json and its fitted forecaster (the network read only
    when asked for: the NumPy forward pass, no TensorFlow, or the Keras model)."""

    path: Path
    record: dict[str, Any]
    forecaster: Forecaster

    @property
    def config(self) -> Config:
        return self.forecaster.config

    @property
    def bars(self) -> pd.DataFrame:
        """The bars it was fitted on: price and the source columns the features read."""
        return self.forecaster.bars_

    @property
    def prices(self) -> pd.Series:
        return self.bars["price"]

    @property
    def scaler(self) -> Any:
        return self.forecaster.scaler_

    @property
    def production_fit(self) -> bool:
        return self.config.data.production_fit


def load_run(run_dir: str | Path) -> Run:
    """Load a complete run folder, checking that its files agree (no pickles, no user YAML;
    the network is read only when asked for)."""
    if (Path(run_dir) / PANEL).is_file():
        raise UserError(
            f"{named('run_dir', run_dir)}: a global run's folder (train --tickers); forecast, "
            f"score and update take it whole, the other commands one ticker's run in it "
            f"({Path(run_dir) / 'runs' / 'TICKER'})"
        )
    forecaster = Forecaster.load(run_dir)
    if forecaster.members_:
        raise UserError(
            f"{named('run_dir', run_dir)}: holds one run folder per ticker; pass one of them "
            f"({', '.join(sorted(path.name for path in Path(run_dir).iterdir() if path.is_dir()))})"
        )
    return Run(path=Path(run_dir), record=forecaster.record_, forecaster=forecaster)
