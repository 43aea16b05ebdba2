"""The plain functions behind the CLI: train, resume, evaluate, forecast, backtest, compare
and explain.

Each returns its results; printing is left to the caller (``echo``), files to
``forecast.runs``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast import atomic, runs
from forecast.config import Config, config_hash
from forecast.data.interval import format_timestamps, unit_words
from forecast.data.sources import MarketData, data_fingerprint, load_market, source_label
from forecast.data.windows import Dataset, prepare_dataset, scaler_to_dict
from forecast.errors import RunError, TrainingInterrupted, UserError
from forecast.report.html import write_report
from forecast.report.metrics import forecast_metrics, predictions_frame
from forecast.report.plots import (plot_backtest, plot_compare, plot_forecast, plot_loss,
                                   plot_true_vs_predicted)

PREDICT_BATCH = 1024


@contextlib.contextmanager
def _interrupts_noted(noted: list[int]) -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt as usual, and is also noted.

    Python raises it after whatever bytecode runs next; when that is a finalizer
    (``__del__``, a weakref callback) it only prints "Exception ignored" and goes on, so a
    single Ctrl-C could be lost mid-training. Noted, it still stops the run at the end of the
    epoch. Only where Python's own handler is installed (not in threads, not where SIGINT is
    ignored or handled by someone else).
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
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


def dataset_for(config: Config, bars: pd.Series | pd.DataFrame, scaler: Any = None
                ) -> Dataset:
    """Features, split, scale and windows of ``bars`` as ``config`` says (fitting the scaler
    unless given)."""
    label = (str(config.data.path) if config.data.source == "csv"
             else f"data ({config.data.source} {config.data.ticker})")
    return prepare_dataset(bars, config.data.lookback, config.data.test_fraction,
                           config.train.validation_fraction, scaler=scaler, label=label,
                           target=config.data.target, features=config.data.features,
                           horizon=config.model.horizon)


def load_data(config: Config, refresh: bool = False) -> tuple[Config, MarketData]:
    """Load the configured data; the config comes back with interval, calendar and time
    zone resolved from it, as every later step (and the run folder) should see them."""
    market = load_market(config.data, refresh=refresh)
    return replace(config, data=market.data), market


def bar_words(config: Config, count: int) -> str:
    """'250 trading days', '24 hourly bars', '3 months': the data's own unit."""
    return unit_words(config.data.interval, config.data.calendar, count)


def predict_test(model: Any, dataset: Dataset) -> pd.DataFrame:
    """Predict every test day from its window and line it up with actual and naive."""
    scaled = model.predict(dataset.x_test, batch_size=PREDICT_BATCH, verbose=0)[:, 0]  # (n,)
    predicted = dataset.to_prices(scaled)  # (n_test,) prices
    return predictions_frame(dataset.test_dates, dataset.test_prices, predicted,
                             dataset.previous_prices)


def score(predictions: pd.DataFrame) -> dict[str, float]:
    return forecast_metrics(predictions["actual"].to_numpy(),
                            predictions["predicted"].to_numpy(),
                            predictions["naive"].to_numpy())


def train(config: Config, out: str | Path | None = None, refresh: bool = False,
          overwrite: bool = False, echo: Callable[[str], None] = print,
          market: MarketData | None = None) -> TrainOutcome:
    """Load data, train the configured model, score it against naive, write a run folder.

    ``market``: data already loaded (with ``load_data``) instead of the configured source.
    """
    if market is None:
        config, market = load_data(config, refresh=refresh)
    dataset = dataset_for(config, market.bars)
    run_dir = runs.create_run_dir(config.output.runs_dir, config.data.ticker, out=out,
                                  overwrite=overwrite)
    runs.write_config(run_dir, config)
    runs.write_prices(run_dir, market.bars)
    atomic.write_json(run_dir / "scaler.json",
                      scaler_to_dict(dataset.scaler, config.data.features))
    return _train_in(run_dir, config, market.bars, dataset, echo, resume=False,
                     data_warnings=market.warnings)


