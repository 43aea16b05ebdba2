"""Several tickers in one fit. ``fit_global`` (``model.scope: global``): one network on
their pooled windows, every ticker cut at the same dates (``data.panel``) and scaled on its
own training rows. ``fit_local``: one network each, cut as its own single run would be, or
at the cut dates the config carries (a global fit's, so that both scopes are judged on the
same test bars). Either way each ticker has a member forecaster holding its own bars,
scaler, calibration and baselines (a global member shares the network), so it predicts and
is scored as a single run is."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from forecast.config import Config
from forecast.data.panel import Panel, panel_datasets
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
    scalers: Mapping[str, Any] | None = None,
    start: Path | None = None,
    indices: Mapping[str, int] | None = None,
) -> Forecaster:
    """Fit ``forecaster`` on every ticker's windows at once; its ``members_`` are the
    tickers (those the panel left out are in ``panel_.errors``). ``scalers``: fitted
    scalers to keep, by ticker; ``start``: a model file to warm-start the one network from
    (an update of a global run gives both). With ``model.ticker_embedding``, each ticker's
    row of the embedding: ``indices`` (an update keeps its parent's), else its place among
    the tickers fitted."""
    from forecast.model.train import train_network

    markets = markets_of(forecaster.config, series)
    config, panel = _panel(forecaster.config, markets, scalers)
    if config.model.ticker_embedding and indices is None:
        indices = {ticker: index for index, ticker in enumerate(panel.datasets)}
    if not config.model.ticker_embedding:
        indices = None
    started = time.perf_counter()
    model, result = train_network(
        config,
        panel.pooled(indices),
        start=start,
        callbacks=callbacks,
        on_epoch=on_epoch,
        echo=echo,
        tickers=len(indices) if indices else 0,
    )
    forecaster.config, forecaster.model_, forecaster.panel_ = config, model, panel
    forecaster.history_, forecaster.epochs_run_ = result.history, result.epochs_run
    forecaster.train_seconds_ = time.perf_counter() - started
    forecaster.members_ = {}
    for ticker, dataset in panel.datasets.items():
        market = markets[ticker]
        market = replace(market, data=replace(market.data, test_start=panel.spec.test_start))
        member = Forecaster(replace(config, data=market.data))
        member.bars_, member.scaler_, member._dataset = market.bars, dataset.scaler, dataset
        member.model_, member.data_warnings_ = model, market.warnings
        member.history_, member.epochs_run_ = result.history, result.epochs_run
        member.ticker_index_ = None if indices is None else indices[ticker]
        member.calibrate(dataset, echo)
        forecaster.members_[ticker] = member
    return forecaster


def fit_local(
    forecaster: Forecaster,
    series: Mapping[str, Any],
    callbacks: Sequence[Any],
    echo: Callable | None,
) -> Forecaster:
    """One network per ticker. Each is cut as a single run of its bars would be, or, where
    the config carries cut dates (``data.test_start``, ``train.validation_start``: a
    global fit's, to judge both scopes on the same test bars), at those dates."""
    markets = markets_of(forecaster.config, series)
    forecaster.members_ = {}
    started = time.perf_counter()
    for ticker, market in markets.items():
        dated = replace(
            market, data=replace(market.data, test_start=forecaster.config.data.test_start)
        )
        config = replace(forecaster.config, data=dated.data)
        forecaster.members_[ticker] = Forecaster(config).fit(dated, callbacks=callbacks, echo=echo)
    forecaster.train_seconds_ = time.perf_counter() - started
    return forecaster


def markets_of(config: Config, series: Mapping[str, Any]) -> dict[str, MarketData]:
    """Each ticker's bars as MarketData, all at one interval."""
    if not series:
        raise UserError(f"{named('bars')}: an empty mapping; give at least one ticker's bars")
    markets = {}
    for ticker, bars in series.items():
        data = replace(config.data, ticker=str(ticker), source="frame", path=None)
        markets[str(ticker)] = (
            bars if isinstance(bars, MarketData) else market_from_frame(bars, data, str(ticker))
        )
    intervals = {market.data.interval for market in markets.values()}
    if len(intervals) > 1:
        raise UserError(
            f"{named('bars')}: the tickers' bars come at different intervals "
            f"({', '.join(sorted(intervals))}); one network needs one interval"
        )
    return markets


def _panel(
    config: Config, markets: Mapping[str, MarketData], scalers: Mapping[str, Any] | None = None
) -> tuple[Config, Panel]:
    """The tickers cut at the panel's dates, and the config carrying those cuts."""
    first = next(iter(markets.values()))
    data = replace(  # the bars' resolved interval, calendar and zone; the config's split
        first.data,
        ticker=config.data.ticker,
        test_fraction=config.data.test_fraction,
        test_start=config.data.test_start,
    )
    config = replace(config, data=data)
    panel = panel_datasets(
        {ticker: market.bars for ticker, market in markets.items()},
        WindowSpec.from_config(config),
        {ticker: market.label for ticker, market in markets.items()},
        scalers,
    )
    config = replace(  # the panel's cuts, as dates every member's run splits its bars by
        config,
        data=replace(config.data, test_start=panel.spec.test_start),
        train=replace(config.train, validation_start=panel.spec.validation_start),
    )
    return config, panel
