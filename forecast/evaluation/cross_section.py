"""Forecasts of many tickers judged together, on the dates they share.

Tickers move together on a day, so a test that treats (ticker, date) pairs as independent
claims far too much. Everything here works date by date:

- **Pooled Diebold–Mariano** (``pooled_dm``): the loss differential (model − naive, squared
  error) averaged across the tickers forecast on each date, then the ordinary DM test on that
  daily series (Newey–West, h − 1 lags, HLN) — one number per date, as many dates as there are.
- **Rank information coefficient** (``rank_ic``): on each date with at least three tickers,
  the Spearman correlation between the predicted and the realized return from the previous
  close; its mean with the DM machinery's t (one-sided: IC > 0).
- **Long–short portfolio** (``long_short``): each date, long the k tickers with the highest
  signal and short the k lowest, equal weights, held from the previous close to this one;
  mean return per bar, annualized Sharpe, turnover (the share of the book traded per bar), and
  the same after a cost in basis points per side on what was traded.
- **The signals to beat** (``reversal_signal``, ``momentum_signal``): short-term reversal (the
  last 5 bars' losers go long) and momentum (the return from 12 months to 1 month before the
  bar; ``judge_panel`` shortens the 12 months to the history before the first judged date,
  at least 2), both from closes up to the previous bar only, traded by the same rule.

The panel is long: one row per (date, ticker) with ``actual`` (the bar's close),
``predicted`` (its forecast) and ``naive`` (the previous close, from which returns are
measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.values import optional
from forecast.evaluation.metrics import rmse_ratio
from forecast.evaluation.significance import TestResult, loss_differential_test

MIN_TICKERS = 3  # a rank correlation across fewer says nothing


def pooled_dm(panel: pd.DataFrame, horizon: int = 1, against: str = "naive") -> TestResult:
    """DM of the model against the ``against`` column's forecasts (naive: the previous
    close) on the cross-sectional mean loss differential per date (squared error).
    One-sided: p small when the model's loss is lower."""
    differential = (panel["predicted"] - panel["actual"]) ** 2 - (
        panel[against] - panel["actual"]
    ) ** 2
    daily = differential.groupby(panel["date"]).mean().sort_index()  # (dates,)
    return loss_differential_test(daily.to_numpy(), horizon)


@dataclass(frozen=True)
class RankIC:
    daily: pd.Series  # date → Spearman IC across the tickers that day
    mean: float
    t_statistic: float  # of the mean IC (Newey–West, HLN), NaN when untestable
    p_value: float  # one-sided: small when the mean IC is above 0


def rank_ic(panel: pd.DataFrame, horizon: int = 1) -> RankIC:
    """The daily Spearman correlation of predicted with realized returns across tickers, on
    dates with at least ``MIN_TICKERS``; its mean and one-sided test of mean > 0."""
    frame = panel.assign(
        predicted_return=panel["predicted"] / panel["naive"] - 1,
        realized_return=panel["actual"] / panel["naive"] - 1,
    )
    daily = {}
    for date, day in frame.groupby("date", sort=True):
        if len(day) < MIN_TICKERS:
            continue
        predicted = day["predicted_return"].rank().to_numpy()
        realized = day["realized_return"].rank().to_numpy()
        if np.std(predicted) == 0 or np.std(realized) == 0:
            continue  # no ranking that day (every forecast the same)
        daily[date] = float(np.corrcoef(predicted, realized)[0, 1])
    series = pd.Series(daily, dtype="float64")
    test = loss_differential_test(-series.to_numpy(), horizon)  # IC > 0 ⇔ −IC < 0
    mean = float(series.mean()) if len(series) else math.nan
    return RankIC(series, mean, -test.statistic, test.p_value)


@dataclass(frozen=True)
class Portfolio:
    returns: pd.Series  # date → the long–short return that bar, before costs
    net_returns: pd.Series  # after costs
    turnover: float  # mean share of the book traded per bar (0 … 2)
    summary: dict[str, Any]


