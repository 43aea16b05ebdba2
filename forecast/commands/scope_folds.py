"""compare --tickers --folds K: the global model beside one network per ticker over K
walk-forward folds cut on the panel's calendar, the same dates for every ticker and both
scopes.

The last ``data.test_fraction`` of the calendar (the union of the tickers' dates) is cut into
K consecutive test blocks, as ``backtest`` cuts one series. For each fold every ticker's bars
end where the block ends, the block's first date is the test cut (``data.test_start``), and
both scopes are fitted and judged as ``judge_scopes`` does; nothing of a later block is seen.
The folds are independent, so they can run at once as Ray tasks (``compare --ray``).
The folds' test forecasts are then judged together: per (ticker, scope) on all its test bars,
pooled per date, across the cross-section, and head to head.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.values import json_ready
from forecast.commands.judging import COLUMNS
from forecast.commands.result import Result
from forecast.commands.scopes import (
    SCOPES,
    SIGNALS,
    board,
    book_columns,
    global_vs_local,
    head_to_head_p_value,
    judge_scopes,
    scope_row,
    scopes_verdict,
)
from forecast.config import Config

Mapper = Callable[[Callable[..., Any], list[tuple]], list[Any]]


def judge_fold(config: Config, visible: Mapping[str, Any]) -> dict[str, Any]:
    """One fold's two scopes fitted and judged: its errors, seconds and test predictions
    (plain values, no network: what a Ray task hands back)."""
    judged = judge_scopes(config, visible)
    return {
        "errors": judged.summary["errors"],
        "train_seconds": judged.summary["train_seconds"],
        "predictions": judged.detail["predictions"],
    }


def judge_scope_folds(
    config: Config,
    series: Mapping[str, Any],
    folds: int,
    errors: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
    mapper: Mapper | None = None,
) -> Result:
    """``judge_scopes`` over ``folds`` walk-forward folds of the panel's calendar, judged
    on all their test bars together; nothing is written. ``mapper``: runs ``judge_fold``
    over the folds' arguments and returns the values in order (Ray tasks, from the
    scale-out engine; default: one fold after the other in this process)."""
    from forecast.data.interval import format_timestamps
    from forecast.evaluation.backtest import make_folds
    from forecast.forecasting.global_fit import markets_of

    say = echo or (lambda line: None)
    markets = markets_of(config, series)
    dates = pd.DatetimeIndex(
        sorted(set().union(*(market.bars.index for market in markets.values())))
    )
    plan = make_folds(len(dates), folds, config.data.test_fraction)
    predictions: dict[str, dict[str, list[pd.DataFrame]]] = {scope: {} for scope in SCOPES}
    seconds = dict.fromkeys(SCOPES, 0.0)
    errors = dict(errors or {})
    cuts, arguments = [], []
    for fold in plan:
        cut = format_timestamps(dates[[fold.cutoff]])[0]
        stop = dates[fold.stop] if fold.stop < len(dates) else None
        visible = {
            ticker: market
            if stop is None
            else replace(market, bars=market.bars[market.bars.index < stop])
            for ticker, market in markets.items()
        }
        cuts.append(cut)
        arguments.append((replace(config, data=replace(config.data, test_start=cut)), visible))
    if mapper is None:
        outcomes = []
        for number, (cut, fold_arguments) in enumerate(zip(cuts, arguments, strict=True)):
            say(f"fold {number + 1} of {folds}: tested from {cut}")
            outcomes.append(judge_fold(*fold_arguments))
    else:
        say(f"{folds} folds at once (Ray tasks), tested from {', '.join(cuts)}")
        outcomes = mapper(judge_fold, arguments)
    for outcome in outcomes:
        errors.update(outcome["errors"])
        for scope in SCOPES:
            seconds[scope] += outcome["train_seconds"][scope]
            for ticker, frame in outcome["predictions"][scope].items():
                predictions[scope].setdefault(ticker, []).append(frame)
    joined = {
        scope: {ticker: pd.concat(frames, ignore_index=True) for ticker, frames in found.items()}
        for scope, found in predictions.items()
    }
    first_cut = dates[plan[0].cutoff]
    closes = {ticker: market.bars["price"] for ticker, market in markets.items()}
    training = {
        ticker: prices[prices.index < first_cut].to_numpy() for ticker, prices in closes.items()
    }
    table = _leaderboard(joined, training, errors)
    scopes, books, cross = _scope_table(config, joined, closes, table, seconds)
    summary = {
        "folds": folds,
        "fold_starts": cuts,
        "tickers": sorted(set(joined["global"])),
        "errors": errors,
        "scopes": cross,
        "train_seconds": seconds,
        "global_vs_local": global_vs_local(joined),
    }
    summary["verdict"] = f"Over {folds} walk-forward folds: " + scopes_verdict(summary, scopes)
    return Result(
        folder=None,
        table=table,
        summary=json_ready(summary),
        verdict=summary["verdict"],
        config=config,
        detail={"scopes": scopes, "books": books, "predictions": joined},
    )


def _leaderboard(
    joined: dict[str, dict[str, pd.DataFrame]],
    training: dict[str, np.ndarray],
    errors: dict[str, str],
) -> pd.DataFrame:
    """A row per (ticker, scope) on all its folds' test bars, with BH across the tickers,
    and the head-to-head DM against the other scope on the bars both forecast."""
    from forecast.evaluation.metrics import rmse
    from forecast.evaluation.scoring import method_metrics
    from forecast.evaluation.significance import benjamini_hochberg

    parts = []
    for scope in SCOPES:
        other = SCOPES[1 - SCOPES.index(scope)]
        rows = []
        for ticker, frame in sorted(joined[scope].items()):
            actual = frame["actual"].to_numpy(dtype="float64")
            naive = frame["naive"].to_numpy(dtype="float64")
            scored = method_metrics(
                actual, frame["predicted"].to_numpy(dtype="float64"), naive, training[ticker]
            )
            row = {"ticker": ticker, "scope": scope, "status": "ok", "n_test": len(frame)}
            row.update({key: scored.get(key) for key in COLUMNS if key in scored})
            row["naive_rmse"] = rmse(actual, naive)
            row["head_to_head_p_value"] = head_to_head_p_value(frame, joined[other].get(ticker))
            rows.append(row)
        table = pd.DataFrame(rows)
        for column in ("dm_p_value", "timing_p_value", "head_to_head_p_value"):
            values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype="float64")
            table[column.replace("p_value", "q_value")] = benjamini_hochberg(values)
        parts.append(table)
    return board(parts, errors)


def _scope_table(
    config: Config,
    joined: dict[str, dict[str, pd.DataFrame]],
    closes: dict[str, pd.Series],
    table: pd.DataFrame,
    seconds: dict[str, float],
) -> tuple[pd.DataFrame, dict[str, pd.Series], dict[str, Any]]:
    """(a row per scope and signal as ``scopes.scope_table`` has them, each book's net return
    per date, each scope's cross-section) on all the folds' test dates."""
    from forecast.evaluation.cross_section import judged_panel, panel_of

    rows, books, cross, signals = [], {}, {}, {}
    for scope in SCOPES:
        tested = table[(table["scope"] == scope) & (table["status"] == "ok")]
        found = panel_of(joined[scope], closes)
        judged = {}
        if found is not None:
            judged, series = judged_panel(
                *found, config.evaluation.long_short, config.evaluation.cost_bps
            )
            books[scope] = series["model_net"]
            for name in SIGNALS:
                signals.setdefault(name, (series[f"{name}_net"], judged["books"][name]))
        cross[scope] = judged or None
        rows.append(scope_row(scope, tested, judged, seconds[scope]))
    for name, (series, book) in signals.items():
        rows.append({"method": name, **book_columns(book)})
        books[name] = series
    frame = pd.DataFrame(rows).astype({"tickers": "Int64", "beat_naive_bh": "Int64"})
    return frame, books, cross
