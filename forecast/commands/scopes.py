"""compare --tickers: one network for the watch list (``model.scope: global``) beside one
network per ticker (``local``), the same config otherwise, on the same tickers, dates and test
bars (both cut at the panel's dates, ``forecasting.global_fit``), into one folder:

    compare.csv    the leaderboard: a row per (ticker, scope), each judged as a single run
                   (beside naive, drift and the statistical baselines) with its Benjamini–
                   Hochberg q-values across the tickers, and the head-to-head DM of the
                   scope against the other on that ticker's test bars
    scopes.csv     a row per scope and per classic signal (reversal, momentum): tickers
                   beating naive after BH, the pooled DM against naive, the rank IC, the
                   long–short book after costs, and the seconds the fit took
    compare.json   the summary: both judgements, the pooled head-to-head, the verdict
    scopes.png, report.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base import atomic
from forecast.base.values import json_ready
from forecast.commands.common import load_tickers
from forecast.commands.judging import COLUMNS, judge_tickers
from forecast.commands.result import Result
from forecast.config import Config
from forecast.data.windows import resolved_scaling
from forecast.forecasting import state
from forecast.forecasting.forecaster import Forecaster
from forecast.store import runs, tracking

SCOPES = ("global", "local")
SIGNALS = ("reversal", "momentum")


def judge_scopes(
    config: Config,
    series: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> Result:
    """Fit ``config``'s model once across ``series`` (ticker → bars, as ``Forecaster.fit``
    takes them) and once per ticker, and judge both on the same test bars; nothing is
    written. ``table``: the leaderboard per (ticker, scope); ``detail``: ``scopes`` (the
    scopes beside the signals, ``scope_table``), ``books`` (each long–short book's net
    return per date) and ``predictions`` (each scope's test predictions, by ticker);
    ``forecaster``: the fits, by scope. ``errors``: tickers already left out (loading), as
    error rows."""
    say = echo or (lambda line: None)
    fitted, judged, predictions = {}, {}, {}
    for scope in SCOPES:  # global first: the local fits take its cut dates and tickers
        scoped = replace(config, model=replace(config.model, scope=scope))
        if scope == "global":  # both scopes see the inputs scaled alike (auto: the global's)
            scoped = replace(scoped, data=replace(scoped.data, scaling=resolved_scaling(scoped)))
        if scope == "local":  # one network a ticker: no embedding to tell them apart
            model = replace(scoped.model, ticker_embedding=0)
            scoped = replace(fitted["global"].config, model=model)
            series = {ticker: series[ticker] for ticker in fitted["global"].members_}
        say(f"{scope}: fitting {_networks(scope, len(series))}")
        fitted[scope] = Forecaster(scoped).fit(series)
        say(f"{scope}: fitted in {fitted[scope].train_seconds_:.1f} s; judging")
        predictions[scope] = {
            ticker: member.predict_test() for ticker, member in fitted[scope].members_.items()
        }
        judged[scope] = judge_tickers(
            fitted[scope], scored=_scored(fitted[scope], predictions[scope])
        )
    errors = {**(errors or {}), **fitted["global"].panel_.errors}
    table = leaderboard(judged, predictions, errors)
    scopes = scope_table(judged, fitted)
    summary = {
        "tickers": list(fitted["global"].members_),
        "test_start": fitted["global"].config.data.test_start,
        "errors": errors,
        "scopes": {scope: judged[scope].summary for scope in SCOPES},
        "train_seconds": {scope: fitted[scope].train_seconds_ for scope in SCOPES},
        "global_vs_local": global_vs_local(predictions),
    }
    summary["verdict"] = scopes_verdict(summary, scopes)
    books = _books(judged)
    return Result(
        folder=None,
        table=table,
        summary=json_ready(summary),
        verdict=summary["verdict"],
        config=fitted["global"].config,
        forecaster=fitted,
        detail={"scopes": scopes, "books": books, "predictions": predictions},
    )


def compare_scopes(
    config: Config,
    tickers: list[str],
    out: str | Path | None = None,
    refresh: bool = False,
    overwrite: bool = False,
    echo: Callable[[str], None] = print,
    folds: int = 1,
    mapper: Callable[..., list[Any]] | None = None,
) -> Result:
    """Load ``tickers`` from the config's source, ``judge_scopes`` them (over ``folds``
    walk-forward folds of the panel's calendar when more than one; ``mapper``: how the folds
    run, see ``judge_scope_folds``), and write the comparison (this module's folder)."""
    from forecast.errors import UserError, named

    if folds < 1:
        raise UserError(f"{named('folds', folds)}: must be >= 1")
    tracking.check_available(config)
    markets, errors = load_tickers(config, tickers, refresh=refresh)
    with runs.new_folder(
        config.output.runs_dir, "global-vs-local", "compare", out=out, overwrite=overwrite
    ) as folder:
        if folds > 1:
            from forecast.commands.scope_folds import judge_scope_folds

            judged = judge_scope_folds(config, markets, folds, errors, echo=echo, mapper=mapper)
        else:
            judged = judge_scopes(config, markets, errors, echo=echo)
        _write(folder, judged)
        result = replace(judged, folder=folder)
    tracking.log_result(config, "compare", result)
    return result


def _networks(scope: str, tickers: int) -> str:
    return f"one network on {tickers} tickers" if scope == "global" else f"{tickers} networks"


def _scored(fitted: Forecaster, predictions: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """What judge_tickers reuses: each ticker's test predictions and its single-run metrics."""
    from forecast.commands.common import test_metrics

    return {
        ticker: {
            "predictions": predictions[ticker],
            "metrics": test_metrics(predictions[ticker], member.dataset(), member.baselines_)
            if len(predictions[ticker])
            else {},
        }
        for ticker, member in fitted.members_.items()
    }


def leaderboard(
    judged: dict[str, Result],
    predictions: dict[str, dict[str, pd.DataFrame]],
    errors: dict[str, str],
) -> pd.DataFrame:
    """A row per (ticker, scope) tested, its head-to-head DM against the other scope on the
    same bars (one-sided: this scope's loss lower) with BH across the tickers; an error row
    per ticker left out."""
    from forecast.evaluation.significance import benjamini_hochberg

    parts = []
    for scope in SCOPES:
        other = SCOPES[1 - SCOPES.index(scope)]
        table = judged[scope].table
        table = table[table["status"] == "ok"].copy()
        p_values = [
            head_to_head_p_value(predictions[scope][ticker], predictions[other].get(ticker))
            for ticker in table["ticker"]
        ]
        table.insert(1, "scope", scope)
        table["head_to_head_p_value"] = p_values
        table["head_to_head_q_value"] = benjamini_hochberg(np.asarray(p_values, dtype="float64"))
        parts.append(table)
    return board(parts, errors)


def head_to_head_p_value(mine: pd.DataFrame, theirs: pd.DataFrame | None) -> float:
    """One-sided DM of one scope's test forecasts of a ticker against the other's on the
    dates both forecast (small: ``mine`` has the lower squared error); NaN without any."""
    from forecast.evaluation.significance import diebold_mariano

    if theirs is None or not len(theirs):
        return np.nan
    both = mine.merge(theirs[["date", "predicted"]], on="date", suffixes=("", "_other"))
    return diebold_mariano(
        both["actual"].to_numpy(), both["predicted"].to_numpy(), both["predicted_other"]
    ).p_value


def global_vs_local(predictions: dict[str, dict[str, pd.DataFrame]]) -> dict[str, Any]:
    """The pooled head-to-head: the global model's test forecasts against the local ones' on
    the daily mean loss differential across tickers (``pooled_dm``), with its word."""
    from forecast.evaluation.cross_section import pooled_dm
    from forecast.evaluation.significance import verdict_word

    head = head_to_head_panel(predictions)
    test = pooled_dm(head, against="local") if len(head) else None
    return {
        "dates": int(head["date"].nunique()) if len(head) else 0,
        "p_value": None if test is None else test.p_value,
        "word": verdict_word(np.nan if test is None else test.p_value),
    }


def board(parts: list[pd.DataFrame], errors: Mapping[str, str]) -> pd.DataFrame:
    """Each scope's judged rows as one leaderboard, by ticker then scope, the columns in
    their order, and an error row per ticker left out."""
    columns = [
        "ticker",
        "scope",
        "status",
        *COLUMNS,
        "dm_q_value",
        "timing_q_value",
        "head_to_head_p_value",
        "head_to_head_q_value",
    ]
    table = pd.concat(parts, ignore_index=True).sort_values(["ticker", "scope"], kind="stable")
    table = table.reindex(columns=columns).reset_index(drop=True)
    table["message"] = ""
    failed = pd.DataFrame(
        [{"ticker": ticker, "status": "error", "message": text} for ticker, text in errors.items()]
    )
    return pd.concat([table, failed], ignore_index=True) if len(failed) else table


def scope_table(judged: dict[str, Result], fitted: dict[str, Forecaster]) -> pd.DataFrame:
    """A row per scope and per classic signal: tickers beating naive after BH, the median
    rmse_ratio, the pooled DM against naive, the rank IC, the long–short book after costs
    (bp a bar, its p, the net Sharpe, turnover) and the fit's seconds. The signals trade the
    same dates by the same rule; they have no per-ticker forecast, so no DM or IC."""
    rows = []
    for scope in SCOPES:
        table, cross = judged[scope].table, judged[scope].summary["cross_section"] or {}
        tested = table[table["status"] == "ok"]
        rows.append(scope_row(scope, tested, cross, fitted[scope].train_seconds_))
    books = (judged["global"].summary["cross_section"] or {}).get("books", {})
    for name in SIGNALS:
        if name in books:
            rows.append({"method": name, **book_columns(books[name])})
    table = pd.DataFrame(rows)
    return table.astype({"tickers": "Int64", "beat_naive_bh": "Int64"})  # the signals: none


def scope_row(
    scope: str, tested: pd.DataFrame, cross: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """One scope's row of ``scope_table``: its tested tickers' rows and cross-section."""
    return {
        "method": scope,
        "tickers": len(tested),
        "beat_naive_bh": int((tested["dm_q_value"] < 0.05).sum()),
        "median_rmse_ratio": float(np.nanmedian(tested["rmse_ratio"])) if len(tested) else None,
        "pooled_dm_p_value": cross.get("pooled_dm_p_value"),
        "ic_mean": cross.get("ic_mean"),
        "ic_t": cross.get("ic_t"),
        "ic_p_value": cross.get("ic_p_value"),
        **book_columns(cross.get("books", {}).get("model")),
        "train_seconds": round(seconds, 2),
    }


def book_columns(book: dict[str, Any] | None) -> dict[str, Any]:
    if not book or not book.get("bars"):
        return {}
    net = book["net_mean_return"]
    return {
        "book_net_bp": None if net is None else net * 1e4,
        "book_net_p_value": book["net_p_value"],
        "book_net_sharpe": book["net_sharpe"],
        "book_turnover": book["turnover"],
    }


def head_to_head_panel(predictions: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """Long rows (date, ticker, actual, predicted: global's, local: local's) on the test
    bars both scopes forecast."""
    frames = []
    for ticker, mine in predictions["global"].items():
        theirs = predictions["local"].get(ticker)
        if theirs is None or not len(mine) or not len(theirs):
            continue
        local = theirs[["date", "predicted"]].rename(columns={"predicted": "local"})
        frames.append(mine.merge(local, on="date").assign(ticker=ticker))
    if not frames:
        return pd.DataFrame(columns=["date", "ticker", "actual", "predicted", "local"])
    return pd.concat(frames, ignore_index=True)


def scopes_verdict(summary: dict[str, Any], scopes: pd.DataFrame) -> str:
    """One line per claim, each with its test: each scope against naive (tickers after BH,
    pooled), the global model against the local ones (pooled head-to-head), and the books
    after costs beside reversal's and momentum's."""
    from forecast.evaluation.significance import p_text

    def p_words(value: Any) -> str:
        return "untestable" if value is None or not np.isfinite(value) else p_text(value)

    rows = scopes.set_index("method")
    parts = []
    for scope in SCOPES:
        row = rows.loc[scope]
        parts.append(
            f"{scope}: {int(row['beat_naive_bh'])} of {int(row['tickers'])} tickers beat naive "
            f"after Benjamini–Hochberg, pooled DM {p_words(row['pooled_dm_p_value'])}"
        )
    head = summary["global_vs_local"]
    word = head["word"]
    line = "; ".join(parts) + (
        f". The global model {'is ' if word != 'beats' else ''}"
        f"{'beats' if word == 'beats' else word} the per-ticker models (pooled DM over "
        f"{head['dates']} dates, {p_words(head['p_value'])})"
    )
    if "book_net_bp" in rows and rows["book_net_bp"].notna().any():
        books = ", ".join(
            f"{method} {rows.loc[method, 'book_net_bp']:+.1f}"
            for method in rows.index
            if pd.notna(rows.loc[method, "book_net_bp"])
        )
        line += f". Long–short books after costs, bp a bar: {books}"
    return line + "."


def _books(judged: dict[str, Result]) -> dict[str, pd.Series]:
    """Each scope's long–short book and the signals', net return per date (three or more
    tickers tested; else none)."""
    books, signals = {}, {}
    for scope in SCOPES:
        series = judged[scope].detail  # the cross-section date by date
        if series is not None:
            books[scope] = series["model_net"]
            for name in SIGNALS:  # the same dates for both scopes: the first's
                signals.setdefault(name, series[f"{name}_net"])
    return {**books, **signals}


def _write(folder: Path, judged: Result) -> None:
    from forecast.report import interactive
    from forecast.report import scopes as scopes_chart
    from forecast.report.html import write_scopes_report

    state.write_config(folder, judged.config)
    atomic.write_table(folder / "compare.csv", judged.table)
    atomic.write_table(folder / "scopes.csv", judged.detail["scopes"])
    books = judged.detail["books"]
    atomic.write_figure(folder / "scopes.png", scopes_chart.figure(judged.table, books))
    interactive.save(folder / "scopes.png", scopes_chart.interactive(judged.table, books))
    atomic.write_json(folder / "compare.json", judged.summary)
    write_scopes_report(
        folder, judged.table, judged.detail["scopes"], judged.verdict, judged.config
    )
