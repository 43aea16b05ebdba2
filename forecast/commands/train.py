"""train: load data, fit the configured forecaster, score it beside naive, write a run folder;
and resume an interrupted one from its last finished epoch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forecast.base.extras import require
from forecast.base.marker import MARKER
from forecast.base.names import program_name
from forecast.base.values import read_json
from forecast.commands.common import dataset_for, load_data
from forecast.commands.fitting import fit_into
from forecast.commands.result import Result
from forecast.config import Config
from forecast.data.bars import read_bars
from forecast.data.quality import data_warnings
from forecast.data.scaling import scaler_from_dict
from forecast.data.sources import MarketData
from forecast.errors import RunError, named
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.store import runs, tracking
from forecast.store.lock import RUN_FILES, writing


def train(
    config: Config,
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    market: MarketData | None = None,
    callbacks: Sequence[Any] = (),
) -> Result:
    """Load data, train the configured model, score it against naive, write a run folder.

    ``market``: data already loaded (with ``load_data``) instead of the configured source.
    ``callbacks``: Keras callback objects, after those the config names (train.callbacks,
    train.tensorboard); a resumed run restores the built-in ones' state, not these.
    """
    if config.train.tensorboard:
        require("tensorboard", "train.tensorboard")  # before any data or folder
    tracking.check_available(config)
    if market is None:
        config, market = load_data(config, refresh=refresh)
    dataset_for(config, market.bars, label=market.label)  # too few rows: refused before a folder
    with runs.new_folder(
        config.output.runs_dir, config.data.ticker, "train", out=out, overwrite=overwrite
    ) as run_dir:
        result = fit_into(Forecaster(config), market, run_dir, echo, callbacks=callbacks)
    tracking.log_result(config, "train", result, history=result.forecaster.history_)
    return result


def resume(
    run_dir: str | Path, echo: Callable[[str], None] = print, callbacks: Sequence[Any] = ()
) -> Result:
    """Continue an interrupted ``train`` (or ``update``) from its last finished epoch, in its
    own folder."""
    path = Path(run_dir)
    where = named("run_dir", path, flag="--resume")
    if not path.is_dir():
        raise RunError(
            f"{where}: no such folder; pass the run folder that '{program_name()} train' was "
            "writing"
        )
    with writing(path, "train --resume", only_if=RUN_FILES):
        result = _resume(path, where, echo, callbacks)
    tracking.log_result(result.config, "train", result, history=result.forecaster.history_)
    return result


def _resume(
    path: Path, where: str, echo: Callable[[str], None], callbacks: Sequence[Any]
) -> Result:
    """``resume`` with the folder's write lock held."""
    if (path / MARKER).exists():
        raise RunError(f"{where}: this run is already complete; nothing to resume")
    for name in (state.CONFIG, state.PRICES, state.SCALER):
        if not (path / name).is_file():
            raise RunError(f"{where}: {name} is missing, so the run cannot be resumed; train again")
    config = state.read_config(path)
    bars = read_bars(path / state.PRICES, config.data.timezone)
    update = read_json(path / runs.UPDATE) if (path / runs.UPDATE).exists() else None
    stored = read_json(path / state.SCALER)
    kept = bool(update and update.get("kept_scaler"))  # an update keeps its parent's scaler
    if not kept and dataset_for(config, bars).scaler.to_dict(config.data.features) != stored:
        raise RunError(f"{path / state.SCALER}: does not match the run's prices; train again")
    label = str(path / state.PRICES)
    market = MarketData(
        bars=bars,
        data=config.data,
        warnings=tuple(data_warnings(bars, config.data, label)),
        label=label,
    )
    warm = update is not None and not update.get("refit")  # before its first epoch: the parent
    return fit_into(
        Forecaster(config),
        market,
        path,
        echo,
        resume=True,
        scaler=scaler_from_dict(stored, str(path / state.SCALER)),
        start=Path(update["parent"]) / state.MODEL if warm else None,
        callbacks=callbacks,
        details={"update": update} if update else None,
    )
