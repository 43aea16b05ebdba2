"""Walk-forward backtest against honest baselines.

K expanding-window folds over the end of the series. In fold k the training rows are every
row before its cut-off; the scaler is fitted again on exactly those rows, the model is
trained again, and the fold's test days (the next block) are predicted one step ahead, each
from a window ending the day before. Baselines are scored on the very same days:

    naive           tomorrow = today's close
    drift           today's close + the average daily change over the fold's training rows
    moving_average  the mean of the last ``lookback`` closes
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.config import Config
from forecast.data.interval import format_timestamps
from forecast.data.windows import Dataset, as_bars, prepare_dataset
from forecast.errors import UserError
from forecast.evaluation.bands import coverage
from forecast.evaluation.metrics import (
    best_lag,
    directional_accuracy,
    forecast_metrics,
    mase,
    optional,
    point_verdict,
)
from forecast.evaluation.significance import (
    SIGNIFICANCE,
    diebold_mariano,
    p_text,
    pesaran_timmermann,
    verdict_word,
)
from forecast.forecasting.conformal import SCORED_HORIZONS
from forecast.forecasting.forecaster import Forecaster, KerasNetwork
from forecast.model.reference import Network

BASELINES = ("naive", "drift", "moving_average")
PREDICT_BATCH = 1024
BAND_METHODS = ("conformal", "mc_dropout", "random_walk")


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
            f"--folds {folds}: the last {test_fraction:.0%} of {n_rows} rows is "
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


def method_metrics(
    actual: np.ndarray,
    predicted: np.ndarray,
    previous: np.ndarray,
    training_prices: np.ndarray,
    drift: np.ndarray | None = None,
) -> dict[str, Any]:
    """One method's one-step forecasts scored beside naive (the previous close) on the same
    bars, in time order: errors, the Diebold–Mariano p-values against naive (squared and
    absolute error) and, given ``drift``, against the drift forecast; directional accuracy
    with its Pesaran–Timmermann timing test, the up-rates it conditions on and how often the
    predicted direction flips; and the lag diagnostic."""
    point = forecast_metrics(actual, predicted, previous)
    share, _, days = directional_accuracy(actual, predicted, previous)
    timing = pesaran_timmermann(actual, predicted, previous)
    row = {
        "rmse": point["rmse"],
        "mae": point["mae"],
        "mape": point["mape"],
        "mase": mase(actual, predicted, training_prices),
        "rmse_ratio": point["rmse_ratio"],
        "dm_p_value": point["dm_p_value"],
        "dm_p_value_abs": point["dm_p_value_abs"],
    }
    if drift is not None:
        row["dm_p_value_drift"] = optional(diebold_mariano(actual, predicted, drift).p_value)
    row.update(
        directional_accuracy=share,
        direction_days=days,
        timing_p_value=optional(timing.p_value),
        up_share=timing.up_share,
        market_up_rate=timing.market_up_rate,
        direction_changes=timing.direction_changes,
        best_lag=best_lag(actual, predicted),
    )
    return row


def predict_test_prices(model: Any, dataset: Dataset) -> np.ndarray:
    """The Keras model's one-step predictions of every test bar, in prices.  (n_test,)"""
    scaled = model.predict(dataset.x_test, batch_size=PREDICT_BATCH, verbose=0)[:, 0]  # (n,)
    return dataset.to_prices(scaled)


@dataclass(frozen=True)
class FoldOutcome:
    fold: Fold
    predictions: pd.DataFrame  # date, actual, previous, model, naive, drift, moving_average, …
    scaler: dict[str, Any]
    training_prices: np.ndarray
    epochs_run: int = 0
    bands: pd.DataFrame | None = None  # band_frame(): one row per horizon × target bar


