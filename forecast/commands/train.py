"""train: load data, fit the configured model, score it beside naive, write a run folder;
and resume an interrupted one from its last finished epoch."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.commands.common import (
    bar_words,
    calibration_steps,
    dataset_for,
    load_data,
    predict_test,
    score,
)
from forecast.config import Config, config_hash
from forecast.data.interval import format_timestamps
from forecast.data.sources import MarketData, data_fingerprint, source_label
from forecast.data.windows import Dataset
from forecast.errors import RunError, TrainingInterrupted
from forecast.forecasting.conformal import fit_calibration
from forecast.forecasting.forecaster import Forecaster
from forecast.model.reference import Network
from forecast.report.html import write_report
from forecast.report.plots import plot_loss, plot_true_vs_predicted
from forecast.store import runs


@contextlib.contextmanager
def _interrupts_noted(noted: list[int]) -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also noted.

    Python raises it after whatever bytecode runs next; when that is a finalizer
    (``__del__``, a weakref callback) it only prints "Exception ignored" and goes on, so a
    single Ctrl-C could be lost mid-training. Noted, it still stops the run at the end of the
    epoch. Only where Python's own handler is installed (not in threads, not where SIGINT is
    ignored or handled by someone else).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def handler(signum, frame):
        noted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class TrainOutcome:
    run_dir: Path
    metrics: dict[str, Any]
    predictions: pd.DataFrame
    history: dict[str, list[float]]
    dataset: Dataset
    model: Any  # keras.Model
    config: Config | None = None  # as resolved from the data (interval, calendar, zone)
    data_warnings: tuple[str, ...] = ()


def train(
    config: Config,
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    market: MarketData | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Load data, train the configured model, score it against naive, write a run folder.

    ``market``: data already loaded (with ``load_data``) instead of the configured source.
    ``callbacks``: Keras callback objects, after those the config names (train.callbacks,
    train.tensorboard); a resumed run restores the built-in ones' state, not these.
    """
    if market is None:
        config, market = load_data(config, refresh=refresh)
    dataset = dataset_for(config, market.bars)
    run_dir = runs.create_run_dir(
        config.output.runs_dir, config.data.ticker, out=out, overwrite=overwrite
    )
    runs.write_config(run_dir, config)
    runs.write_prices(run_dir, market.bars)
    atomic.write_json(run_dir / "scaler.json", dataset.scaler.to_dict(config.data.features))
    return _train_in(
        run_dir,
        config,
        market.bars,
        dataset,
        echo,
        resume=False,
        data_warnings=market.warnings,
        callbacks=callbacks,
    )


