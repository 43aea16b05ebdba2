"""Walk-forward backtest against honest baselines.

K expanding-window folds over the end of the series. In fold k the training rows are every
row before its cut-off; the scaler is fitted again on exactly those rows, the model is
trained again, and the fold's test days (the next block) are predicted one step ahead, each
from a window ending the day before. Baselines are scored on the very same days:

    naive           tomorrow = today's close
    drift           today's close + the average daily change over the fold's training rows
    moving_average  the mean of the last ``lookback`` closes
    arima, ets, theta  the statistical models of ``evaluation.baselines``, fitted again on
                    the fold's training rows (forecast/forecasting/classical.py)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.bands import BAND_COLUMNS, LEVELS
from forecast.base.baselines import SIMPLE
from forecast.config import Config
from forecast.data.interval import format_timestamps
from forecast.data.windows import WindowSpec, as_bars, prepare_dataset
from forecast.errors import UserError, named
from forecast.evaluation.baselines import Predicted, fit_and_predict
from forecast.evaluation.scoring import backtest_summary
from forecast.forecasting.classical import Fitted
from forecast.forecasting.conformal import SCORED_HORIZONS
from forecast.forecasting.forecast import predict_test_prices
from forecast.forecasting.predictor import Predictor
from forecast.model.keras_network import KerasNetwork
from forecast.model.reference import Network

BASELINES = SIMPLE


@dataclass(frozen=True)
class Fold:
    index: int
    cutoff: int  # first test row
    stop: int  # one past the last test row


def make_folds(n_rows: int, folds: int, test_fraction: float) -> list[Fold]:
    """K consecutive test blocks covering the last ``test_fraction`` of the rows."""
    if test_fraction <= 0:
        raise UserError(
            "data.test_fraction 0 is a production fit with no rows to test on; "
            "backtest the procedure with --set data.test_fraction=0.2 (the share "
            "of rows the folds test on)"
        )
    block = int(n_rows * test_fraction) // folds
    if block < 1:
        raise UserError(
            f"{named('folds', folds)}: the last {test_fraction:.0%} of {n_rows} rows is "
            f"too short for {folds} folds; use fewer folds or a longer series"
        )
    first = n_rows - folds * block
    return [Fold(k, first + k * block, first + (k + 1) * block) for k in range(folds)]


def baseline_predictions(
    prices: np.ndarray, cutoff: int, stop: int, lookback: int
) -> dict[str, np.ndarray]:
    """One-step baselines for rows cutoff..stop-1, from data up to the day before each."""
    prices = np.asarray(prices, dtype="float64")
    previous = prices[cutoff - 1 : stop - 1]  # (n,)
    average_change = (prices[cutoff - 1] - prices[0]) / (cutoff - 1)  # training rows only
    windows = np.lib.stride_tricks.sliding_window_view(prices, lookback)  # (N-L+1, L)
    moving = windows[cutoff - lookback : stop - lookback].mean(axis=1)  # (n,)
    return {"naive": previous, "drift": previous + average_change, "moving_average": moving}


@dataclass(frozen=True)
class FoldOutcome:
    fold: Fold
    predictions: pd.DataFrame  # date, actual, model, naive, drift, moving_average, (bands)
    scaler: dict[str, Any]
    training_prices: np.ndarray
    epochs_run: int = 0
    bands: pd.DataFrame | None = None  # band_frame(): one row per horizon × target bar
    baselines: dict[str, Any] | None = None  # the fitted statistical models: label, orders
    baseline_notes: tuple[str, ...] = ()  # the models left out of this fold, and why
    baseline_seconds: dict[str, float] | None = None  # each fit's seconds (not a metric)
    seconds: float = 0.0  # the whole fold: fits, predictions, bands


def run_fold(
    config: Config,
    prices: pd.Series | pd.DataFrame,
    fold: Fold,
    samples: int = 0,
    on_epoch: Callable[[dict[str, float], pd.DataFrame, bool], None] | None = None,
    horizons: tuple[int, ...] = (),
    baselines: tuple[str, ...] = (),
) -> FoldOutcome:
    """Refit scaler and model on the fold's training rows; predict its test bars.

    prices: the price Series, or the bars frame (price and the columns features read).
    on_epoch: called after every epoch with ({"epochs": epochs finished, "loss", and
    "val_loss" with validation windows}, the fold's predictions frame with that epoch's
    weights, whether it is the last epoch); a sweep reports from it. On
    the last epoch the weights are those training ends with (the best validation epoch's
    when early stopping restores them).
    horizons: score bands at these horizons too (``band_frame``), calibrated on the fold's
    own validation block before its cutoff.
    baselines: the statistical models to fit on the fold's training rows and score beside.
    """
    from forecast.model.build import build_model
    from forecast.model.train import fit_model, seed_everything

    visible = as_bars(prices).iloc[: fold.stop]  # rows after the fold's test block: never read
    spec = WindowSpec.from_config(config)
    dataset = prepare_dataset(
        visible, spec, n_test=fold.stop - fold.cutoff, label=f"fold {fold.index + 1}"
    )
    values = visible["price"].to_numpy()
    classical, described, notes, models = fold_baselines(values, fold.cutoff, baselines)

    def predictions(model: Any) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "date": format_timestamps(dataset.test_dates),
                "actual": dataset.test_prices,
                "model": predict_test_prices(model, dataset),
                **baseline_predictions(values, fold.cutoff, fold.stop, config.data.lookback),
                **classical,
            }
        )

    def epoch_end(state: Any, model: Any, best_weights: list | None) -> None:
        last = state.stopped_early or state.epoch >= config.train.epochs
        if last and best_weights is not None:  # what fit_model restores right after
            model.set_weights(best_weights)
        logs = {
            "epochs": state.epoch,
            **{name: values[-1] for name, values in state.history.items()},
        }
        on_epoch(logs, predictions(model), last)

    seed_everything(config.train.seed)
    model = build_model(config, n_features=len(config.data.features))
    result = fit_model(
        model, dataset, config.train, on_epoch_end=epoch_end if on_epoch is not None else None
    )
    frame = predictions(model)
    if samples > 0:  # one-step Monte-Carlo dropout bands of every test bar
        sampler = Predictor(KerasNetwork(model), dataset.scaler, spec)
        quantiles = sampler.sample_quantiles(
            visible, np.arange(fold.cutoff, fold.stop), 1, samples, config.train.seed
        )
        for name in BAND_COLUMNS:
            frame[name] = quantiles[name][:, 0]
    predictor = Predictor(Network.from_keras(model), dataset.scaler, spec)
    mc_frame = frame if samples > 0 else None
    bands = None
    if horizons:
        bands = band_frame(
            config, predictor, len(dataset.y_val), visible, fold, horizons, mc_frame, models
        )
    return FoldOutcome(
        fold=fold,
        predictions=frame,
        scaler=dataset.scaler.to_dict(),
        training_prices=values[: fold.cutoff],
        epochs_run=result.epochs_run,
        bands=bands,
        baselines=described,
        baseline_notes=tuple(notes),
        baseline_seconds={model.name: model.fit_seconds for model in models},
    )


_FITTED: dict[tuple[str, int, tuple[str, ...]], Predicted] = {}


def fold_baselines(values: np.ndarray, cutoff: int, names: tuple[str, ...]) -> Predicted:
    """The statistical models fitted on ``values[:cutoff]`` and their forecasts of the rows
    after it (``evaluation.baselines.fit_and_predict``), kept for the process: ``compare``
    backtests every family on the same folds, and the baselines are the same each time."""
    import hashlib

    values = np.ascontiguousarray(values, dtype="float64")
    key = (hashlib.sha256(values.tobytes()).hexdigest(), cutoff, tuple(names))
    if key not in _FITTED:
        if len(_FITTED) >= 32:  # a few series' folds at a time: a batch's do not pile up
            _FITTED.clear()
        _FITTED[key] = fit_and_predict(values, cutoff, names)
    return _FITTED[key]


def band_frame(
    config: Config,
    predictor: Predictor,
    n_block: int,
    visible: pd.DataFrame,
    fold: Fold,
    horizons: tuple[int, ...],
    mc_frame: pd.DataFrame | None,
    baselines: tuple[Fitted, ...] = (),
) -> pd.DataFrame | None:
    """The fold's bands on its test bars: for each horizon h (those asked for and every head
    of a direct model), every forecast made from an origin inside the test block h bars
    ahead (column ``conformal``, the model's deterministic forecast), with the conformal band
    around it, the random walk's band around the origin's close (``naive``, the naive
    forecast), (h = 1, with samples) the MC-dropout band, and each statistical baseline's
    forecast from the same origin (a column by its name) with its own prediction intervals
    (NAME_lo80 … NAME_hi95).

    Calibrated on the fold's validation block (its last ``n_block`` rows before the cutoff,
    which calibration alone reads); horizons whose residuals are too few for a 95 % band are
    left out. With ``forecast.adaptive`` the conformal and random-walk bands follow adaptive
    conformal inference over the fold's origins. None when the block is too small for the
    95 % band even one bar ahead.
    """
    from forecast.forecasting.conformal import bands

    calibrated = _fold_calibration(predictor, n_block, visible, fold, horizons)
    if calibrated is None:  # the block is too small for a 95 % band even one bar ahead
        return None
    calibration, horizons, residuals = calibrated
    test_origins = np.arange(fold.cutoff, fold.stop)  # (n,)
    paths = predictor.paths(visible, test_origins, max(horizons))[:, 0]  # (n, steps)
    prices = visible["price"].to_numpy(dtype="float64")
    widened = bands(paths, prices[test_origins - 1], calibration)  # each (n, steps)
    baseline_forecasts = {
        model.name: model.forecast(prices, test_origins, max(horizons)) for model in baselines
    }  # each name → median, lo80 … hi95, each (n, steps)
    stamps = format_timestamps(pd.DatetimeIndex(visible.index))
    parts = []
    for horizon in horizons:
        origins = test_origins[: len(test_origins) - horizon + 1]
        targets = origins + horizon - 1
        part = pd.DataFrame(
            {
                "fold": fold.index + 1,
                "horizon": horizon,
                "date": [stamps[row] for row in targets],
                "actual": prices[targets],
                "naive": prices[origins - 1],
                "conformal": paths[: len(origins), horizon - 1],
                **{
                    name if column == "median" else f"{name}_{column}": values[
                        : len(origins), horizon - 1
                    ]
                    for name, columns in baseline_forecasts.items()
                    for column, values in columns.items()
                },
            }
        )
        _add_bands(part, widened, residuals, horizon, config)
        if horizon == 1 and mc_frame is not None:
            for name in LEVELS:
                part[f"mc_dropout_lo{name}"] = mc_frame[f"lo{name}"].to_numpy()
                part[f"mc_dropout_hi{name}"] = mc_frame[f"hi{name}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _fold_calibration(
    predictor: Predictor, n_block: int, visible: pd.DataFrame, fold: Fold, horizons: tuple
) -> tuple[Any, tuple[int, ...], tuple[list, list]] | None:
    """(the fold's calibration, the horizons it can score, (model, naive) residuals per
    horizon), from its validation block before the cutoff alone; None when even one bar
    ahead has too few residuals for a 95 % band."""
    from forecast.forecasting.conformal import (
        calibration_from_residuals,
        calibration_residuals,
        minimum_residuals,
    )

    length = fold.stop - fold.cutoff
    horizons = tuple(sorted(set(horizons) | set(range(1, predictor.horizon + 1))))  # each head
    batched = predictor.batched_steps  # further ahead, features recomputed origin by origin
    horizons = tuple(h for h in horizons if h <= length and (batched is None or h <= batched))
    training = visible.iloc[: fold.cutoff]  # calibration never reads a test row
    model_residuals, naive_residuals, origins = calibration_residuals(
        predictor, training, n_block, max(horizons)
    )
    needed = minimum_residuals(max(LEVELS.values()))
    horizons = tuple(h for h in horizons if len(model_residuals[h - 1]) >= needed)
    if not horizons:
        return None
    steps = max(horizons)
    model_residuals, naive_residuals = model_residuals[:steps], naive_residuals[:steps]
    calibration = calibration_from_residuals(model_residuals, naive_residuals, origins, training)
    return calibration, horizons, (model_residuals, naive_residuals)


def _add_bands(
    part: pd.DataFrame, widened: dict, residuals: tuple[list, list], horizon: int, config: Config
) -> None:
    """The conformal and random-walk bands of one horizon's rows (adaptive ones with
    ``forecast.adaptive``) as columns METHOD_lo80 … METHOD_hi95."""
    from forecast.forecasting.conformal import adaptive_bands

    rows = len(part)
    for name, level in LEVELS.items():
        for method, prefix in (("conformal", ""), ("random_walk", "rw_")):
            for side in ("lo", "hi"):
                part[f"{method}_{side}{name}"] = widened[f"{prefix}{side}{name}"][
                    :rows, horizon - 1
                ]
        if not config.forecast.adaptive:
            continue
        for method, center, scores in (
            ("conformal", part["conformal"].to_numpy(), residuals[0]),
            ("random_walk", part["naive"].to_numpy(), residuals[1]),
        ):
            low, high, _ = adaptive_bands(
                center,
                part["actual"].to_numpy(),
                np.abs(scores[horizon - 1]),
                level,
                config.forecast.adaptive_step,
                horizon,
            )
            part[f"{method}_lo{name}"], part[f"{method}_hi{name}"] = low, high


@dataclass(frozen=True)
class BacktestResult:
    table: pd.DataFrame  # one row per fold × method, then the pooled "all" rows
    outcomes: list[FoldOutcome]
    summary: dict[str, Any]
    bands: pd.DataFrame | None = None  # band_table(): method × horizon, pooled over folds
    horizons: pd.DataFrame | None = None  # horizon_table(): point errors per horizon


def walk_forward(
    config: Config,
    prices: pd.Series | pd.DataFrame,
    folds: int = 5,
    samples: int = 0,
    echo: Callable[[str], None] = print,
    methods_label: str = "model",
) -> BacktestResult:
    """Walk-forward backtest of the configured model and the baselines on the same days."""
    plan = make_folds(len(prices), folds, config.data.test_fraction)
    outcomes = []
    for fold in plan:
        first, last = format_timestamps(
            pd.DatetimeIndex(prices.index)[[fold.cutoff, fold.stop - 1]]
        )
        echo(
            f"fold {fold.index + 1}/{folds}: training on {fold.cutoff} rows, testing "
            f"{first} → {last}"
        )
        started = time.perf_counter()
        outcome = run_fold(
            config,
            prices,
            fold,
            samples=samples,
            horizons=SCORED_HORIZONS,
            baselines=config.evaluation.baselines,
        )
        outcomes.append(replace(outcome, seconds=time.perf_counter() - started))
        if fold.index + 1 < folds:
            left = (folds - fold.index - 1) * np.mean([done.seconds for done in outcomes])
            echo(f"fold {fold.index + 1}/{folds} done; about {left:.0f} s left")
    fitted_everywhere = [
        name
        for name in config.evaluation.baselines
        if all(name in outcome.predictions for outcome in outcomes)
    ]
    table, summary, bands, horizons = backtest_summary(
        config, outcomes, ("model", *BASELINES, *fitted_everywhere), samples, methods_label
    )
    return BacktestResult(
        table=table, outcomes=outcomes, summary=summary, bands=bands, horizons=horizons
    )