def run_fold(
    config: Config,
    prices: pd.Series | pd.DataFrame,
    fold: Fold,
    samples: int = 0,
    on_epoch: Callable[[dict[str, float], pd.DataFrame, bool], None] | None = None,
    horizons: tuple[int, ...] = (),
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
    """
    from forecast.model.build import build_model
    from forecast.model.train import fit_model, seed_everything

    visible = as_bars(prices).iloc[: fold.stop]  # rows after the fold's test block: never read
    dataset = prepare_dataset(
        visible,
        config.data.lookback,
        config.data.test_fraction,
        config.train.validation_fraction,
        target=config.data.target,
        n_test=fold.stop - fold.cutoff,
        label=f"fold {fold.index + 1}",
        features=config.data.features,
        horizon=config.model.horizon,
    )
    values = visible["price"].to_numpy()

    def predictions(model: Any) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "date": format_timestamps(dataset.test_dates),
                "actual": dataset.test_prices,
                "previous": dataset.previous_prices,
                "model": predict_test_prices(model, dataset),
                **baseline_predictions(values, fold.cutoff, fold.stop, config.data.lookback),
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
        sampler = Forecaster.from_config(config, KerasNetwork(model), dataset.scaler)
        quantiles = sampler.sample_quantiles(
            visible, np.arange(fold.cutoff, fold.stop), 1, samples, config.train.seed
        )
        for name in ("lo80", "hi80", "lo95", "hi95"):
            frame[name] = quantiles[name][:, 0]
    forecaster = Forecaster.from_config(config, Network.from_keras(model), dataset.scaler)
    bands = (
        band_frame(
            config,
            forecaster,
            len(dataset.y_val),
            visible,
            fold,
            horizons,
            frame if samples > 0 else None,
        )
        if horizons
        else None
    )
    return FoldOutcome(
        fold=fold,
        predictions=frame,
        scaler=dataset.scaler.to_dict(),
        training_prices=values[: fold.cutoff],
        epochs_run=result.epochs_run,
        bands=bands,
    )


def band_frame(
    config: Config,
    forecaster: Forecaster,
    n_block: int,
    visible: pd.DataFrame,
    fold: Fold,
    horizons: tuple[int, ...],
    mc_frame: pd.DataFrame | None,
) -> pd.DataFrame | None:
    """The fold's bands on its test bars: for each horizon h (those asked for and every head
    of a direct model), every forecast made from an origin inside the test block h bars
    ahead (column ``conformal``, the model's deterministic forecast), with the conformal band
    around it, the random walk's band around the origin's close (``close``, the naive
    forecast), and (h = 1, with samples) the MC-dropout band.

    Calibrated on the fold's validation block (its last ``n_block`` rows before the cutoff,
    which calibration alone reads); horizons
    whose residuals are too few for a 95 % band are left out. With ``forecast.adaptive`` the
    conformal and random-walk bands follow adaptive conformal inference over the fold's
    origins. None when the block is too small for the 95 % band even one bar ahead.
    """
    from forecast.forecasting.conformal import (
        LEVELS,
        adaptive_bands,
        bands,
        calibration_from_residuals,
        calibration_residuals,
        minimum_residuals,
    )

    length = fold.stop - fold.cutoff
    direct = forecaster.horizon
    horizons = tuple(sorted(set(horizons) | set(range(1, direct + 1))))  # every direct head
    batched = forecaster.batched_steps  # further ahead, features recomputed origin by origin
    horizons = tuple(h for h in horizons if h <= length and (batched is None or h <= batched))
    steps = max(horizons)
    training = visible.iloc[: fold.cutoff]  # calibration never reads a test row
    model_residuals, naive_residuals, origins = calibration_residuals(
        forecaster, training, n_block, steps
    )
    needed = minimum_residuals(max(LEVELS.values()))
    horizons = tuple(h for h in horizons if len(model_residuals[h - 1]) >= needed)
    if not horizons:  # the block is too small for a 95 % band even one bar ahead
        return None
    steps = max(horizons)
    model_residuals, naive_residuals = model_residuals[:steps], naive_residuals[:steps]
    calibration = calibration_from_residuals(model_residuals, naive_residuals, origins, training)
    test_origins = np.arange(fold.cutoff, fold.stop)  # (n,)
    paths = forecaster.paths(visible, test_origins, steps)[:, 0]  # (n, steps)
    prices = visible["price"].to_numpy(dtype="float64")
    stamps = format_timestamps(pd.DatetimeIndex(visible.index))
    widened = bands(paths, prices[test_origins - 1], calibration)  # each (n, steps)
    parts = []
    for horizon in horizons:
        origins = test_origins[: length - horizon + 1]
        targets = origins + horizon - 1
        points, close = paths[: len(origins), horizon - 1], prices[origins - 1]
        part = pd.DataFrame(
            {
                "fold": fold.index + 1,
                "horizon": horizon,
                "date": [stamps[row] for row in targets],
                "actual": prices[targets],
                "close": close,
                "conformal": points,
            }
        )
        for name, level in LEVELS.items():
            for method, prefix in (("conformal", ""), ("random_walk", "rw_")):
                for side in ("lo", "hi"):
                    part[f"{method}_{side}{name}"] = widened[f"{prefix}{side}{name}"][
                        : len(origins), horizon - 1
                    ]
            if config.forecast.adaptive:
                for method, center, residuals in (
                    ("conformal", points, model_residuals),
                    ("random_walk", close, naive_residuals),
                ):
                    low, high, _ = adaptive_bands(
                        center,
                        prices[targets],
                        np.abs(residuals[horizon - 1]),
                        level,
                        config.forecast.adaptive_step,
                        horizon,
                    )
                    part[f"{method}_lo{name}"], part[f"{method}_hi{name}"] = low, high
            if horizon == 1 and mc_frame is not None:
                part[f"mc_dropout_lo{name}"] = mc_frame[f"lo{name}"].to_numpy()
                part[f"mc_dropout_hi{name}"] = mc_frame[f"hi{name}"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _score(
    frame: pd.DataFrame, methods: tuple[str, ...], fold: Any, training_prices: np.ndarray
) -> list[dict[str, Any]]:
    """One row of metrics per method on the bars of ``frame`` (in time order)."""
    rows = []
    for method in methods:
        row = {
            "fold": fold,
            "method": method,
            "start": frame["date"].iloc[0],
            "end": frame["date"].iloc[-1],
            "n": len(frame),
            **method_metrics(
                frame["actual"].to_numpy(),
                frame[method].to_numpy(),
                frame["previous"].to_numpy(),
                training_prices,
                drift=frame["drift"].to_numpy(),
            ),
        }
        if method == "model" and "lo80" in frame:
            row["coverage80"] = coverage(frame["actual"], frame["lo80"], frame["hi80"])
            row["coverage95"] = coverage(frame["actual"], frame["lo95"], frame["hi95"])
        rows.append(row)
    return rows


def score_fold(outcome: FoldOutcome, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    return _score(outcome.predictions, methods, outcome.fold.index + 1, outcome.training_prices)


def overall_rows(
    outcomes: list[FoldOutcome], fold_rows: pd.DataFrame, methods: tuple[str, ...]
) -> list[dict[str, Any]]:
    """All folds' days pooled. Each fold's MASE has its own in-sample scale, so the pooled
    MASE is the day-weighted mean of the folds' MASE."""
    pooled = pd.concat([outcome.predictions for outcome in outcomes], ignore_index=True)
    rows = _score(pooled, methods, "all", outcomes[0].training_prices)
    for row in rows:
        per_fold = fold_rows[fold_rows["method"] == row["method"]]
        row["mase"] = float(np.average(per_fold["mase"], weights=per_fold["n"]))
    return rows


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
        outcomes.append(run_fold(config, prices, fold, samples=samples, horizons=SCORED_HORIZONS))
    methods = ("model", *BASELINES)
    fold_rows = pd.DataFrame([row for outcome in outcomes for row in score_fold(outcome, methods)])
    table = pd.concat(
        [fold_rows, pd.DataFrame(overall_rows(outcomes, fold_rows, methods))], ignore_index=True
    )
    model_folds = fold_rows[fold_rows["method"] == "model"]
    overall = table[(table["fold"] == "all")].set_index("method")
    model = plain(overall.loc["model"].to_dict())
    summary = {
        "folds": folds,
        "samples": samples,
        "target": config.data.target,
        "model": methods_label,
        "folds_lower_rmse": int((model_folds["rmse_ratio"] < 1).sum()),
        "folds_beat_naive": int((model_folds["dm_p_value"].astype("float64") < SIGNIFICANCE).sum()),
        "overall": {method: plain(overall.loc[method].to_dict()) for method in methods},
        "versus_naive": verdict_word(_p(model["dm_p_value"])),
        "versus_drift": verdict_word(_p(model["dm_p_value_drift"])),
    }
    summary["beat_naive"] = summary["versus_naive"] == "beats"
    bands, horizons = band_table(outcomes), horizon_table(outcomes)
    if bands is not None:
        summary.update(
            intervals=config.forecast.intervals,
            adaptive=config.forecast.adaptive,
            bands=[plain(row) for row in bands.to_dict(orient="records")],
        )
    if horizons is not None:
        summary["horizons"] = [plain(row) for row in horizons.to_dict(orient="records")]
    return BacktestResult(
        table=table, outcomes=outcomes, summary=summary, bands=bands, horizons=horizons
    )


