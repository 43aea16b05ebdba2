"""What every command returns: the folder it wrote, its main table, its numbers and the
verdict in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Result:
    """A command's outcome.

    ``table``: train, update, evaluate: the test predictions (date, actual, predicted,
    naive); forecast: the forecast; score: the resolved forecasts; backtest, compare: the
    scores by method; explain: the gates' means per step; batch: the leaderboard; sweep: the
    trials. ``summary``: the main JSON file's content (metrics.json, forecast.json,
    live.json, backtest.json …). ``detail``: the command's own object where it has more (a
    backtest's folds and bands, an explanation's gate arrays).
    """

    folder: Path
    table: pd.DataFrame
    summary: dict[str, Any]
    verdict: str
    config: Any = None  # the config as resolved from the data
    forecaster: Any = None  # train, update, resume: the fitted Forecaster
    notes: tuple[str, ...] = ()  # data checks, bands left empty …
    detail: Any = None
    files: dict[str, Path] = field(default_factory=dict)  # what it wrote, by role
