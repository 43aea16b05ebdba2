"""One network for several tickers (``model.scope: global``): fitted on their pooled
windows, the tickers cut at the same dates (``data.panel``), each scaled on its own training
rows. Each ticker then has a member forecaster that shares the network and holds its own
bars, scaler, calibration and baselines, so it predicts and is scored as a single run is."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from forecast.data.panel import panel_datasets
from forecast.data.sources import MarketData, market_from_frame
from forecast.data.windows import WindowSpec
from forecast.errors import UserError, named
from forecast.forecasting.forecaster import Forecaster


def fit_global(
    forecaster: Forecaster,
    series: Mapping[str, Any],
    callbacks: Sequence[Any],
    on_epoch: Callable[[int], None] | None,
    echo: Callable | None,
) -> Forecaster:
    """Fit ``forecaster`` on every ticker's windows at once; its ``members_`` are the
    tickers (those the panel left out are in ``panel_.errors``)."""
    from forecast.model.train import train_network

    if not series:
        raise UserError(f"{named('bars')}: an empty mapping; give at least one ticker's bars")
    markets = {}
    for ticker, bars in series.items():
        data = replace(forecaster.config.data, ticker=str(ticker), source="frame", path=None)
        markets[str(ticker)] = (
            bars if isinstance(bars, MarketData) else market_from_frame(bars, data, str(ticker))
        )
    intervals = {market.data.interval for market in markets.values()}
    if len(intervals) > 1:
        raise UserError(
            f"{named('bars')}: the tickers' bars come at different intervals "
            f"({', '.join(sorted(intervals))}); one network needs one interval"
        )
    first = next(iter(markets.values()))
    config = replace(
        forecaster.config, data=replace(first.data, ticker=forecaster.config.data.ticker)
    )
    panel = panel_datasets(
        {ticker: market.bars for ticker, market in markets.items()},
        WindowSpec.from_config(config),
        {ticker: market.label for ticker, market in markets.items()},
    )
    config = replace(  # the panel's cuts, as dates every member's run splits its bars by
        config,
        data=replace(config.data, test_start=panel.spec.test_start),
        train=replace(config.train, validation_start=panel.spec.validation_start),
    )
    started = time.perf_counter()
    model, result = train_network(
        config, panel.pooled(), callbacks=callbacks, on_epoch=on_epoch, echo=echo
    )
    forecaster.config, forecaster.model_, forecaster.panel_ = config, model, panel
    forecaster.history_, forecaster.epochs_run_ = result.history, result.epochs_run
    forecaster.train_seconds_ = time.perf_counter() - started
    forecaster.members_ = {}
    for ticker, dataset in panel.datasets.items():
        market = markets[ticker]
        member = Forecaster(
            replace(config, data=replace(market.data, test_start=panel.spec.test_start))
        )
        member.bars_, member.scaler_, member._dataset = market.bars, dataset.scaler, dataset
        member.model_, member.data_warnings_ = model, market.warnings
        member.history_, member.epochs_run_ = result.history, result.epochs_run
        member.calibrate(dataset, echo)
        forecaster.members_[ticker] = member
    return forecaster
