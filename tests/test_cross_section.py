"""Many tickers judged on the dates they share: the pooled DM on the daily mean loss
differential, the rank IC, the long–short portfolio and the reversal and momentum signals,
each against a hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from forecast.evaluation.cross_section import (
    long_short,
    momentum_signal,
    pooled_dm,
    rank_ic,
    realized_returns,
    reversal_signal,
)

TICKERS = ["AAA", "BBB", "CCC", "DDD", "EEE"]


def panel(dates: int = 60, seed: int = 0, skill: float = 0.0) -> pd.DataFrame:
    """A long panel: each ticker's previous close, its next close, and a forecast that
    knows ``skill`` of the coming return."""
    generator = np.random.default_rng(seed)
    rows = []
    for date in pd.bdate_range("2021-01-04", periods=dates):
        for ticker in TICKERS:
            naive = 100 + generator.normal(0, 5)
            move = generator.normal(0, 0.02)
            rows.append(
                {
                    "date": date,
                    "ticker": ticker,
                    "naive": naive,
                    "actual": naive * (1 + move),
                    "predicted": naive * (1 + skill * move + generator.normal(0, 0.01)),
                }
            )
    return pd.DataFrame(rows)


def test_the_pooled_dm_tests_the_daily_mean_loss_differential():
    frame = panel(skill=0.5).sample(frac=0.9, random_state=1)  # some tickers missing some days
    differential = (frame["predicted"] - frame["actual"]) ** 2 - (
        frame["naive"] - frame["actual"]
    ) ** 2
    daily = differential.groupby(frame["date"]).mean().sort_index().to_numpy()  # (60,)
    result = pooled_dm(frame)
    n = len(daily)
    by_hand = daily.mean() / (daily.std(ddof=1) / np.sqrt(n))  # lag 0: HLN × NW = Student t
    assert result.n == 60
    assert result.statistic == pytest.approx(by_hand)
    assert result.p_value == pytest.approx(stats.t.cdf(by_hand, df=n - 1))
    assert result.p_value < 0.05  # the forecast knows half of each move


def test_the_rank_ic_is_the_daily_spearman_and_its_t():
    frame = panel(skill=0.3, seed=2)
    result = rank_ic(frame)
    expected = []
    for _, day in frame.groupby("date", sort=True):
        expected.append(
            stats.spearmanr(day["predicted"] / day["naive"], day["actual"] / day["naive"])[0]
        )
    np.testing.assert_allclose(result.daily.to_numpy(), expected)
    t_test = stats.ttest_1samp(expected, 0.0, alternative="greater")
    assert result.mean == pytest.approx(np.mean(expected))
    assert result.t_statistic == pytest.approx(t_test.statistic)
    assert result.p_value == pytest.approx(t_test.pvalue)
    few = frame[frame["ticker"].isin(TICKERS[:2])]  # two tickers: no ranking to speak of
    assert rank_ic(few).daily.empty and np.isnan(rank_ic(few).mean)


def test_a_long_short_book_by_hand():
    dates = pd.bdate_range("2022-03-01", periods=3)
    signal = pd.DataFrame(
        [[4, 3, 2, 1], [1, 2, 3, 4], [1, 2, 3, 4]], index=dates, columns=TICKERS[:4], dtype=float
    )
    realized = pd.DataFrame(
        [[0.01, 0.0, 0.0, -0.02], [0.0, 0.01, 0.0, 0.03], [0.02, 0.0, 0.0, 0.0]],
        index=dates,
        columns=TICKERS[:4],
    )
    book = long_short(signal, realized, k=1, cost_bps=10, bars_per_year=252)
    # day 1: long AAA, short DDD; days 2-3: long DDD, short AAA
    np.testing.assert_allclose(book.returns.to_numpy(), [0.03, 0.03, -0.02])
    # traded: the first book bought from cash (|+1| + |-1| = 2), the flip (2 + 2), nothing
    np.testing.assert_allclose(book.net_returns.to_numpy(), [0.03 - 2e-3, 0.03 - 4e-3, -0.02])
    assert book.turnover == pytest.approx(2.0)
    assert book.summary["mean_return"] == pytest.approx(np.mean([0.03, 0.03, -0.02]))
    gross = np.array([0.03, 0.03, -0.02])
    assert book.summary["sharpe"] == pytest.approx(gross.mean() / gross.std(ddof=1) * np.sqrt(252))


def test_the_signals_read_only_closes_before_the_bar():
    generator = np.random.default_rng(3)
    closes = pd.DataFrame(
        100 * np.exp(np.cumsum(generator.normal(0, 0.01, (300, 4)), axis=0)),
        index=pd.bdate_range("2020-01-01", periods=300),
        columns=TICKERS[:4],
    )
    reversal, momentum = reversal_signal(closes), momentum_signal(closes)
    changed = closes.copy()
    changed.iloc[200:] *= 1.5  # the bar of date 200 and after
    assert reversal.iloc[:201].equals(reversal_signal(changed).iloc[:201])
    assert momentum.iloc[:201].equals(momentum_signal(changed).iloc[:201])
    by_hand = -(closes.iloc[199] / closes.iloc[194] - 1)
    pd.testing.assert_series_equal(reversal.iloc[200], by_hand, check_names=False)
    assert momentum.iloc[280].equals(closes.iloc[259] / closes.iloc[28] - 1)  # 252 to 21 back


def test_reversal_earns_on_a_panel_that_reverts_and_not_on_a_random_walk():
    """Forty tickers whose daily return undoes a tenth of the last five bars' move: the
    reversal book earns, significantly; on a random walk its p-value is not small."""

    def closes(reverting: float, seed: int) -> pd.DataFrame:
        generator = np.random.default_rng(seed)
        returns = generator.normal(0, 0.01, (500, 40))
        for t in range(5, 500):
            returns[t] -= reverting * returns[t - 5 : t].sum(axis=0)
        return pd.DataFrame(
            100 * np.exp(np.cumsum(returns, axis=0)),
            index=pd.bdate_range("2019-01-01", periods=500),
        )

    reverting = closes(0.1, seed=4)
    book = long_short(reversal_signal(reverting), realized_returns(reverting), k=8)
    assert book.summary["mean_return"] > 0 and book.summary["p_value"] < 0.01
    walk = closes(0.0, seed=5)
    book = long_short(reversal_signal(walk), realized_returns(walk), k=8)
    assert book.summary["p_value"] > 0.05


def test_a_panel_is_judged_beside_reversal_and_momentum_in_one_line():
    from forecast.evaluation.cross_section import judge_panel, panel_series, panel_verdict

    generator = np.random.default_rng(6)
    closes = pd.DataFrame(
        100 * np.exp(np.cumsum(generator.normal(0, 0.01, (300, 5)), axis=0)),
        index=pd.bdate_range("2020-01-01", periods=300),
        columns=TICKERS,
    )
    rows = []
    for position in range(200, 300):
        for ticker in TICKERS:
            naive, actual = closes[ticker].iloc[position - 1], closes[ticker].iloc[position]
            noise = generator.normal(0, 0.002)
            rows.append(
                {
                    "date": closes.index[position],
                    "ticker": ticker,
                    "naive": naive,
                    "actual": actual,
                    "predicted": naive + 0.5 * (actual - naive) + naive * noise,
                }
            )
    judged = judge_panel(pd.DataFrame(rows), closes, cost_bps=5)
    series = panel_series(pd.DataFrame(rows), closes, cost_bps=5)  # the same, date by date
    assert len(series) == 100 and series["ic"].mean() == pytest.approx(judged["ic_mean"])
    assert series["ic_running_mean"].iloc[-1] == pytest.approx(judged["ic_mean"])
    for name, book in judged["books"].items():
        assert series[f"{name}_net"].mean() == pytest.approx(book["net_mean_return"])
        assert series[name].mean() == pytest.approx(book["mean_return"])
    assert judged["tickers"] == 5 and judged["dates"] == 100 and judged["ic_dates"] == 100
    assert judged["pooled_dm_p_value"] < 0.01 and judged["ic_mean"] > 0.5
    assert set(judged["books"]) == {"model", "reversal", "momentum"}
    assert all(book["bars"] == 100 and book["k"] == 1 for book in judged["books"].values())
    line = panel_verdict(judged)
    assert line.startswith("Pooled over 5 tickers and 100 dates")
    assert "the forecasts beat naive (DM p < 0.001)" in line
    assert "reversal" in line and "momentum" in line and "after 5 bp a side" in line


def test_a_batchs_runs_are_judged_together_from_their_folders(tmp_path):
    """Three tickers trained on the same dates: the leaderboard's cross-section reads their
    predictions.csv and prices.csv alone; two tickers are too few for a ranking."""
    import forecast as api
    from forecast.scaleout.leaderboard import cross_section_of_runs
    from tests.conftest import synthetic_prices, tiny_config

    runs = {}
    for seed, ticker in enumerate(["AAA", "BBB", "CCC"]):
        path = tmp_path / f"{ticker}.csv"
        synthetic_prices(200, seed=seed).rename_axis("Date").rename("Close").to_csv(path)
        config = tiny_config(
            tmp_path,
            "data.source=csv",
            f"data.path={path}",
            "data.start=null",
            "forecast.band_method=none",
        )
        runs[ticker] = api.train(config, out=tmp_path / ticker, echo=lambda line: None).folder
    judged = cross_section_of_runs(runs, k=1, cost_bps=10)
    predictions = pd.read_csv(runs["AAA"] / "predictions.csv")
    assert judged["tickers"] == 3 and judged["dates"] == len(predictions)
    assert judged["books"]["model"]["k"] == 1 and judged["books"]["model"]["cost_bps"] == 10
    assert judged["ic_dates"] == len(predictions)
    assert cross_section_of_runs(dict(list(runs.items())[:2])) is None
