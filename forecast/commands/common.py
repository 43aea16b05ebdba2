"""What every command shares: load the configured data, read the bars that came since a run,
score test predictions beside naive and drift, and name counts in the data's own unit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base.names import safe_name
from forecast.base.values import read_json
from forecast.commands.result import Result
from forecast.config import Config
from forecast.data.interval import unit_words
from forecast.data.sources import MarketData, load_market, source_label
from forecast.data.windows import Dataset, WindowSpec, prepare_dataset
from forecast.errors import DataError, UserError, named
from forecast.forecasting.classical import Baselines
from forecast.forecasting.members import each_frame
from forecast.store.runs import PANEL


def dataset_for(
    config: Config, bars: pd.Series | pd.DataFrame, scaler: Any = None, label: str | None = None
) -> Dataset:
    """Features, split, scale and windows of ``bars`` as ``config`` says (fitting the scaler
    unless given)."""
    return prepare_dataset(
        bars,
        WindowSpec.from_config(config),
        scaler=scaler,
        label=label or source_label(config.data),
    )


def load_data(config: Config, refresh: bool = False) -> tuple[Config, MarketData]:
    """Load the configured data; the config comes back with interval, calendar and time
    zone resolved from it, as every later step (and the run folder) should see them."""
    market = load_market(config.data, refresh=refresh)
    return replace(config, data=market.data), market


def load_tickers(
    config: Config, tickers: list[str], refresh: bool = False
) -> tuple[dict[str, MarketData], dict[str, str]]:
    """Every ticker as the config's source serves it (a long CSV's rows, TICKER.csv in a
    folder, Yahoo): (the loaded, by ticker; the others' one-line errors, by ticker). One
    that fails is an error row, not the end of the others."""
    markets, errors = {}, {}
    for ticker in tickers:
        try:
            _, markets[ticker] = load_data(
                replace(config, data=replace(config.data, ticker=ticker)), refresh=refresh
            )
        except UserError as error:
            errors[ticker] = str(error)
    if not markets:
        raise DataError(
            "tickers: none could be loaded: "
            + "; ".join(f"{ticker}: {message}" for ticker, message in errors.items())
        )
    return markets, errors


def newer_bars(run: Any, data_path: str | Path | None = None, refresh: bool = False) -> MarketData:
    """The bars for a run's next step (``label`` says where from): the CSV ``data_path`` (the
    run's date, price and feature columns), or the run's own source read again up to its
    newest bar (a CSV that grew, Yahoo's cache; ``refresh`` downloads again)."""
    data = run.config.data
    if data_path is not None and refresh:
        raise UserError(
            f"{named('data_path', data_path)} with {named('refresh')}: the newer bars come from "
            f"one place; drop one of them"
        )
    if data_path is not None:
        return load_market(replace(data, source="csv", path=str(data_path), start=None, end=None))
    return load_market(replace(data, end=None), refresh=refresh)


def bar_words(config: Config, count: int) -> str:
    """'250 trading days', '24 hourly bars', '3 months': the data's own unit."""
    return unit_words(config.data.interval, config.data.calendar, count)


def test_metrics(
    predictions: pd.DataFrame, dataset: Dataset, baselines: Baselines | None = None
) -> dict[str, Any]:
    """The test metrics beside naive (metrics.json, evaluation.json), the DM p-value against
    the drift forecast (the last close plus the training rows' average change), so that an
    edge over naive which is only the drift says so, and the model beside each statistical
    model in ``baselines``, fitted on the training rows (the forecaster's ``baselines_``)."""
    from forecast.base.values import optional
    from forecast.evaluation.backtest import baseline_predictions
    from forecast.evaluation.baselines import fitted_predictions, versus_baselines
    from forecast.evaluation.metrics import forecast_metrics
    from forecast.evaluation.significance import diebold_mariano

    actual = predictions["actual"].to_numpy()
    predicted = predictions["predicted"].to_numpy()
    naive = predictions["naive"].to_numpy()
    prices = dataset.prices.to_numpy()
    drift = baseline_predictions(prices, dataset.n_train, len(prices), dataset.lookback)["drift"]
    metrics = {
        **forecast_metrics(actual, predicted, naive),
        "dm_p_value_drift": optional(diebold_mariano(actual, predicted, drift).p_value),
    }
    fitted = fitted_predictions(prices, dataset.n_train, baselines)
    metrics.update(
        versus_baselines(
            actual, predicted, naive, drift, fitted.forecasts, fitted.described, fitted.notes
        )
    )
    return metrics


def members_each(folder: str | Path, command: Callable[[Path], Result]) -> Result:
    """``command`` on every ticker's run folder of a global run, in the panel's order: one
    table with a ticker column, one verdict line per ticker."""
    folder = Path(folder)
    tickers = read_json(folder / PANEL)["tickers"]
    results = {ticker: command(folder / "runs" / safe_name(ticker)) for ticker in tickers}
    table = each_frame(results, lambda result: result.table)
    return Result(
        folder=folder,
        table=table,
        summary={ticker: result.summary for ticker, result in results.items()},
        verdict=" ".join(
            result.verdict
            if result.verdict.startswith(f"{ticker}: ")
            else f"{ticker}: {result.verdict}"
            for ticker, result in results.items()
        ),  # a forecast's line names its ticker already
        notes=tuple(note for result in results.values() for note in result.notes),
        detail=results,
    )