def horizon_table(outcomes: list[FoldOutcome]) -> pd.DataFrame | None:
    """The model's point forecasts h bars ahead beside the naive forecast (the origin's
    close) on the same pooled bars, per horizon (horizons.csv)."""
    frames = [outcome.bands for outcome in outcomes if outcome.bands is not None]
    if not frames:
        return None
    rows = []
    for horizon, part in pd.concat(frames, ignore_index=True).groupby("horizon", sort=True):
        actual = part["actual"].to_numpy()
        metrics = forecast_metrics(
            actual, part["conformal"].to_numpy(), part["close"].to_numpy(), horizon=int(horizon)
        )
        rows.append(
            {
                "horizon": int(horizon),
                "n": len(part),
                "rmse": metrics["rmse"],
                "naive_rmse": metrics["naive_rmse"],
                "rmse_ratio": metrics["rmse_ratio"],
                "mae": metrics["mae"],
                "naive_mae": metrics["naive_mae"],
                "dm_p_value": metrics["dm_p_value"],
                "dm_p_value_abs": metrics["dm_p_value_abs"],
            }
        )
    return pd.DataFrame(rows)


def band_table(outcomes: list[FoldOutcome]) -> pd.DataFrame | None:
    """Every band method scored on the same pooled test bars, per horizon (bands.csv)."""
    from forecast.evaluation.bands import score_bands

    frames = [outcome.bands for outcome in outcomes if outcome.bands is not None]
    if not frames:
        return None
    pooled = pd.concat(frames, ignore_index=True)
    rows = []
    for horizon, part in pooled.groupby("horizon", sort=True):
        for row in score_bands(part, BAND_METHODS, int(horizon)):
            rows.append({"horizon": int(horizon), **row})
    return pd.DataFrame(rows)


