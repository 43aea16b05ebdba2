"""Model-family comparison: the configured stack as LSTM, GRU, SimpleRNN, an MLP and a direct
multi-step LSTM, each backtested on the same folds beside the same baselines (the statistical
ones fitted once per fold)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from forecast.base.baselines import CLASSICAL
from forecast.base.values import plain
from forecast.config import Config, DenseLayerConfig, RecurrentLayerConfig
from forecast.evaluation.backtest import BASELINES, walk_forward
from forecast.evaluation.significance import verdict_word

FAMILIES = ("lstm", "gru", "simple_rnn", "mlp", "lstm_direct")
DIRECT_HORIZON = 20  # lstm_direct: one output per scored horizon, 1 … 20


def family_config(config: Config, family: str) -> Config:
    """The config's stack with every recurrent layer turned into ``family`` (same units,
    same dropout layers); ``mlp`` uses Dense(units, relu) on the flattened window;
    ``lstm_direct`` is the LSTM stack with a direct multi-step output (model.horizon 20)."""
    if family == "lstm_direct":
        direct = family_config(config, "lstm")
        return replace(direct, model=replace(direct.model, horizon=DIRECT_HORIZON))
    layers = []
    for layer in config.model.layers:
        if isinstance(layer, RecurrentLayerConfig):
            if family == "mlp":
                layer = DenseLayerConfig(type="dense", units=layer.units, activation="relu")
            else:
                layer = replace(
                    layer,
                    type=family,
                    unit_forget_bias=None,
                    reset_after=None,
                    recurrent_activation=(
                        None if family == "simple_rnn" else layer.recurrent_activation
                    ),
                )
        layers.append(layer)
    family_model = replace(config.model, layers=tuple(layers))
    family_model.validate("model")
    return replace(config, model=family_model)


def compare_families(
    config: Config,
    prices: pd.Series | pd.DataFrame,
    families: tuple[str, ...],
    folds: int = 5,
    echo: Callable[[str], None] = print,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Backtest each model family on the same folds; baselines once (they are shared).
    Each row carries its Diebold–Mariano p-value against naive and its verdict;
    rmse_ratio_h5 / _h20: each family's forecasts 5 and 20 bars ahead over the naive's."""
    rows, results = [], {}
    for family in families:
        echo(f"== {family} ==")
        result = walk_forward(
            family_config(config, family), prices, folds=folds, echo=echo, methods_label=family
        )
        results[family] = result
        overall = result.table[result.table["fold"] == "all"].set_index("method")
        ahead = {
            f"rmse_ratio_h{row['horizon']}": row["rmse_ratio"]
            for row in result.summary.get("horizons", [])
            if row["horizon"] in (5, 20)
        }
        rows.append({"method": family, **plain(overall.loc["model"].to_dict()), **ahead})
    baseline_table = next(iter(results.values())).table
    overall = baseline_table[baseline_table["fold"] == "all"].set_index("method")
    for baseline in [*BASELINES, *(name for name in CLASSICAL if name in overall.index)]:
        rows.append({"method": baseline, **plain(overall.loc[baseline].to_dict())})
    table = pd.DataFrame(rows).drop(columns=["fold"], errors="ignore")
    table["versus_naive"] = [
        verdict_word(math.nan if pd.isna(p) else p) for p in table["dm_p_value"]
    ]
    best = table.loc[table["rmse"].idxmin(), "method"]
    beating = [
        str(method)
        for method, word in zip(table["method"], table["versus_naive"])
        if word == "beats"
    ]
    summary = {
        "folds": folds,
        "families": list(families),
        "best_by_rmse": best,
        "beat_naive": beating,
        "rows": [plain(row) for row in table.to_dict(orient="records")],
    }
    return table, summary


def compare_verdict(summary: dict[str, Any]) -> str:
    """The last line: the lowest RMSE, and which methods beat naive by the DM test."""
    beating = summary["beat_naive"]
    return (
        f"lowest RMSE: {summary['best_by_rmse']}; beats the naive forecast significantly "
        f"(DM p < 0.05, squared error): {', '.join(beating) if beating else 'none'}"
    )
