"""Walk-forward backtest and model-family comparison against honest baselines.

K expanding-window folds over the end of the series. In fold k the training rows are every
row before its cut-off; the scaler is fitted again on exactly those rows, the model is
trained again, and the fold's test days (the next block) are predicted one step ahead, each
from a window ending the day before. Baselines are scored on the very same days:

    naive           tomorrow = today's close
    drift           today's close + the average daily change over the fold's training rows
    moving_average  the mean of the last ``lookback`` closes
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.config import Config, DenseLayerConfig, RecurrentLayerConfig
from forecast.data.interval import format_timestamps
from forecast.data.windows import Dataset, as_bars, prepare_dataset, scaler_to_dict
from forecast.errors import UserError
from forecast.report.metrics import (band_coverage, best_lag, binomial_p_value,
                                     directional_accuracy, mae, mape, mase, rmse, theil_u)

BASELINES = ("naive", "drift", "moving_average")
FAMILIES = ("lstm", "gru", "simple_rnn", "mlp")


@dataclass(frozen=True)
class Fold:
    index: int
    cutoff: int  # first test row
    stop: int  # one past the last test row


def make_folds(n_rows: int, folds: int, test_fraction: float) -> list[Fold]:
    """K consecutive test blocks covering the last ``test_fraction`` of the rows."""
    block = int(n_rows * test_fraction) // folds
    if block < 1:
        raise UserError(f"--folds {folds}: the last {test_fraction:.0%} of {n_rows} rows is "
                        f"too short for {folds} folds; use fewer folds or a longer series")
    first = n_rows - folds * block
    return [Fold(k, first + k * block, first + (k + 1) * block) for k in range(folds)]


def baseline_predictions(prices: np.ndarray, cutoff: int, stop: int, lookback: int
                         ) -> dict[str, np.ndarray]:
    """One-step baselines for rows cutoff..stop-1, from data up to the day before each."""
    prices = np.asarray(prices, dtype="float64")
    previous = prices[cutoff - 1:stop - 1]  # (n,)
    average_change = (prices[cutoff - 1] - prices[0]) / (cutoff - 1)  # training rows only
    windows = np.lib.stride_tricks.sliding_window_view(prices, lookback)  # (N-L+1, L)
    moving = windows[cutoff - lookback:stop - lookback].mean(axis=1)  # (n,)
    return {"naive": previous, "drift": previous + average_change, "moving_average": moving}


def method_metrics(actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray,
                   training_prices: np.ndarray) -> dict[str, Any]:
    share, hits, days = directional_accuracy(actual, predicted, previous)
    return {"rmse": rmse(actual, predicted), "mae": mae(actual, predicted),
            "mape": mape(actual, predicted),
            "mase": mase(actual, predicted, training_prices),
            "theil_u": theil_u(actual, predicted, previous),
            "directional_accuracy": share, "direction_days": days,
            "direction_p_value": binomial_p_value(hits, days),
            "best_lag": best_lag(actual, predicted)}


def family_config(config: Config, family: str) -> Config:
    """The config's stack with every recurrent layer turned into ``family`` (same units,
    same dropout layers); ``mlp`` uses Dense(units, relu) on the flattened window."""
    layers = []
    for layer in config.model.layers:
        if isinstance(layer, RecurrentLayerConfig):
            if family == "mlp":
                layer = DenseLayerConfig(type="dense", units=layer.units, activation="relu")
            else:
                layer = replace(layer, type=family, unit_forget_bias=None, reset_after=None,
                                recurrent_activation=(None if family == "simple_rnn" else
                                                      layer.recurrent_activation))
        layers.append(layer)
    family_model = replace(config.model, layers=tuple(layers))
    family_model.validate("model")
    return replace(config, model=family_model)


def mc_dropout_bands(model: Any, dataset: Dataset, samples: int, seed: int = 0
                     ) -> dict[str, np.ndarray]:
    """80%/95% one-step bands per test day: all days × samples in one batched call."""
    import tensorflow as tf

    from forecast.data.windows import scaled_to_prices
    from forecast.model.future import QUANTILES
    from forecast.model.train import reseed_dropout

    reseed_dropout(model, seed)
    n_test = len(dataset.y_test)
    batch = np.repeat(dataset.x_test, samples, axis=0)  # (n_test*S, L, F)
    scaled = np.asarray(model(tf.constant(batch), training=True))[:, 0]  # (n_test*S,)
    previous = np.repeat(dataset.previous_prices, samples)  # (n_test*S,)
    prices = scaled_to_prices(dataset.scaler, scaled, previous, dataset.target,
                              dataset.target_column)
    prices = prices.reshape(n_test, samples)  # (n_test, S)
    return {name: np.quantile(prices, q, axis=1) for name, q in QUANTILES.items()
            if name != "median"}


@dataclass(frozen=True)
class FoldOutcome:
    fold: Fold
    predictions: pd.DataFrame  # date, actual, previous, model, naive, drift, moving_average, …
    scaler: dict[str, Any]
    training_prices: np.ndarray


def run_fold(config: Config, prices: pd.Series | pd.DataFrame, fold: Fold, samples: int = 0
             ) -> FoldOutcome:
    """Refit scaler and model on the fold's training rows; predict its test bars.

    prices: the price Series, or the bars frame (price and the columns features read)."""
    from forecast.model.build import build_model
    from forecast.model.train import fit_model, seed_everything

    visible = as_bars(prices).iloc[:fold.stop]  # rows after the fold's test block: never read
    dataset = prepare_dataset(visible, config.data.lookback, config.data.test_fraction,
                              config.train.validation_fraction, target=config.data.target,
                              n_test=fold.stop - fold.cutoff,
                              label=f"fold {fold.index + 1}", features=config.data.features)
    seed_everything(config.train.seed)
    model = build_model(config, n_features=len(config.data.features))
    fit_model(model, dataset, config.train)
    scaled = model.predict(dataset.x_test, batch_size=1024, verbose=0)[:, 0]  # (n_test,)
    values = visible["price"].to_numpy()
    frame = pd.DataFrame({"date": format_timestamps(dataset.test_dates),
                          "actual": dataset.test_prices, "previous": dataset.previous_prices,
                          "model": dataset.to_prices(scaled),
                          **baseline_predictions(values, fold.cutoff, fold.stop,
                                                 config.data.lookback)})
    if samples > 0:
        for name, band in mc_dropout_bands(model, dataset, samples,
                                                config.train.seed).items():
            frame[name] = band
    return FoldOutcome(fold=fold, predictions=frame, scaler=scaler_to_dict(dataset.scaler),
                       training_prices=values[:fold.cutoff])


def _score(frame: pd.DataFrame, methods: tuple[str, ...], fold: Any,
           training_prices: np.ndarray) -> list[dict[str, Any]]:
    """One row of metrics per method on the days of ``frame``."""
    rows = []
    for method in methods:
        row = {"fold": fold, "method": method, "start": frame["date"].iloc[0],
               "end": frame["date"].iloc[-1], "n": len(frame),
               **method_metrics(frame["actual"].to_numpy(), frame[method].to_numpy(),
                                frame["previous"].to_numpy(), training_prices)}
        if method == "model" and "lo80" in frame:
            row["coverage80"] = band_coverage(frame["actual"], frame["lo80"], frame["hi80"])
            row["coverage95"] = band_coverage(frame["actual"], frame["lo95"], frame["hi95"])
        rows.append(row)
    return rows


def score_fold(outcome: FoldOutcome, methods: tuple[str, ...]) -> list[dict[str, Any]]:
    return _score(outcome.predictions, methods, outcome.fold.index + 1,
                  outcome.training_prices)


def overall_rows(outcomes: list[FoldOutcome], fold_rows: pd.DataFrame,
                 methods: tuple[str, ...]) -> list[dict[str, Any]]:
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


def backtest(config: Config, prices: pd.Series | pd.DataFrame, folds: int = 5,
             samples: int = 0,
             echo: Callable[[str], None] = print, methods_label: str = "model"
             ) -> BacktestResult:
    """Walk-forward backtest of the configured model and the baselines on the same days."""
    plan = make_folds(len(prices), folds, config.data.test_fraction)
    outcomes = []
    for fold in plan:
        first, last = format_timestamps(pd.DatetimeIndex(prices.index)[[fold.cutoff,
                                                                        fold.stop - 1]])
        echo(f"fold {fold.index + 1}/{folds}: training on {fold.cutoff} rows, testing "
             f"{first} → {last}")
        outcomes.append(run_fold(config, prices, fold, samples=samples))
    methods = ("model", *BASELINES)
    fold_rows = pd.DataFrame([row for outcome in outcomes
                              for row in score_fold(outcome, methods)])
    table = pd.concat([fold_rows, pd.DataFrame(overall_rows(outcomes, fold_rows, methods))],
                      ignore_index=True)
    model_folds = fold_rows[fold_rows["method"] == "model"]
    overall = table[(table["fold"] == "all")].set_index("method")
    summary = {"folds": folds, "samples": samples, "target": config.data.target,
               "model": methods_label,
               "folds_model_beat_naive": int((model_folds["theil_u"] < 1).sum()),
               "overall": {method: plain(overall.loc[method].to_dict()) for method in methods},
               "beat_naive": bool(overall.loc["model", "theil_u"] < 1)}
    return BacktestResult(table=table, outcomes=outcomes, summary=summary)


def verdict(summary: dict[str, Any]) -> str:
    """The plain last line: did the model beat the naive forecast?"""
    u = summary["overall"]["model"]["theil_u"]
    return (f"The {summary['model']} {'BEAT' if summary['beat_naive'] else 'did NOT beat'} "
            f"the naive forecast: Theil's U {u:.3f} over all folds "
            f"(better in {summary['folds_model_beat_naive']} of {summary['folds']} folds).")


def format_backtest_table(table: pd.DataFrame) -> str:
    """The pooled rows as text: one line per method."""
    overall = table[table["fold"] == "all"]
    lines = [f"{'method':<16}{'RMSE':>10}{'MAE':>10}{'MAPE %':>8}{'MASE':>8}{'U':>8}"
             f"{'dir.acc':>9}{'p':>8}{'lag':>5}"]
    for _, row in overall.iterrows():
        accuracy = row["directional_accuracy"]
        accuracy_text = f"{accuracy:>9.3f}" if pd.notna(accuracy) else f"{'-':>9}"
        p_value = row["direction_p_value"]
        p_text = f"{p_value:>8.3f}" if pd.notna(p_value) else f"{'-':>8}"
        lines.append(f"{row['method']:<16}{row['rmse']:>10.4f}{row['mae']:>10.4f}"
                     f"{row['mape']:>8.2f}{row['mase']:>8.3f}{row['theil_u']:>8.3f}"
                     f"{accuracy_text}{p_text}{int(row['best_lag']):>5d}")
        if "coverage80" in row and pd.notna(row.get("coverage80")):
            lines.append(f"{'':<16}80% band holds {row['coverage80']:.1%} of test bars, "
                         f"95% band {row['coverage95']:.1%}")
    return "\n".join(lines)


def compare(config: Config, prices: pd.Series | pd.DataFrame, families: tuple[str, ...],
            folds: int = 5,
            echo: Callable[[str], None] = print) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Backtest each model family on the same folds; baselines once (they are shared)."""
    rows, results = [], {}
    for family in families:
        echo(f"== {family} ==")
        result = backtest(family_config(config, family), prices, folds=folds, echo=echo,
                          methods_label=family)
        results[family] = result
        overall = result.table[result.table["fold"] == "all"].set_index("method")
        rows.append({"method": family, **plain(overall.loc["model"].to_dict())})
    baseline_table = next(iter(results.values())).table
    overall = baseline_table[baseline_table["fold"] == "all"].set_index("method")
    for baseline in BASELINES:
        rows.append({"method": baseline, **plain(overall.loc[baseline].to_dict())})
    table = pd.DataFrame(rows).drop(columns=["fold"], errors="ignore")
    best = table.loc[table["rmse"].idxmin(), "method"]
    summary = {"folds": folds, "families": list(families), "best_by_rmse": best,
               "rows": [plain(row) for row in table.to_dict(orient="records")]}
    return table, summary


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