def _p(value: Any) -> float:
    return math.nan if value is None else float(value)


def backtest_verdict(summary: dict[str, Any]) -> str:
    """The plain last line: is the model better than the naive forecast (and than drift),
    with the test that says so, and is its band better than the random walk's?"""
    model = summary["overall"]["model"]
    n = model.get("n")
    line = point_verdict(
        model["rmse_ratio"],
        model["dm_p_value"],
        f"The {summary['model']}",
        "the naive forecast",
        n=n,
    )
    line += (
        f" over all folds; lower RMSE in {summary['folds_lower_rmse']} of "
        f"{summary['folds']} folds, significantly in {summary['folds_beat_naive']}"
    )
    drift = summary["versus_drift"]
    if drift != "beats":
        drift_p = _p(model.get("dm_p_value_drift"))
        test = f"DM {p_text(drift_p)}" if math.isfinite(drift_p) else "untestable"
        line += f". It is {drift} the drift forecast ({test})" + (
            ": its edge over naive is the average drift" if summary["beat_naive"] else ""
        )
    line += "."
    scored = summary.get("bands") and summary.get("intervals") != "none"
    return line + (f" {band_verdict(summary)}" if scored else "")


def band_verdict(summary: dict[str, Any]) -> str:
    """The configured band method against the random walk's band, horizon by horizon: the
    verdict of the per-bar interval scores' DM test at 80 and 95 %, and any coverage outside
    tolerance."""
    method = summary.get("intervals", "conformal")
    rows = [row for row in summary["bands"] if row["method"] == method]
    walk = {row["horizon"]: row for row in summary["bands"] if row["method"] == "random_walk"}
    if not rows:
        return "No model band was scored (mc_dropout needs --samples)."
    parts = []
    for row in rows:
        other = walk[row["horizon"]]
        p_values = "/".join(
            "-" if row.get(f"dm_p_value{name}") is None else f"{row[f'dm_p_value{name}']:.2g}"
            for name in ("80", "95")
        )
        text = (
            f"h={row['horizon']}: {row['verdict']} (interval score {row['winkler95']:.3g} "
            f"vs {other['winkler95']:.3g} at 95 %, DM p {p_values} at 80/95 %)"
        )
        if row.get("coverage_note"):
            text += f", {row['coverage_note']}"
        parts.append(text)
    adaptive = " adaptive" if summary.get("adaptive") else ""
    return f"Its{adaptive} {method} band vs the random walk's: " + "; ".join(parts) + "."