def resume(run_dir: str | Path, echo: Callable[[str], None] = print) -> TrainOutcome:
    """Continue an interrupted ``train`` from its last finished epoch, in its own folder."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"--resume {path}: no such folder; pass the run folder that "
                       f"'python main.py train' was writing")
    if (path / runs.MARKER).exists():
        raise RunError(f"--resume {path}: this run is already complete; nothing to resume")
    for name in ("config.yaml", "prices.csv", "scaler.json"):
        if not (path / name).is_file():
            raise RunError(f"--resume {path}: {name} is missing, so the run cannot be resumed; "
                           f"train again")
    from forecast.data.quality import data_warnings

    config = runs.read_config(path)
    bars = runs.read_prices(path, config.data.timezone)
    dataset = dataset_for(config, bars)
    if (scaler_to_dict(dataset.scaler, config.data.features)
            != runs.read_json(path / "scaler.json")):
        raise RunError(f"{path / 'scaler.json'}: does not match the run's prices; train again")
    warnings = tuple(data_warnings(bars, config.data, source_label(config.data)))
    return _train_in(path, config, bars, dataset, echo, resume=True, data_warnings=warnings)


def _train_in(run_dir: Path, config: Config, bars: pd.DataFrame, dataset: Dataset,
              echo: Callable[[str], None], resume: bool, data_warnings: tuple[str, ...] = ()
              ) -> TrainOutcome:
    from forecast.model.build import build_model  # TensorFlow: only once the data is good
    from forecast.model.train import fit_model, seed_everything

    seed_everything(config.train.seed)
    checkpoint = runs.load_checkpoint(run_dir) if resume else None
    if checkpoint is not None:
        state, model, best_weights = checkpoint
        echo(f"resuming {run_dir} after epoch {state.epoch} of {config.train.epochs}")
    else:
        state, best_weights = None, None
        model = build_model(config, n_features=len(config.data.features))
    model.summary(print_fn=lambda line, *args, **kwargs: echo(line))
    first, last = format_timestamps(dataset.test_dates[[0, -1]])
    echo(f"training on {len(dataset.y_train)} windows, validating on {len(dataset.y_val)}, "
         f"testing on {bar_words(config, len(dataset.y_test))} ({first} → {last})")
    finished = [state.epoch if state else 0]
    interrupts: list[int] = []

    def save_state(current, trained_model, best) -> None:
        runs.save_checkpoint(run_dir, current, trained_model, best)
        finished[0] = current.epoch
        if interrupts:  # a Ctrl-C that Python dropped in a finalizer (see _interrupts_noted)
            raise KeyboardInterrupt

    started = time.perf_counter()
    try:
        with _interrupts_noted(interrupts):
            result = fit_model(model, dataset, config.train, state=state,
                               best_weights=best_weights, on_epoch_end=save_state)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"interrupted after epoch {finished[0]} of {config.train.epochs}; the training "
            f"state is saved; resume with: python main.py train --resume {run_dir}") from None
    train_seconds = time.perf_counter() - started  # this session's training (not a resume's)
    with atomic.atomic_path(run_dir / "model.keras") as temporary:
        model.save(temporary)
    atomic.write_json(run_dir / "history.json", result.history)

    predictions = predict_test(model, dataset)
    metrics: dict[str, Any] = {**score(predictions), "n_train": dataset.n_train,
                               "n_test": len(predictions), "epochs_run": result.epochs_run}
    if not np.isfinite([metrics[key] for key in ("rmse", "mae", "mape")]).all():
        echo("warning: the model produced non-finite predictions (training diverged)")
    atomic.write_json(run_dir / "metrics.json", metrics)
    runs.write_frame(run_dir / "predictions.csv", predictions)
    runs.save_figure(run_dir / "true_vs_predicted.png", plot_true_vs_predicted(
        predictions, title=f"{config.data.ticker}: true vs predicted close "
                           f"({bar_words(config, len(predictions))} of test)"))
    runs.save_figure(run_dir / "loss.png", plot_loss(result.history))
    write_report(run_dir, f"{config.data.ticker} run {run_dir.name}",
                 data_warnings=data_warnings)
    runs.clear_checkpoint(run_dir)
    runs.mark_complete(run_dir, {"config_sha256": config_hash(config),
                                 "data_sha256": data_fingerprint(bars),
                                 "data_rows": len(bars),
                                 "data_warnings": list(data_warnings),
                                 "train_seconds": round(train_seconds, 2)})
    return TrainOutcome(run_dir=run_dir, metrics=metrics, predictions=predictions,
                        history=result.history, dataset=dataset, model=model, config=config,
                        data_warnings=data_warnings)


def evaluate(run_dir: str | Path) -> dict[str, Any]:
    """Reload model, scaler and data from the run folder alone and recompute the metrics.

    Writes ``evaluation.json``; its metric values equal ``metrics.json``'s when the run is
    intact, because the same weights see the same windows through the same saved scaler.
    """
    run = runs.load_run(run_dir)
    if data_fingerprint(run.bars) != run.record.get("data_sha256"):
        raise RunError(f"{run.path / 'prices.csv'}: differs from the data the run was "
                            f"trained on (fingerprint mismatch); train the run again")
    dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
    predictions = predict_test(run.model, dataset)
    evaluation: dict[str, Any] = {**score(predictions), "n_train": dataset.n_train,
                                  "n_test": len(predictions)}
    atomic.write_json(run.path / "evaluation.json", evaluation)
    return evaluation


def forecast(run_dir: str | Path, steps: int = 30, samples: int = 100,
             data_path: str | Path | None = None, days: int | None = None) -> pd.DataFrame:
    """Forecast the ``steps`` bars after the last one, with bands as the run's
    ``forecast.intervals`` says: conformal (the default), MC dropout, or none.

    The conformal point forecast is the model's deterministic path (dropout off), its bands
    calibrated on the run's validation block (forecast/uncertainty.py); every band comes
    beside the random walk's band from the same block and rule. Starts from the run's own
    bars, or from newer ones in ``data_path`` (a CSV with the run's date, price and feature
    columns). Timestamps follow the series (its interval and calendar). Writes
    forecast.csv (date, median, lo80, hi80, lo95, hi95, then naive and the random walk's
    band), forecast.json, calibration.json, forecast.png and report.html. ``days``: the old
    name of ``steps``.
    """
    from forecast.data.calendar import next_timestamps
    from forecast.data.features import feature_matrix, first_complete_row, recursable
    from forecast.model.future import forecast_future
    from forecast.uncertainty import bands, fit_calibration, recursive_forecasts

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


def backtest(config: Config, folds: int = 5, samples: int = 0, out: str | Path | None = None,
             refresh: bool = False, overwrite: bool = False,
             echo: Callable[[str], None] = print, market: MarketData | None = None
             ) -> tuple[Path, Any]:
    """Walk-forward backtest into a new folder: backtest.csv/.json/.png and report.html.

    ``market``: data already loaded (with ``load_data``) instead of the configured source.
    """
    from forecast.backtest import backtest as run_backtest

    if folds < 1 or samples < 0:
        raise UserError(f"--folds {folds} --samples {samples}: folds must be >= 1, "
                        f"samples >= 0")
    if market is None:
        config, market = load_data(config, refresh=refresh)
    folder = runs.create_run_dir(config.output.runs_dir, f"{config.data.ticker}-backtest",
                                 out=out, overwrite=overwrite)
    runs.write_config(folder, config)
    result = run_backtest(config, market.bars, folds=folds, samples=samples, echo=echo)
    result.summary["data_warnings"] = list(market.warnings)
    runs.write_frame(folder / "backtest.csv", result.table)
    if result.bands is not None:
        runs.write_frame(folder / "bands.csv", result.bands)
    if result.horizons is not None:
        runs.write_frame(folder / "horizons.csv", result.horizons)
    atomic.write_json(folder / "backtest.json", result.summary)
    runs.save_figure(folder / "backtest.png", plot_backtest(result.table))
    write_report(folder, f"{config.data.ticker} backtest {folder.name}",
                 data_warnings=market.warnings)
    return folder, result


def compare(config: Config, families: tuple[str, ...], folds: int = 5,
            out: str | Path | None = None, refresh: bool = False, overwrite: bool = False,
            echo: Callable[[str], None] = print) -> tuple[Path, pd.DataFrame, dict[str, Any]]:
    """Backtest each model family on the same folds; compare.csv/.json/.png, report.html."""
    from forecast.backtest import FAMILIES, compare as run_compare

    unknown = [family for family in families if family not in FAMILIES]
    if unknown or not families:
        raise UserError(f"--models {','.join(families)}: unknown {unknown or 'empty list'}; "
                        f"choose from {','.join(FAMILIES)}")
    if folds < 1:
        raise UserError(f"--folds {folds}: must be >= 1")
    config, market = load_data(config, refresh=refresh)
    folder = runs.create_run_dir(config.output.runs_dir, f"{config.data.ticker}-compare",
                                 out=out, overwrite=overwrite)
    runs.write_config(folder, config)
    table, summary = run_compare(config, market.bars, families, folds=folds, echo=echo)
    summary["data_warnings"] = list(market.warnings)
    runs.write_frame(folder / "compare.csv", table)
    atomic.write_json(folder / "compare.json", summary)
    runs.save_figure(folder / "compare.png", plot_compare(table))
    write_report(folder, f"{config.data.ticker} model comparison {folder.name}",
                 data_warnings=market.warnings)
    return folder, table, summary


@dataclass(frozen=True)
class Explanation:
    date: pd.Timestamp  # the window's last input day
    predicted: float
    actual: float
    kind: str
    steps: dict[str, np.ndarray]  # (time, units) per gate/state of the chosen layer
    means: pd.DataFrame  # per-step means, also written as CSV
    png: Path
    csv: Path


def explain(run_dir: str | Path, date: str | None = None, layer: int = 0) -> Explanation:
    """Run the test window ending at ``date`` through the NumPy reference cell and plot the
    chosen recurrent layer's gates; writes explain_<date>.png and .csv in the run folder."""
    from forecast.data.windows import scaled_to_prices
    from forecast.model.reference import run_stack
    from forecast.report.plots import plot_gates

    run = runs.load_run(run_dir)
    dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
    index = pd.DatetimeIndex(run.prices.index)
    window_ends = index[dataset.n_train - 1:-1]  # test window k ends the bar before row k
    if date is None:
        position = len(window_ends) - 1
    else:
        try:
            wanted = pd.Timestamp(date)
            if index.tz is not None:
                wanted = (wanted.tz_localize(index.tz) if wanted.tz is None
                          else wanted.tz_convert(index.tz))
        except ValueError:
            raise UserError(f"--date {date!r}: not a date; use YYYY-MM-DD (or YYYY-MM-DD "
                            f"HH:MM for intraday bars)") from None
        matches = np.flatnonzero(window_ends == wanted)
        if not len(matches):
            first, last = format_timestamps(window_ends[[0, -1]])
            raise UserError(f"--date {date}: no test window ends on that day or time; choose "
                            f"a bar from {first} to {last}")
        position = int(matches[0])
    trace = run_stack(run.model, dataset.x_test[position:position + 1])  # batch of 1
    if not trace.layers:
        raise UserError(f"--run {run.path}: the model has no recurrent layer to explain")
    if not 0 <= layer < len(trace.layers):
        raise UserError(f"--layer {layer}: the model has recurrent layers 0.."
                        f"{len(trace.layers) - 1}")
    chosen = trace.layers[layer]
    previous = dataset.previous_prices[position]
    predicted = float(scaled_to_prices(run.scaler, trace.output[:, 0], np.array([previous]),
                                       dataset.target)[0])
    actual = float(dataset.test_prices[position])
    lookback = run.config.data.lookback
    end_row = dataset.n_train - 1 + position
    input_dates = index[end_row - lookback + 1:end_row + 1]
    input_prices = run.prices.to_numpy()[end_row - lookback + 1:end_row + 1]
    steps = {key: value[0] for key, value in chosen.steps.items()}  # (time, units)
    means = pd.DataFrame({"step": np.arange(lookback),
                          "date": format_timestamps(input_dates),
                          "price": input_prices,
                          **{f"{key}_mean": value.mean(axis=1) for key, value in steps.items()}})
    day = window_ends[position].strftime(
        "%Y-%m-%d" if window_ends[position] == window_ends[position].normalize()
        else "%Y-%m-%dT%H%M")
    png, csv = run.path / f"explain_{day}.png", run.path / f"explain_{day}.csv"
    runs.write_frame(csv, means)
    runs.save_figure(png, plot_gates(
        input_dates, input_prices, steps, chosen.kind, index[end_row + 1], predicted, actual,
        title=f"{run.config.data.ticker}: window ending {day}, layer {layer} "
              f"({chosen.kind}, {chosen.name})"))
    return Explanation(date=window_ends[position], predicted=predicted, actual=actual,
                       kind=chosen.kind, steps=steps, means=means, png=png, csv=csv)
