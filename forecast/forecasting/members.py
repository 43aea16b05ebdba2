"""A forecaster of several tickers answers with one frame: each member's, a ticker column
first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from forecast.forecasting.forecast import Forecast


def each_frame(members: dict[str, Any], make: Callable[[Any], pd.DataFrame]) -> pd.DataFrame:
    """Every member's frame, a ticker column first."""
    frames = [make(member).assign(ticker=ticker) for ticker, member in members.items()]
    combined = pd.concat(frames, ignore_index=True)
    return combined[["ticker", *[column for column in combined if column != "ticker"]]]


def forecast_each(
    members: dict[str, Any], steps: int, bars: Any, band_method: str | None, samples: int
) -> Forecast:
    """Every member's forecast in one frame (a ticker column), records by ticker."""
    forecasts = {
        ticker: member.predict(steps, None if bars is None else bars[ticker], band_method, samples)
        for ticker, member in members.items()
    }
    frame = each_frame(members, lambda member: forecasts[member.config.data.ticker].frame)
    return Forecast(
        frame=frame,
        record={ticker: result.record for ticker, result in forecasts.items()},
        notes=tuple(
            f"{ticker}: {note}" for ticker, result in forecasts.items() for note in result.notes
        ),
        history=pd.concat({ticker: result.history for ticker, result in forecasts.items()}),
        data_sha256=",".join(result.data_sha256 for result in forecasts.values()),
    )
