"""What the command line prints: the metrics, backtest and band tables as aligned text."""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecast.evaluation.bands import band_p_values
from forecast.evaluation.metrics import metrics_verdict, production_text, tested


def format_band_table(bands: pd.DataFrame) -> str:
    """The band scores as text: one line per horizon × method, with the verdict against the
    random walk's band."""
    lines = [
        f"{'h':>3} {'band':<13}{'n':>6}{'cov80':>8}{'cov95':>8}{'width95/rw':>12}"
        f"{'score80':>10}{'score95':>10}{'DM p 80/95':>14}  verdict"
    ]
    for _, row in bands.iterrows():
        lines.append(
            f"{int(row['horizon']):>3} {row['method']:<13}{int(row['n']):>6}"
            f"{row['coverage80']:>8.1%}{row['coverage95']:>8.1%}"
            f"{row['width95_vs_rw']:>12.3f}{row['winkler80']:>10.4g}"
            f"{row['winkler95']:>10.4g}{band_p_values(row):>14}  "
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


def format_metrics_table(metrics: dict[str, Any]) -> str:
    """A short text table: model vs naive RMSE / MAE / MAPE, and the verdict with its test
    (a production fit has no test rows, and says so)."""
    if not tested(metrics):
        text = production_text()
        return text[0].upper() + text[1:] + "."
    lines = [
        f"{'':<8}{'RMSE':>12}{'MAE':>12}{'MAPE %':>10}",
        f"{'model':<8}{metrics['rmse']:>12.4f}{metrics['mae']:>12.4f}{metrics['mape']:>10.2f}",
        f"{'naive':<8}{metrics['naive_rmse']:>12.4f}{metrics['naive_mae']:>12.4f}"
        f"{metrics['naive_mape']:>10.2f}",
        metrics_verdict(metrics),
    ]
    return "\n".join(lines)