def long_short(
    signal: pd.DataFrame,
    realized: pd.DataFrame,
    k: int,
    cost_bps: float = 0.0,
    bars_per_year: float = 252.0,
) -> Portfolio:
    """Long the ``k`` highest-signal tickers, short the ``k`` lowest, equal weight, each
    date. ``signal`` and ``realized`` are wide (date × ticker); the signal of a date must be
    known at the previous close, the realized return runs from it to this close. Dates with
    fewer than 2k tickers carrying both are skipped."""
    signal, realized = signal.sort_index(), realized.reindex_like(signal)
    values, outcomes = signal.to_numpy(dtype="float64"), realized.to_numpy(dtype="float64")
    usable = np.isfinite(values) & np.isfinite(outcomes)  # (dates, tickers)
    rows, returns = [], {}
    book = np.zeros_like(values)  # (dates, tickers): the weights held into each date
    for index, date in enumerate(signal.index):
        columns = np.flatnonzero(usable[index])
        if len(columns) < 2 * k:
            continue
        order = columns[np.argsort(values[index, columns], kind="stable")]  # low → high
        book[index, order[-k:]] = 1.0 / k
        book[index, order[:k]] = -1.0 / k
        rows.append(index)
        returns[date] = float(book[index, columns] @ outcomes[index, columns])
    gross = pd.Series(returns, dtype="float64")
    held = book[rows]  # (bars, tickers), the dates traded, in order
    traded = pd.Series(  # the first book is bought from cash
        np.abs(np.diff(held, axis=0, prepend=0.0)).sum(axis=1), index=gross.index
    )
    net = gross - traded * cost_bps / 1e4
    summary = {
        "k": k,
        "cost_bps": cost_bps,
        "bars": len(gross),
        "mean_return": _mean(gross),
        "sharpe": _sharpe(gross, bars_per_year),
        "turnover": _mean(traded),
        "net_mean_return": _mean(net),
        "net_sharpe": _sharpe(net, bars_per_year),
        "p_value": optional(loss_differential_test(-gross.to_numpy()).p_value),
        "net_p_value": optional(loss_differential_test(-net.to_numpy()).p_value),
    }
    return Portfolio(gross, net, summary["turnover"], summary)


def reversal_signal(closes: pd.DataFrame, bars: int = 5) -> pd.DataFrame:
    """Minus the return over the ``bars`` bars before each date (wide, date × ticker): last
    week's losers rank highest. Uses closes up to the previous bar only."""
    return -(closes.shift(1) / closes.shift(1 + bars) - 1)


def momentum_signal(closes: pd.DataFrame, long: int = 252, skip: int = 21) -> pd.DataFrame:
    """The return from ``long`` bars to ``skip`` bars before each date (12-1 month momentum on
    daily bars). Uses closes up to the previous bar only."""
    return closes.shift(skip) / closes.shift(long) - 1


def realized_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Each date's return from the previous close (wide)."""
    return closes / closes.shift(1) - 1


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _sharpe(values: pd.Series, bars_per_year: float) -> float | None:
    if len(values) < 2 or not values.std() > 0:
        return None
    return float(values.mean() / values.std() * math.sqrt(bars_per_year))


