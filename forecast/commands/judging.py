"""The tickers of one fit judged together: each exactly as a single run is (its test metrics
beside naive, drift and the statistical baselines, the same Diebold–Mariano tests) with
Benjamini–Hochberg q-values across the tickers, then pooled and across the cross-section
(``evaluation.cross_section``: the daily mean loss differential's DM, the rank IC, the
long–short book beside reversal's and momentum's, before and after costs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from forecast.commands.common import test_metrics
from forecast.commands.result import Result
from forecast.errors import UserError

COLUMNS = (  # per ticker, as a batch leaderboard names them
    "n_test",
    "rmse",
    "naive_rmse",
    "rmse_ratio",
    "mase",
    "dm_p_value",
    "dm_p_value_drift",
    "directional_accuracy",
    "up_share",
    "market_up_rate",
    "timing_p_value",
)


def judge_tickers(
    forecaster: Any,
    k: int | None = None,
    cost_bps: float | None = None,
    scored: Mapping[str, dict[str, Any]] | None = None,
) -> Result:
    """A fitted forecaster of several tickers (global or one network each) judged on its
    test bars: ``table`` one row per ticker (``status`` ok, no test bars, or error with the
    panel's reason), ``summary`` the per-ticker metrics and the cross-section's numbers
    (with at least three tickers tested), ``verdict`` one line, ``detail`` what the
    cross-section date by date (``panel_series``' frame; None with fewer tickers).
    ``k``, ``cost_bps``: the long–short book's tickers per side and cost (default: the
    config's evaluation). ``scored``: per ticker, the predictions and metrics a command
    already wrote (``fitting.write_scores``' return), so they are not computed again."""
    from forecast.evaluation.cross_section import judged_panel, panel_of, panel_verdict
    from forecast.evaluation.scoring import method_metrics
    from forecast.evaluation.significance import benjamini_hochberg

    if not forecaster.members_:
        raise UserError("judge_tickers needs a forecaster fitted on several tickers (a mapping)")
    evaluation = forecaster.config.evaluation
    rows, tested, metrics = [], {}, {}
    for ticker, member in forecaster.members_.items():
        dataset = member.dataset()
        if scored is not None and ticker in scored:
            predictions, done = scored[ticker]["predictions"], dict(scored[ticker]["metrics"])
        else:
            predictions = member.predict_test()
            done = test_metrics(predictions, dataset, member.baselines_) if len(predictions) else {}
        if not len(predictions):
            rows.append({"ticker": ticker, "status": "no test bars"})
            continue
        done["n_test"] = len(predictions)
        more = method_metrics(  # a batch leaderboard's: MASE, direction and its timing test
            predictions["actual"].to_numpy(),
            predictions["predicted"].to_numpy(),
            predictions["naive"].to_numpy(),
            dataset.prices.to_numpy()[: dataset.n_train],
        )
        done.update({key: value for key, value in more.items() if key not in done})
        metrics[ticker] = done
        rows.append({"ticker": ticker, "status": "ok", **{key: done.get(key) for key in COLUMNS}})
        tested[ticker] = predictions
    errors = getattr(forecaster.panel_, "errors", None) or {}
    rows += [
        {"ticker": ticker, "status": "error", "message": message}
        for ticker, message in errors.items()
    ]
    table = pd.DataFrame(rows)
    for column in ("dm_p_value", "timing_p_value"):
        if column in table:
            values = pd.to_numeric(table[column], errors="coerce").to_numpy()
            table[column.replace("p_value", "q_value")] = benjamini_hochberg(values)
    beating = int((table.get("dm_q_value", pd.Series(dtype=float)) < 0.05).sum())
    line = (
        f"{beating} of {len(metrics)} tickers beat naive after Benjamini–Hochberg "
        f"(DM, squared error)"
    )
    judged, detail = None, None
    found = panel_of(
        tested, {ticker: member.bars_["price"] for ticker, member in forecaster.members_.items()}
    )
    if found is not None:
        judged, detail = judged_panel(
            *found,
            evaluation.long_short if k is None else k,
            evaluation.cost_bps if cost_bps is None else cost_bps,
        )
        line += ". " + panel_verdict(judged)
    summary = {
        "tickers": metrics,
        "cross_section": judged,
        "errors": errors,
        "rmse_ratio_median": float(np.nanmedian(table["rmse_ratio"])) if metrics else None,
    }
    verdict = line if line.endswith(".") else line + "."
    return Result(folder=None, table=table, summary=summary, verdict=verdict, detail=detail)