def format_band_table(bands: pd.DataFrame) -> str:
    """The band scores as text: one line per horizon × method, with the verdict against the
    random walk's band."""
    lines = [
        f"{'h':>3} {'band':<13}{'n':>6}{'cov80':>8}{'cov95':>8}{'width95/rw':>12}"
        f"{'score80':>10}{'score95':>10}{'DM p 80/95':>14}  verdict"
    ]
    for _, row in bands.iterrows():
        p_values = "/".join(
            "-" if pd.isna(row.get(f"dm_p_value{name}")) else f"{row[f'dm_p_value{name}']:.2g}"
            for name in ("80", "95")
        )
        lines.append(
            f"{int(row['horizon']):>3} {row['method']:<13}{int(row['n']):>6}"
            f"{row['coverage80']:>8.1%}{row['coverage95']:>8.1%}"
            f"{row['width95_vs_rw']:>12.3f}{row['winkler80']:>10.4g}"
            f"{row['winkler95']:>10.4g}{p_values:>14}  "
            f"{row['verdict'] if isinstance(row['verdict'], str) else ''}"
        )
    return "\n".join(lines)


def format_backtest_table(table: pd.DataFrame) -> str:
    """The pooled rows as text: one line per method."""
    overall = table[table["fold"] == "all"]
    lines = [
        f"{'method':<16}{'RMSE':>10}{'MAE':>10}{'MAPE %':>8}{'MASE':>8}{'ratio':>8}"
        f"{'DM p':>8}{'dir.acc':>9}{'up %':>7}{'timing p':>10}{'lag':>5}"
    ]

    def number(value: Any, width: int, digits: int) -> str:
        return f"{value:>{width}.{digits}f}" if pd.notna(value) else f"{'-':>{width}}"

    for _, row in overall.iterrows():
        lines.append(
            f"{row['method']:<16}{row['rmse']:>10.4f}{row['mae']:>10.4f}"
            f"{row['mape']:>8.2f}{row['mase']:>8.3f}{row['rmse_ratio']:>8.3f}"
            f"{number(row['dm_p_value'], 8, 3)}"
            f"{number(row['directional_accuracy'], 9, 3)}"
            f"{number(row['up_share'] * 100, 7, 1)}"
            f"{number(row['timing_p_value'], 10, 3)}{int(row['best_lag']):>5d}"
        )
        if "coverage80" in row and pd.notna(row.get("coverage80")):
            lines.append(
                f"{'':<16}80% band holds {row['coverage80']:.1%} of test bars, "
                f"95% band {row['coverage95']:.1%}"
            )
    return "\n".join(lines)


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values: numpy scalars to Python, NaN to None."""
    plain = {}
    for key, value in values.items():
        if isinstance(value, (np.generic,)):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        plain[key] = value
    return plain
