"""A batch's leaderboard that survives multiple testing, built from the written run folders
alone (so a resumed batch and an undisturbed one agree byte for byte).

With many tickers some beat the naive forecast by chance: each ticker's test forecasts have a
Diebold–Mariano p-value against naive (its metrics.json), one against the strongest baseline
on its test bars (the lowest RMSE of naive, drift, ARIMA, ETS and Theta) and get a
Pesaran–Timmermann p-value of directional timing, and the p-values of the tickers that ran
get Benjamini–Hochberg q-values (the false discovery rate at which each would be
significant).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecast.base.marker import MARKER
from forecast.base.names import safe_name
from forecast.base.values import read_json
from forecast.evaluation.metrics import tested
from forecast.evaluation.scoring import method_metrics
from forecast.evaluation.significance import SIGNIFICANCE, benjamini_hochberg

LEADERBOARD_COLUMNS = (
    "ticker",
    "status",
    "message",
    "n_test",
    "rmse",
    "naive_rmse",
    "rmse_ratio",
    "dm_p_value",
    "dm_q_value",
    "mase",
    "directional_accuracy",
    "up_share",
    "market_up_rate",
    "timing_p_value",
    "timing_q_value",
    "strongest_baseline",
    "strongest_dm_p_value",
    "strongest_dm_q_value",
    "last_close",
    "forecast_date",
    "forecast_median",
    "forecast_lo95",
    "forecast_hi95",
    "backtest_rmse_ratio",
    "live_n",
    "live_rmse_ratio",
    "live_dm_p_value",
    "live_dm_q_value",
    "live_coverage95",
    "run_folder",
)


TEXT_COLUMNS = {
    "ticker",
    "status",
    "message",
    "strongest_baseline",
    "forecast_date",
    "run_folder",
}


def ticker_row(folder: Path, ticker: str, error: str | None = None) -> dict[str, Any]:
    """One leaderboard row, from the ticker's written folders alone (so a resumed batch and
    an undisturbed one agree byte for byte)."""
    name = safe_name(ticker)
    row: dict[str, Any] = {column: None for column in LEADERBOARD_COLUMNS}
    row.update(ticker=ticker, status="error", message=error or "")
    run = folder / "runs" / name
    if error is not None or not (run / MARKER).exists():
        row["message"] = row["message"] or "no complete run folder"
        return row
    metrics = read_json(run / "metrics.json")
    prices = pd.read_csv(run / "prices.csv")["price"].to_numpy()
    row.update(
        status="ok",
        n_test=metrics["n_test"],
        last_close=float(prices[-1]),
        run_folder=f"runs/{name}",
    )
    if tested(metrics):  # a production fit (after --update) has no test rows
        predictions = pd.read_csv(run / "predictions.csv")
        scores = method_metrics(
            predictions["actual"].to_numpy(),
            predictions["predicted"].to_numpy(),
            predictions["naive"].to_numpy(),
            prices[: metrics["n_train"]],
        )
        row.update(
            rmse=metrics["rmse"],
            naive_rmse=metrics["naive_rmse"],
            rmse_ratio=metrics["rmse_ratio"],
            dm_p_value=metrics["dm_p_value"],
            mase=scores["mase"],
            directional_accuracy=scores["directional_accuracy"],
            up_share=scores["up_share"],
            market_up_rate=scores["market_up_rate"],
            timing_p_value=scores["timing_p_value"],
            strongest_baseline=metrics.get("strongest_baseline_label"),  # older runs: none
            strongest_dm_p_value=metrics.get("dm_p_value_strongest"),
        )
    if (run / "live.json").exists():  # the nightly record, one bar ahead
        first = next(
            (part for part in read_json(run / "live.json")["horizons"] if part["horizon"] == 1),
            None,
        )
        if first is not None:
            row.update(
                live_n=first["n"],
                live_rmse_ratio=first["rmse_ratio"],
                live_dm_p_value=first["dm_p_value"],
                live_coverage95=first.get("coverage95"),
            )
    forecast_record = read_json(run / "forecast.json") if (run / "forecast.json").exists() else {}
    if "error" in forecast_record:
        row["message"] = f"no forecast: {forecast_record['error']}"
    elif forecast_record.get("missing_levels"):
        row["message"] = "; ".join(
            f"{name} % band: {text}" for name, text in forecast_record["missing_levels"].items()
        )
    if (run / "forecast.csv").exists():
        last = pd.read_csv(run / "forecast.csv").iloc[-1]
        row.update(
            forecast_date=str(last["date"]),
            forecast_median=float(last["median"]),
            forecast_lo95=float(last["lo95"]),
            forecast_hi95=float(last["hi95"]),
        )
    backtest = folder / "backtests" / name / "backtest.json"
    if backtest.exists():
        overall = read_json(backtest)["overall"]["model"]
        row["backtest_rmse_ratio"] = overall.get("rmse_ratio", overall.get("theil_u"))  # older
    return row


def leaderboard(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows with Benjamini–Hochberg q-values over the tickers that ran (of the DM and of the
    timing p-values); ok rows by rmse_ratio, then errors."""
    table = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    for column in set(LEADERBOARD_COLUMNS) - TEXT_COLUMNS:  # None (an error row) → NaN
        table[column] = table[column].astype("float64")
    ok = table["status"] == "ok"
    for test in ("dm", "timing", "strongest_dm", "live_dm"):
        table.loc[ok, f"{test}_q_value"] = benjamini_hochberg(
            table.loc[ok, f"{test}_p_value"].astype("float64").to_numpy()
        )
    table["_order"] = np.where(ok, table["rmse_ratio"].astype("float64"), np.inf)
    table = table.sort_values(["_order", "ticker"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def batch_verdict(table: pd.DataFrame) -> str:
    """The last line, in words: significance first, the raw count of ratios below 1 last."""
    ok = table[table["status"] == "ok"]

    def below(column: str) -> int:
        return int((ok[column].astype("float64") < SIGNIFICANCE).sum())

    lower = int((ok["rmse_ratio"].astype("float64") < 1).sum())
    errors = len(table) - len(ok)
    failed = f" ({errors} failed: see the error rows)" if errors else ""
    with_tests = ok[ok["n_test"].astype("float64") > 0]
    line = (
        f"{below('dm_p_value')} of {len(with_tests)} tickers beat naive significantly (DM, "
        f"squared error){failed}, {below('dm_q_value')} after Benjamini–Hochberg at 5 %, "
        f"and {below('strongest_dm_q_value')} beat their strongest baseline of naive, drift, "
        f"ARIMA, ETS and Theta after it; "
        f"{below('timing_q_value')} show directional timing after Benjamini–Hochberg "
        f"({below('timing_p_value')} alone); {lower} had rmse_ratio < 1, which alone is "
        f"not evidence."
    )
    live = ok[ok["live_n"].astype("float64") > 0]
    if len(live):
        line += (
            f" Live, one bar ahead: {below('live_dm_p_value')} of {len(live)} beat naive "
            f"significantly, {below('live_dm_q_value')} after Benjamini–Hochberg "
            f"(median {int(live['live_n'].median())} forecasts resolved)."
        )
    return line


def cross_section_of_runs(
    runs: dict[str, Path], k: int = 0, cost_bps: float = 5.0
) -> dict[str, Any] | None:
    """The tickers' test forecasts judged together on the dates they share
    (``evaluation.cross_section.judge_panel``), from each run's predictions.csv and
    prices.csv alone; None when fewer than three tickers have test rows."""
    from forecast.data.bars import read_bars
    from forecast.evaluation.cross_section import judge_panel, panel_of

    predictions, closes = {}, {}
    for ticker, run in runs.items():
        if not (run / "predictions.csv").is_file():
            continue  # a production fit: no test rows
        predictions[ticker] = pd.read_csv(run / "predictions.csv", dtype={"date": str})
        closes[ticker] = read_bars(run / "prices.csv")["price"]
    found = panel_of(predictions, closes)
    return None if found is None else judge_panel(*found, k, cost_bps)
