"""update --forecast N, the nightly step in one command: once a run (or a global run's
folder) is updated with the newest bars, the record it carried forward is scored against
them (yesterday's forecasts resolved) and the next N bars are forecast and journalled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forecast.base.names import safe_name
from forecast.base.values import read_json
from forecast.commands.result import Result
from forecast.errors import UserError, named
from forecast.store.journal import JOURNAL
from forecast.store.runs import PANEL


def score_and_forecast(
    folder: str | Path, steps: int, echo: Callable[[str], None] = print
) -> tuple[Result | None, Result]:
    """(the live record scored, None when the folder carries no journal yet; the forecast)."""
    from forecast.commands.forecast import forecast
    from forecast.commands.score import score

    if steps < 1:
        raise UserError(f"{named('steps', steps)}: must be at least 1")
    folder = Path(folder)
    if (folder / PANEL).is_file():
        tickers = read_json(folder / PANEL)["tickers"]
        journals = [folder / "runs" / safe_name(ticker) / JOURNAL for ticker in tickers]
    else:
        journals = [folder / JOURNAL]
    scored = score(folder) if all(path.exists() for path in journals) else None
    if scored is not None:
        echo(scored.summary.get("pooled", {}).get("verdict") or scored.verdict)
    return scored, forecast(folder, steps=steps)