def resume(
    run_dir: str | Path, echo: Callable[[str], None] = print, callbacks: Sequence[Any] = ()
) -> TrainOutcome:
    """Continue an interrupted ``train`` (or ``update``) from its last finished epoch, in its
    own folder."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(
            f"--resume {path}: no such folder; pass the run folder that "
            f"'python main.py train' was writing"
        )
    if (path / runs.MARKER).exists():
        raise RunError(f"--resume {path}: this run is already complete; nothing to resume")
    for name in ("config.yaml", "prices.csv", "scaler.json"):
        if not (path / name).is_file():
            raise RunError(
                f"--resume {path}: {name} is missing, so the run cannot be resumed; train again"
            )
    from forecast.data.scaling import MinMaxScaling

    config = runs.read_config(path)
    bars = runs.read_prices(path, config.data.timezone)
    update = runs.read_json(path / runs.UPDATE) if (path / runs.UPDATE).exists() else None
    stored = runs.read_json(path / "scaler.json")
    if update is not None and update.get("kept_scaler"):  # an update keeps its parent's scaler
        dataset = dataset_for(config, bars, scaler=MinMaxScaling.from_dict(stored))
    else:
        dataset = dataset_for(config, bars)
        if dataset.scaler.to_dict(config.data.features) != stored:
            raise RunError(f"{path / 'scaler.json'}: does not match the run's prices; train again")
    warm = update is not None and not update.get("refit")  # before its first epoch: the parent
    return _train_in(
        path,
        config,
        bars,
        dataset,
        echo,
        resume=True,
        start=Path(update["parent"]) / "model.keras" if warm else None,
        details={"update": update} if update else None,
        callbacks=callbacks,
    )


def _train_in(
    run_dir: Path,
    config: Config,
    bars: pd.DataFrame,
    dataset: Dataset,
    echo: Callable[[str], None],
    resume: bool,
    data_warnings: tuple[str, ...] | None = None,
    start: Path | None = None,
    details: dict[str, Any] | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainOutcome:
    """Fit in ``run_dir`` (from its last checkpoint when ``resume``, else from the model file
    ``start`` with its optimizer state — an update's warm start — or a new model), then write
    the run's artifacts, run.json last (with ``details``). ``data_warnings``: the checks of
    the bars as loaded; None: checked here (bars read back from a run folder)."""
    from forecast.model.build import build_model, portable_copy  # TensorFlow: data is good
    from forecast.model.train import build_callbacks, fit_model, seed_everything

    if data_warnings is None:
        from forecast.data.quality import data_warnings as check_bars

        data_warnings = tuple(check_bars(bars, config.data, source_label(config.data)))
    seed_everything(config.train.seed)
    checkpoint = runs.load_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        state, model, best_weights = checkpoint
        echo(f"resuming {run_dir} after epoch {state.epoch} of {config.train.epochs}")
    else:
        state, best_weights = None, None
        model = (
            runs.load_model(start, config, optimizer=True)
            if start is not None
            else build_model(config, n_features=len(config.data.features))
        )
    model.summary(print_fn=lambda line, *args, **kwargs: echo(line))
    if len(dataset.y_test):
        first, last = format_timestamps(dataset.test_dates[[0, -1]])
        testing = f"testing on {bar_words(config, len(dataset.y_test))} ({first} → {last})"
    else:
        testing = "no test rows (a production fit on every bar)"
    echo(
        f"training on {len(dataset.y_train)} windows, validating on {len(dataset.y_val)}, {testing}"
    )
    finished = [state.epoch if state else 0]
    interrupts: list[int] = []
    hooks = [
        *build_callbacks(
            config.train,
            config.model.learning_rate,
            run_dir,
            resumed_epochs=state.epoch if state else None,
        ),
        *callbacks,
    ]

    def save_state(current, trained_model, best) -> None:
        runs.save_checkpoint(run_dir, current, trained_model, best)
        finished[0] = current.epoch
        if interrupts:  # a Ctrl-C that Python dropped in a finalizer (see _interrupts_noted)
            raise KeyboardInterrupt

    started = time.perf_counter()
    try:
        with _interrupts_noted(interrupts):
            result = fit_model(
                model,
                dataset,
                config.train,
                state=state,
                best_weights=best_weights,
                on_epoch_end=save_state,
                callbacks=hooks,
            )
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted after epoch {finished[0]} of {config.train.epochs}; the training "
            f"state is saved; resume with: python main.py train --resume {run_dir}"
        ) from None
    train_seconds = time.perf_counter() - started  # this session's training (not a resume's)
    with atomic.atomic_path(run_dir / "model.keras") as temporary:
        portable_copy(model, config).save(temporary)  # stock Keras layers: any Keras loads it
    atomic.write_json(run_dir / "history.json", result.history)

    if len(dataset.y_test):
        predictions = predict_test(model, dataset)
        metrics: dict[str, Any] = {
            **score(predictions, dataset),
            "n_train": dataset.n_train,
            "n_test": len(predictions),
            "epochs_run": result.epochs_run,
        }
        if not np.isfinite([metrics[key] for key in ("rmse", "mae", "mape")]).all():
            echo("warning: the model produced non-finite predictions (training diverged)")
        runs.write_frame(run_dir / "predictions.csv", predictions)
        runs.save_figure(
            run_dir / "true_vs_predicted.png",
            plot_true_vs_predicted(
                predictions,
                title=f"{config.data.ticker}: true vs predicted close "
                f"({bar_words(config, len(predictions))} of test)",
            ),
        )
    else:  # a production fit: nothing held out, the procedure is scored by backtest
        predictions = pd.DataFrame(columns=["date", "actual", "predicted", "naive"])
        metrics = {
            "n_train": dataset.n_train,
            "n_test": 0,
            "epochs_run": result.epochs_run,
            "production": True,
        }
    atomic.write_json(run_dir / "metrics.json", metrics)
    forecaster = Forecaster.from_config(config, Network.from_keras(model), dataset.scaler)
    runs.write_calibration(
        run_dir,
        fit_calibration(
            forecaster,
            bars.iloc[: dataset.n_train],
            len(dataset.y_val),
            calibration_steps(forecaster),
        ),
    )
    runs.save_figure(run_dir / "loss.png", plot_loss(result.history))
    write_report(run_dir, f"{config.data.ticker} run", data_warnings=data_warnings)
    runs.clear_checkpoint(run_dir)
    runs.mark_complete(
        run_dir,
        {
            "config_sha256": config_hash(config),
            "data_sha256": data_fingerprint(bars),
            "data_rows": len(bars),
            "test_rows": len(predictions),
            "data_warnings": list(data_warnings),
            "train_seconds": round(train_seconds, 2),
            **(details or {}),
        },
    )
    return TrainOutcome(
        run_dir=run_dir,
        metrics=metrics,
        predictions=predictions,
        history=result.history,
        dataset=dataset,
        model=model,
        config=config,
        data_warnings=data_warnings,
    )