def panel_of(
    predictions: Mapping[str, pd.DataFrame], closes: Mapping[str, pd.Series]
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(the long panel ``judge_panel`` reads, the closes wide) from each ticker's test
    predictions (date as text, as predictions.csv and ``predict_test`` write it) and its
    closes; None when fewer than ``MIN_TICKERS`` tickers have test rows."""
    from forecast.data.interval import format_timestamps

    frames = []
    for ticker, frame in predictions.items():
        if not len(frame):
            continue
        index = pd.DatetimeIndex(closes[ticker].index)
        stamps = dict(zip(format_timestamps(index), index))  # the text dates as bar times
        dated = frame.assign(date=frame["date"].astype(str).map(stamps), ticker=ticker)
        frames.append(dated.dropna(subset=["date"]))
    if len(frames) < MIN_TICKERS:
        return None
    panel = pd.concat(frames, ignore_index=True)[["date", "ticker", "actual", "predicted", "naive"]]
    return panel, pd.DataFrame(dict(closes)).sort_index()


def judge_panel(
    panel: pd.DataFrame, closes: pd.DataFrame, k: int = 0, cost_bps: float = 5.0
) -> dict[str, Any]:
    """The tickers' forecasts judged together on the dates they share: the pooled DM
    against naive, the rank IC, and the long–short book of the predicted returns beside the
    reversal and momentum books on the same dates, before and after ``cost_bps`` per side.
    ``panel``: long rows (date, ticker, actual, predicted, naive); ``closes``: every
    ticker's closes (wide), for the signals' history. ``k``: tickers per side (0: a fifth of
    them, at least 1)."""
    return judged_panel(panel, closes, k, cost_bps)[0]


def panel_series(
    panel: pd.DataFrame, closes: pd.DataFrame, k: int = 0, cost_bps: float = 5.0
) -> pd.DataFrame:
    """What ``judge_panel`` averages, date by date (for its charts): the rank IC and its
    running mean; each book's return before (``NAME``) and after costs (``NAME_net``)."""
    return judged_panel(panel, closes, k, cost_bps)[1]


def judged_panel(
    panel: pd.DataFrame, closes: pd.DataFrame, k: int = 0, cost_bps: float = 5.0
) -> tuple[dict[str, Any], pd.DataFrame]:
    """(``judge_panel``'s numbers, ``panel_series``' frame) from one pass over the dates,
    for a caller that writes both."""
    tickers, ic, books = _judged(panel, closes, k, cost_bps)
    dm = pooled_dm(panel)
    summary = {
        "tickers": tickers,
        "dates": int(panel["date"].nunique()),
        "pooled_dm_p_value": optional(dm.p_value),
        "ic_mean": None if math.isnan(ic.mean) else ic.mean,
        "ic_t": None if math.isnan(ic.t_statistic) else ic.t_statistic,
        "ic_p_value": optional(ic.p_value),
        "ic_dates": len(ic.daily),
        "books": {name: book.summary for name, book in books.items()},
    }
    columns = {"ic": ic.daily, "ic_running_mean": ic.daily.expanding().mean()}
    for name, book in books.items():
        columns[name], columns[f"{name}_net"] = book.returns, book.net_returns
    return summary, pd.DataFrame(columns).rename_axis("date")


def _judged(
    panel: pd.DataFrame, closes: pd.DataFrame, k: int, cost_bps: float
) -> tuple[int, RankIC, dict[str, Portfolio]]:
    """(tickers, the rank IC, the model's, reversal's and momentum's books)."""
    tickers = panel["ticker"].nunique()
    k = k or max(1, tickers // 5)
    ic = rank_ic(panel)
    predicted = (panel["predicted"] / panel["naive"] - 1).to_numpy()
    signal = panel.assign(signal=predicted).pivot(index="date", columns="ticker", values="signal")
    realized = panel.assign(realized=panel["actual"] / panel["naive"] - 1).pivot(
        index="date", columns="ticker", values="realized"
    )
    dates = signal.index
    history = int(closes.index.searchsorted(dates[0]))  # bars before the first judged date
    lookback = max(42, min(252, history))  # 12-1 months, or what the history allows
    rules = {
        "reversal": reversal_signal,
        "momentum": lambda frame: momentum_signal(frame, long=lookback),
    }
    books = {"model": long_short(signal, realized, k, cost_bps)}
    for name, rule in rules.items():
        other = rule(closes).reindex(index=dates, columns=signal.columns)
        books[name] = long_short(other.where(signal.notna()), realized, k, cost_bps)
    return tickers, ic, books


def panel_verdict(judged: dict[str, Any]) -> str:
    """One line: pooled against naive, the IC, and the book after costs beside reversal's
    and momentum's, each with its test."""
    from forecast.evaluation.significance import p_text, verdict_word

    def p_words(value: float | None) -> str:
        return "untestable" if value is None else p_text(value)

    dm = judged["pooled_dm_p_value"]
    word = verdict_word(math.nan if dm is None else dm)
    line = (
        f"Pooled over {judged['tickers']} tickers and {judged['dates']} dates (the daily mean "
        f"loss differential), the forecasts {'are ' if word != 'beats' else ''}"
        f"{'beat' if word == 'beats' else word} naive (DM {p_words(dm)})"
    )
    if judged["ic_dates"]:
        line += (
            f"; rank IC {judged['ic_mean']:+.3f} over {judged['ic_dates']} dates "
            f"({p_words(judged['ic_p_value'])}, IC > 0)"
        )
    books = judged["books"]
    parts = []
    for name in ("model", "reversal", "momentum"):
        book = books[name]
        if not book["bars"]:
            continue
        parts.append(
            f"{name} {book['net_mean_return'] * 1e4:+.1f} bp a bar after "
            f"{book['cost_bps']:g} bp a side ({p_words(book['net_p_value'])})"
        )
    if parts:
        line += f"; long–short top/bottom {books['model']['k']}: " + ", ".join(parts)
    return line + "."


def pooled_live(records: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    """Several tickers' live records (``live.csv`` rows: resolved forecasts) judged together,
    per horizon: the RMSE ratio against naive over every resolved forecast, and the DM test
    on the daily mean loss differential across the tickers forecast for each target date
    (h − 1 Newey–West lags, HLN), as ``pooled_dm`` judges test bars. A forecast issued with
    several band methods counts once."""
    frames = [rows.assign(ticker=ticker) for ticker, rows in records.items() if len(rows)]
    if not frames:
        return []
    rows = pd.concat(frames, ignore_index=True).drop_duplicates(
        ["ticker", "origin", "step", "target"]
    )
    horizons = []
    for step, part in rows.groupby("step", sort=True):
        panel = pd.DataFrame(
            {
                "date": part["target"].astype(str),
                "ticker": part["ticker"],
                "actual": part["actual"].astype("float64"),
                "predicted": part["median"].astype("float64"),
                "naive": part["naive"].astype("float64"),
            }
        )
        test = pooled_dm(panel, horizon=int(step))
        horizons.append(
            {
                "horizon": int(step),
                "n": len(panel),
                "tickers": int(panel["ticker"].nunique()),
                "dates": int(panel["date"].nunique()),
                "rmse_ratio": optional(
                    rmse_ratio(panel["actual"], panel["predicted"], panel["naive"])
                ),
                "dm_p_value": optional(test.p_value),
            }
        )
    return horizons


def pooled_live_verdict(horizons: list[dict[str, Any]], enough: int) -> str:
    """One line: each horizon with at least ``enough`` target dates, pooled against naive."""
    from forecast.evaluation.significance import p_text, verdict_word

    judged = [part for part in horizons if part["dates"] >= enough]
    if not judged:
        dates = max((part["dates"] for part in horizons), default=0)
        return (
            f"Pooled across the tickers: {dates} target date(s) resolved, too few to judge "
            f"({enough} at a horizon needed)."
        )
    parts = []
    for part in judged[:3]:
        p_value = part["dm_p_value"]
        word = verdict_word(math.nan if p_value is None else p_value)
        test = "untestable" if p_value is None else f"DM {p_text(p_value)}"
        ratio = "–" if part["rmse_ratio"] is None else f"{part['rmse_ratio']:.3f}"
        parts.append(
            f"h={part['horizon']}: over {part['tickers']} tickers and {part['dates']} dates the "
            f"live forecasts {'are ' if word != 'beats' else ''}"
            f"{'beat' if word == 'beats' else word} naive (rmse_ratio "
            f"{ratio}, {test})"
        )
    return "Pooled across the tickers: " + "; ".join(parts) + "."
