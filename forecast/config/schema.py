"""The whole configuration of a run: data, model, train, forecast, evaluation, output and
tracking sections."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from forecast.base.bands import BAND_METHODS
from forecast.base.baselines import CLASSICAL
from forecast.config.checks import (
    BAR_INTERVALS,
    check,
    check_date,
    check_feature,
    check_name,
    check_timestamp,
    check_timezone,
)
from forecast.config.network import ModelConfig
from forecast.config.training import TrainConfig


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from and how they are cut into windows."""

    source: Literal["sample", "csv", "yahoo", "frame"] = "sample"  # frame: given in Python
    ticker: str = "MSFT"
    path: str | None = None
    date_column: str = "Date"
    price_column: str = "Close"
    start: str | None = None
    end: str | None = None
    auto_adjust: bool = True
    cache_dir: str = ".cache/prices"
    lookback: int = 60
    test_fraction: float = 0.2  # 0: a production fit on every bar (backtest scores the procedure)
    test_start: str | None = None  # the test bars start here (a date cut; replaces the fraction)
    target: Literal["price", "log_return"] = "price"
    scaling: Literal["auto", "minmax", "standard"] = "auto"  # auto: see data.windows
    calendar: str = "auto"  # resolved from the data when a run starts (see data/calendar.py)
    interval: str = "auto"  # resolved from the timestamps' spacing (see data/interval.py)
    timezone: str | None = None  # intraday only; null keeps the data's own zone
    features: tuple[str, ...] = ("close",)
    on_suspect_split: Literal["warn", "error"] = "warn"
    ticker_column: str = "Ticker"  # long-format CSVs: the column naming each row's ticker
    decimal: Literal["auto", ".", ","] = "auto"  # csv: the decimal mark (auto: from the cells)

    @property
    def production_fit(self) -> bool:
        """A production fit trains on every bar: no test rows (``test_fraction`` 0), so its
        out-of-sample score is the backtest's and its live record's."""
        return self.test_fraction == 0

    def validate(self, path: str) -> None:
        check_timestamp(self.test_start, f"{path}.test_start")
        check(
            0 < len(self.ticker.strip()) <= 64 and self.ticker.isprintable(),
            f"{path}.ticker",
            self.ticker,
            "must be 1 to 64 printable characters (no control characters such as NUL or a "
            "line break)",
        )
        check(
            bool(re.fullmatch(r"[A-Za-z0-9_/-]+", self.calendar)),
            f"{path}.calendar",
            self.calendar,
            "must be auto, an exchange calendar code such as XNYS, 24/7, 24/5, or 'business'",
        )
        check_name(self.interval, BAR_INTERVALS, f"{path}.interval")
        check_timezone(self.timezone, f"{path}.timezone")
        check(
            len(self.features) >= 1,
            f"{path}.features",
            list(self.features),
            "needs at least one feature, e.g. [close]",
        )
        for index, name in enumerate(self.features):
            check_feature(name, f"{path}.features.{index}")
        duplicates = sorted({name for name in self.features if self.features.count(name) > 1})
        check(
            not duplicates,
            f"{path}.features",
            list(self.features),
            f"lists {', '.join(duplicates)} more than once",
        )
        check(
            "close" in self.features,
            f"{path}.features",
            list(self.features),
            "must include close, the series being forecast (data.price_column, as "
            "data.target models it)",
        )
        check(self.lookback >= 2, f"{path}.lookback", self.lookback, "must be an integer >= 2")
        check(
            0 <= self.test_fraction <= 0.5,
            f"{path}.test_fraction",
            self.test_fraction,
            "must be in [0, 0.5] (0: a production fit on every bar, no test rows)",
        )
        check(
            self.source != "csv" or bool(self.path),
            f"{path}.path",
            self.path,
            "data.source 'csv' needs data.path, the CSV file to read",
        )
        check(bool(self.ticker.strip()), f"{path}.ticker", self.ticker, "must not be empty")
        check(
            self.source != "sample" or self.ticker.upper() == "MSFT",
            f"{path}.ticker",
            self.ticker,
            "the shipped sample holds MSFT only; use data.source 'yahoo' or 'csv' "
            "for other tickers",
        )
        check_date(self.start, f"{path}.start")
        check_date(self.end, f"{path}.end")
        if self.start and self.end:
            check(self.start < self.end, f"{path}.end", self.end, "must be after data.start")


@dataclass(frozen=True)
class ForecastConfig:
    """How forecasts get their bands (see forecast/forecasting/conformal.py)."""

    band_method: Literal[BAND_METHODS] = "conformal"  # how forecasts get their bands
    adaptive: bool = False  # ACI (Gibbs & Candès 2021): backtests, forecasts from the journal
    adaptive_step: float = 0.05  # ACI's step size gamma (bench/REPLAY.md: daily journals)

    def validate(self, path: str) -> None:
        check(
            0 < self.adaptive_step < 0.5,
            f"{path}.adaptive_step",
            self.adaptive_step,
            "must be in (0, 0.5); 0.05 suits a daily journal (docs/daily-loop.md)",
        )
        check(
            not self.adaptive or self.band_method == "conformal",
            f"{path}.adaptive",
            self.adaptive,
            "adapts conformal bands; set forecast.band_method: conformal",
        )


@dataclass(frozen=True)
class EvaluationConfig:
    """What the model is judged beside, besides naive, drift and the moving average (always
    there: they cost nothing). See forecast/forecasting/classical.py."""

    baselines: tuple[str, ...] = CLASSICAL  # statistical models fitted per run; [] for none
    long_short: int = 0  # batch: tickers per side of the cross-section's book (0: a fifth)
    cost_bps: float = 5.0  # batch: cost per side, in basis points of what the book trades

    def validate(self, path: str) -> None:
        check(self.long_short >= 0, f"{path}.long_short", self.long_short, "must be >= 0")
        check(
            0 <= self.cost_bps < 1e4,
            f"{path}.cost_bps",
            self.cost_bps,
            "must be >= 0 (basis points per side: 5 is 0.05 %)",
        )
        for index, name in enumerate(self.baselines):
            check_name(name, CLASSICAL, f"{path}.baselines.{index}")
        check(
            len(set(self.baselines)) == len(self.baselines),
            f"{path}.baselines",
            list(self.baselines),
            "names a model twice; list each once",
        )


@dataclass(frozen=True)
class OutputConfig:
    """Where run folders go."""

    runs_dir: str = "runs"


@dataclass(frozen=True)
class TrackingConfig:
    """Experiment tracking in MLflow, optional (pip install 'forecast[tracking]'): each
    train, backtest, compare, batch and sweep logged as one MLflow run."""

    enabled: bool = False  # on: log to ``uri``, or a SQLite store in output.runs_dir
    uri: str = ""  # a tracking URI (http://host:5000, sqlite:///path.db …); set, it is on
    experiment: str = "forecast"

    @property
    def on(self) -> bool:
        return self.enabled or bool(self.uri)

    def validate(self, path: str) -> None:
        check(bool(self.experiment.strip()), f"{path}.experiment", self.experiment, "is empty")


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def validate(self) -> None:
        self.data.validate("data")
        self.model.validate("model")
        self.train.validate("train")
        self.forecast.validate("forecast")
        self.evaluation.validate("evaluation")
        self.tracking.validate("tracking")
        for index, callback in enumerate(self.train.callbacks):
            check(
                callback.name != "LearningRateScheduler" or self.model.learning_rate is not None,
                f"train.callbacks.{index}.schedule",
                getattr(callback, "schedule", None),
                "starts from model.learning_rate; set it (e.g. model.learning_rate: 0.001)",
            )
