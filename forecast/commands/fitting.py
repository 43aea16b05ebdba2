"""Fitting a forecaster into a run folder, shared by train, resume and update: the training
state kept after every epoch (Ctrl-C saves it, ``train --resume`` continues it), then what the
fit scored on its test rows beside naive and drift, the pictures and the report, and run.json
last."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from forecast.base import atomic
from forecast.base.barrier import wait_at
from forecast.base.names import program_name
from forecast.commands.common import bar_words, test_metrics
from forecast.commands.result import Result
from forecast.data.sources import MarketData
from forecast.errors import TrainingInterrupted
from forecast.forecasting.forecaster import Forecaster
from forecast.report import interactive
from forecast.report.html import write_report
from forecast.report.plots import plot_loss, plot_true_vs_predicted


@contextlib.contextmanager
def interrupts_noted(noted: list[int]) -> Iterator[None]:
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


def fit_into(
    forecaster: Forecaster,
    market: MarketData,
    run_dir: Path,
    echo: Callable[[str], None],
    resume: bool = False,
    scaler: Any = None,
    start: Path | None = None,
    callbacks: Sequence[Any] = (),
    details: dict[str, Any] | None = None,
) -> Result:
    """Fit ``forecaster`` on ``market`` with its training state kept in ``run_dir`` (from
    the last checkpoint there when ``resume``), then write the run: the forecaster, its
    test scores, pictures and report, run.json last (with ``details``)."""
    finished = [0]
    interrupts: list[int] = []

    def epoch_done(epoch: int) -> None:
        finished[0] = epoch
        wait_at(f"epoch-{epoch}")  # a test's barrier (base/barrier.py); nothing otherwise
        if interrupts:  # a Ctrl-C that Python dropped in a finalizer (see interrupts_noted)
            raise KeyboardInterrupt

    try:
        with interrupts_noted(interrupts):
            forecaster.fit(
                market,
                scaler=scaler,
                start=start,
                checkpoints=run_dir,
                resume=resume,
                callbacks=callbacks,
                on_epoch=epoch_done,
                echo=echo,
            )
    except KeyboardInterrupt:
        epochs = forecaster.config.train.epochs
        raise TrainingInterrupted(
            f"interrupted after epoch {finished[0]} of {epochs}; the training state is saved; "
            f"resume with: {program_name()} train --resume {run_dir}"
        ) from None
    scored: dict[str, Any] = {}

    def finish() -> None:
        scored.update(write_scores(forecaster, run_dir, echo, details or {}))

    forecaster.save(run_dir, details, finish=finish)
    from forecast.evaluation.metrics import metrics_verdict, production_text

    metrics = scored["metrics"]
    verdict = (
        (text := production_text())[0].upper() + text[1:].replace("RUN/", f"{run_dir}/") + "."
        if forecaster.config.data.production_fit
        else metrics_verdict(metrics)
    )
    return Result(
        folder=run_dir,
        table=scored["predictions"],
        summary=metrics,
        verdict=verdict,
        config=forecaster.config,
        forecaster=forecaster,
        notes=forecaster.data_warnings_,
    )


def write_scores(
    forecaster: Forecaster, run_dir: Path, echo: Callable[[str], None], details: dict[str, Any]
) -> dict[str, Any]:
    """metrics.json (and, with test rows, predictions.csv and true_vs_predicted.png),
    loss.png, report.html; the training state cleared. Written before run.json."""
    from forecast.model.checkpoints import clear_checkpoint

    config, dataset = forecaster.config, forecaster.dataset()
    if len(dataset.y_test):
        echo(f"scoring the {len(dataset.y_test)} test bars beside naive, drift and the baselines …")
    predictions = forecaster.predict_test()  # the Keras model: metrics.json to the bit
    metrics: dict[str, Any] = {"n_train": dataset.n_train, "n_test": len(predictions)}
    if len(predictions):
        scored = test_metrics(predictions, dataset, forecaster.baselines_)
        metrics = {**scored, **metrics}
        if not np.isfinite([metrics[key] for key in ("rmse", "mae", "mape")]).all():
            echo("warning: the model produced non-finite predictions (training diverged)")
        atomic.write_table(run_dir / "predictions.csv", predictions)
        title = (
            f"{config.data.ticker}: true vs predicted close "
            f"({bar_words(config, len(predictions))} of test)"
        )
        png = run_dir / "true_vs_predicted.png"
        atomic.write_figure(png, plot_true_vs_predicted(predictions, title=title))
        interactive.save(png, interactive.true_vs_predicted(predictions, title))
    metrics["epochs_run"] = forecaster.epochs_run_
    atomic.write_json(run_dir / "metrics.json", metrics)
    atomic.write_figure(run_dir / "loss.png", plot_loss(forecaster.history_))
    interactive.save(run_dir / "loss.png", interactive.loss(forecaster.history_))
    write_report(
        run_dir,
        f"{config.data.ticker} run",
        config=config,
        record=details,
        data_warnings=forecaster.data_warnings_,
    )
    clear_checkpoint(run_dir)
    return {"metrics": metrics, "predictions": predictions}
