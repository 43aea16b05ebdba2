"""Typed, frozen configuration loaded once from YAML and passed down explicitly.

Every key is checked at load: unknown keys fail naming the key and the closest valid one,
wrong types and out-of-range values fail naming the field, the value and the rule. This
module imports neither TensorFlow nor pandas, so validating a config is instant.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from forecast.errors import ConfigError

# Names Keras 3 resolves with keras.activations.get / initializers.get / regularizers.get
# (tests/test_config.py checks each against Keras itself).
ACTIVATIONS = (
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "mish",
    "softplus",
    "softsign",
    "exponential",
    "linear",
    "hard_silu",
    "log_sigmoid",
    "celu",
)
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "orthogonal",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "identity",
    "variance_scaling",
)
REGULARIZERS = ("l1", "l2", "orthogonal_regularizer")
# Keras class and strength argument for each name, used when a factor is configured
_REGULARIZER_CLASSES = {
    "l1": ("L1", "l1"),
    "l2": ("L2", "l2"),
    "orthogonal_regularizer": ("OrthogonalRegularizer", "factor"),
}
_REGULARIZER_FIELDS = (
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "activity_regularizer",
)
RECURRENT_TYPES = ("lstm", "gru", "simple_rnn")
# Recurrent-layer options that only some layer types have.
TYPE_SPECIFIC = {
    "recurrent_activation": ("lstm", "gru"),
    "unit_forget_bias": ("lstm",),
    "reset_after": ("gru",),
}


def _check(condition: bool, path: str, value: Any, rule: str) -> None:
    if not condition:
        raise ConfigError(f"{path}: {value!r} is invalid: {rule}")


def _check_name(value: str | None, allowed: tuple[str, ...], path: str) -> None:
    if value is not None and value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(allowed)}{hint}")


# Bar intervals by yfinance's names (60m and 1h are the same bar).
INTERVALS = (
    "auto",
    "1m",
    "2m",
    "5m",
    "15m",
    "30m",
    "60m",
    "90m",
    "1h",
    "1d",
    "5d",
    "1wk",
    "1mo",
    "3mo",
)
# Model inputs: the source's columns, and features derived from them or from the timestamps.
# volatility_N and rsi_N take a window length N >= 2 (e.g. volatility_20, rsi_14).
SOURCE_FEATURES = ("open", "high", "low", "close", "adj_close", "volume")
DERIVED_FEATURES = ("log_return", "log_volume", "range", "macd", "day_of_week", "hour", "month")
FEATURE_NAMES = (*SOURCE_FEATURES, *DERIVED_FEATURES, "volatility_20", "rsi_14")
WINDOWED_FEATURE = re.compile(r"(volatility|rsi)_(\d+)")  # volatility_N, rsi_N


def _check_feature(name: Any, path: str) -> None:
    """A feature is a known name or volatility_N / rsi_N with N >= 2."""
    if not isinstance(name, str):
        raise ConfigError(f"{path}: {name!r} is not a feature name")
    match = WINDOWED_FEATURE.fullmatch(name)
    if match:
        _check(int(match.group(2)) >= 2, path, name, f"{match.group(1)}_N needs a window N >= 2")
        return
    if name not in SOURCE_FEATURES + DERIVED_FEATURES:
        allowed = (*SOURCE_FEATURES, *DERIVED_FEATURES, "volatility_N", "rsi_N")
        close = difflib.get_close_matches(name, FEATURE_NAMES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{path}: {name!r} is not a feature; choose from {', '.join(allowed)}{hint}"
        )


def _check_timezone(value: str | None, path: str) -> None:
    if value is None:
        return
    import zoneinfo  # standard library, cheap

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{path}: {value!r} is not a time zone; use an IANA name such as "
            f"UTC or America/New_York, or null to keep the data's own"
        ) from None


def _check_date(value: str | None, path: str) -> None:
    if value is None:
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{path}: {value!r} is not a date; write it as YYYY-MM-DD") from None


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from and how they are cut into windows."""

    source: Literal["sample", "csv", "yahoo"] = "sample"
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
    target: Literal["price", "log_return"] = "price"
    calendar: str = "auto"  # resolved from the data when a run starts (see data/calendar.py)
    interval: str = "auto"  # resolved from the timestamps' spacing (see data/interval.py)
    timezone: str | None = None  # intraday only; null keeps the data's own zone
    features: tuple[str, ...] = ("close",)
    on_suspect_split: Literal["warn", "error"] = "warn"
    ticker_column: str = "Ticker"  # long-format CSVs: the column naming each row's ticker

    def validate(self, path: str) -> None:
        _check(
            bool(re.fullmatch(r"[A-Za-z0-9_/-]+", self.calendar)),
            f"{path}.calendar",
            self.calendar,
            "must be auto, an exchange calendar code such as XNYS, 24/7, 24/5, or 'business'",
        )
        _check_name(self.interval, INTERVALS, f"{path}.interval")
        _check_timezone(self.timezone, f"{path}.timezone")
        _check(
            len(self.features) >= 1,
            f"{path}.features",
            list(self.features),
            "needs at least one feature, e.g. [close]",
        )
        for index, name in enumerate(self.features):
            _check_feature(name, f"{path}.features.{index}")
        duplicates = sorted({name for name in self.features if self.features.count(name) > 1})
        _check(
            not duplicates,
            f"{path}.features",
            list(self.features),
            f"lists {', '.join(duplicates)} more than once",
        )
        _check(
            "close" in self.features,
            f"{path}.features",
            list(self.features),
            "must include close, the series being forecast (data.price_column, as "
            "data.target models it)",
        )
        _check(self.lookback >= 2, f"{path}.lookback", self.lookback, "must be an integer >= 2")
        _check(
            0 <= self.test_fraction <= 0.5,
            f"{path}.test_fraction",
            self.test_fraction,
            "must be in [0, 0.5] (0: a production fit on every bar, no test rows)",
        )
        _check(
            self.source != "csv" or bool(self.path),
            f"{path}.path",
            self.path,
            "data.source 'csv' needs data.path, the CSV file to read",
        )
        _check(bool(self.ticker.strip()), f"{path}.ticker", self.ticker, "must not be empty")
        _check(
            self.source != "sample" or self.ticker.upper() == "MSFT",
            f"{path}.ticker",
            self.ticker,
            "the shipped sample holds MSFT only; use data.source 'yahoo' or 'csv' "
            "for other tickers",
        )
        _check_date(self.start, f"{path}.start")
        _check_date(self.end, f"{path}.end")
        if self.start and self.end:
            _check(self.start < self.end, f"{path}.end", self.end, "must be after data.start")


@dataclass(frozen=True)
class RecurrentLayerConfig:
    """One recurrent layer; its arguments pass through to the Keras layer of that type.

    ``return_sequences`` is not configurable: every recurrent layer but the last returns
    sequences, so any stack the YAML describes is well formed.
    """

    type: Literal["lstm", "gru", "simple_rnn"]
    units: int
    bidirectional: bool = False
    activation: str = "tanh"
    recurrent_activation: str | None = None  # LSTM/GRU only; resolved to Keras 3's "sigmoid"
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    recurrent_initializer: str = "orthogonal"
    bias_initializer: str = "zeros"
    unit_forget_bias: bool | None = None  # LSTM only; resolved to True
    reset_after: bool | None = None  # GRU only; resolved to True
    kernel_regularizer: str | None = None
    recurrent_regularizer: str | None = None
    bias_regularizer: str | None = None
    activity_regularizer: str | None = None
    regularization_factor: float | None = None  # strength of the above; None: Keras's 0.01
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    go_backwards: bool = False
    unroll: bool = False

    def __post_init__(self) -> None:
        # Fill the type-specific Keras defaults so the resolved config says what ran.
        if self.type in ("lstm", "gru") and self.recurrent_activation is None:
            object.__setattr__(self, "recurrent_activation", "sigmoid")
        if self.type == "lstm" and self.unit_forget_bias is None:
            object.__setattr__(self, "unit_forget_bias", True)
        if self.type == "gru" and self.reset_after is None:
            object.__setattr__(self, "reset_after", True)

    def validate(self, path: str) -> None:
        _check(self.units >= 1, f"{path}.units", self.units, "must be an integer >= 1")
        for name in ("dropout", "recurrent_dropout"):
            value = getattr(self, name)
            _check(0 <= value < 1, f"{path}.{name}", value, "must be in [0, 1)")
        for name in ("activation", "recurrent_activation"):
            _check_name(getattr(self, name), ACTIVATIONS, f"{path}.{name}")
        for name in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            _check_name(getattr(self, name), INITIALIZERS, f"{path}.{name}")
        for name in _REGULARIZER_FIELDS:
            _check_name(getattr(self, name), REGULARIZERS, f"{path}.{name}")
        if self.regularization_factor is not None:
            _check(
                self.regularization_factor > 0,
                f"{path}.regularization_factor",
                self.regularization_factor,
                "must be > 0",
            )
            _check(
                any(getattr(self, name) for name in _REGULARIZER_FIELDS),
                f"{path}.regularization_factor",
                self.regularization_factor,
                "sets the strength of this layer's *_regularizer settings, and none is "
                "set; set one (e.g. kernel_regularizer: l2) or remove it",
            )
        for name, owners in TYPE_SPECIFIC.items():
            _check(
                self.type in owners or getattr(self, name) is None,
                f"{path}.{name}",
                getattr(self, name),
                f"applies to {' and '.join(owners)} layers only; "
                f"remove it from this {self.type} layer",
            )

    def keras_kwargs(self) -> dict[str, Any]:
        """The arguments for the Keras layer (everything but type and bidirectional).

        With ``regularization_factor`` each named regularizer becomes a Keras config dict
        with that strength, which ``keras.regularizers.get`` builds (no Keras import here).
        """
        kwargs = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("type", "bidirectional", "regularization_factor")
        }
        if self.regularization_factor is not None:
            for name in _REGULARIZER_FIELDS:
                if kwargs[name] is not None:
                    class_name, argument = _REGULARIZER_CLASSES[kwargs[name]]
                    kwargs[name] = {
                        "class_name": class_name,
                        "config": {argument: self.regularization_factor},
                    }
        return {
            key: value
            for key, value in kwargs.items()
            if value is not None or key.endswith("_regularizer")
        }


@dataclass(frozen=True)
class DropoutLayerConfig:
    """Dropout between layers (inactive at prediction time)."""

    type: Literal["dropout"]
    rate: float

    def validate(self, path: str) -> None:
        _check(0 <= self.rate < 1, f"{path}.rate", self.rate, "must be in [0, 1)")


@dataclass(frozen=True)
class DenseLayerConfig:
    """A hidden Dense layer, after the recurrent layers (or on the flattened window)."""

    type: Literal["dense"]
    units: int
    activation: str = "linear"

    def validate(self, path: str) -> None:
        _check(self.units >= 1, f"{path}.units", self.units, "must be an integer >= 1")
        _check_name(self.activation, ACTIVATIONS, f"{path}.activation")


LayerConfig = RecurrentLayerConfig | DropoutLayerConfig | DenseLayerConfig
LAYER_TYPES: dict[str, type] = {
    **{name: RecurrentLayerConfig for name in RECURRENT_TYPES},
    "dropout": DropoutLayerConfig,
    "dense": DenseLayerConfig,
}


def _reference_layers() -> tuple[LayerConfig, ...]:
    return (
        RecurrentLayerConfig(type="lstm", units=50),
        DropoutLayerConfig(type="dropout", rate=0.2),
        RecurrentLayerConfig(type="lstm", units=100),
        DropoutLayerConfig(type="dropout", rate=0.2),
    )


@dataclass(frozen=True)
class ModelConfig:
    """The network: a stack of layers, then Dense(horizon), compiled with a loss and
    optimizer."""

    layers: tuple[LayerConfig, ...] = field(default_factory=_reference_layers)
    loss: Literal["mean_squared_error", "mean_absolute_error", "huber"] = "mean_squared_error"
    optimizer: Literal["rmsprop", "adam", "adamw", "sgd", "nadam", "adagrad"] = "rmsprop"
    learning_rate: float | None = None
    fused_lstm: bool = True  # LSTM layers as FusedLSTM (one compiled op per sequence)
    fused_dropout: bool = True  # Dropout layers as FusedDropout (one compiled op, own RNG)
    horizon: int = 1  # outputs: the next H bars at once (direct multi-step); 1 = one, recursed

    def validate(self, path: str) -> None:
        _check(len(self.layers) >= 1, f"{path}.layers", [], "needs at least one layer")
        _check(
            1 <= self.horizon <= 250,
            f"{path}.horizon",
            self.horizon,
            "must be an integer in [1, 250] (bars the output layer predicts at once)",
        )
        seen_dense = False
        for index, layer in enumerate(self.layers):
            layer.validate(f"{path}.layers.{index}")
            if isinstance(layer, DenseLayerConfig):
                seen_dense = True
            _check(
                not (seen_dense and isinstance(layer, RecurrentLayerConfig)),
                f"{path}.layers.{index}.type",
                layer.type,
                "recurrent layers must come before dense layers",
            )
        if self.learning_rate is not None:
            _check(
                self.learning_rate > 0,
                f"{path}.learning_rate",
                self.learning_rate,
                "must be > 0 (or null for the optimizer's default)",
            )

    @property
    def recurrent_layers(self) -> list[RecurrentLayerConfig]:
        return [layer for layer in self.layers if isinstance(layer, RecurrentLayerConfig)]


@dataclass(frozen=True)
class ReduceLROnPlateauConfig:
    """keras.callbacks.ReduceLROnPlateau: lower the learning rate when ``monitor`` stalls."""

    name: Literal["ReduceLROnPlateau"]
    monitor: Literal["loss", "val_loss"] = "val_loss"
    factor: float = 0.1
    patience: int = 10
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: float = 0.0001
    cooldown: int = 0
    min_lr: float = 0.0

    def validate(self, path: str) -> None:
        _check(0 < self.factor < 1, f"{path}.factor", self.factor, "must be in (0, 1)")
        for name in ("patience", "cooldown"):
            _check(
                getattr(self, name) >= 0,
                f"{path}.{name}",
                getattr(self, name),
                "must be an integer >= 0",
            )
        for name in ("min_delta", "min_lr"):
            _check(getattr(self, name) >= 0, f"{path}.{name}", getattr(self, name), "must be >= 0")


@dataclass(frozen=True)
class CSVLoggerConfig:
    """keras.callbacks.CSVLogger: each epoch's logs as a CSV row in the run folder."""

    name: Literal["CSVLogger"]
    filename: str = "training_log.csv"
    separator: str = ","

    def validate(self, path: str) -> None:
        _check(
            bool(re.fullmatch(r"[A-Za-z0-9_.-]+\.csv", self.filename))
            and ".." not in self.filename,
            f"{path}.filename",
            self.filename,
            "must be a file name ending in .csv (written in the run folder)",
        )
        _check(
            len(self.separator) == 1, f"{path}.separator", self.separator, "must be one character"
        )


@dataclass(frozen=True)
class TerminateOnNaNConfig:
    """keras.callbacks.TerminateOnNaN: stop when the loss is not a number."""

    name: Literal["TerminateOnNaN"]

    def validate(self, path: str) -> None:
        pass


@dataclass(frozen=True)
class LearningRateSchedulerConfig:
    """keras.callbacks.LearningRateScheduler with a named schedule of the epoch e, from
    model.learning_rate r: exponential r·decay^e, step r·decay^⌊e/every⌋, cosine
    r·(1 + cos(π·e/epochs))/2."""

    name: Literal["LearningRateScheduler"]
    schedule: Literal["exponential", "step", "cosine"]
    decay: float = 0.9
    every: int = 10

    def validate(self, path: str) -> None:
        _check(0 < self.decay <= 1, f"{path}.decay", self.decay, "must be in (0, 1]")
        _check(self.every >= 1, f"{path}.every", self.every, "must be an integer >= 1")


CallbackConfig = (
    ReduceLROnPlateauConfig | CSVLoggerConfig | TerminateOnNaNConfig | LearningRateSchedulerConfig
)
CALLBACK_TYPES: dict[str, type] = {
    "ReduceLROnPlateau": ReduceLROnPlateauConfig,
    "CSVLogger": CSVLoggerConfig,
    "TerminateOnNaN": TerminateOnNaNConfig,
    "LearningRateScheduler": LearningRateSchedulerConfig,
}


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted; the seed makes the same config give the same metrics."""

    epochs: int = 50
    batch_size: int = 64
    validation_fraction: float = 0.1
    early_stopping_patience: int | None = None
    restore_best_weights: bool = True
    seed: int = 42
    progress: Literal["auto", "bar", "epoch", "none"] = "auto"
    update_epochs: int = 5  # update: epochs of warm start on the newest bars
    tensorboard: bool = False  # TensorBoard logs (scalars per epoch) in the run folder
    callbacks: tuple[CallbackConfig, ...] = ()  # Keras built-in callbacks by name

    def validate(self, path: str) -> None:
        _check(self.epochs >= 1, f"{path}.epochs", self.epochs, "must be an integer >= 1")
        _check(
            self.update_epochs >= 1,
            f"{path}.update_epochs",
            self.update_epochs,
            "must be an integer >= 1",
        )
        _check(
            self.batch_size >= 1, f"{path}.batch_size", self.batch_size, "must be an integer >= 1"
        )
        _check(
            0 <= self.validation_fraction <= 0.5,
            f"{path}.validation_fraction",
            self.validation_fraction,
            "must be in [0, 0.5]",
        )
        if self.early_stopping_patience is not None:
            _check(
                self.early_stopping_patience >= 1,
                f"{path}.early_stopping_patience",
                self.early_stopping_patience,
                "must be >= 1, or null to train every epoch",
            )
            _check(
                self.validation_fraction > 0,
                f"{path}.early_stopping_patience",
                self.early_stopping_patience,
                "early stopping watches the validation loss; set train.validation_fraction > 0",
            )
        _check(0 <= self.seed < 2**32, f"{path}.seed", self.seed, "must be in [0, 2**32)")
        for index, callback in enumerate(self.callbacks):
            callback.validate(f"{path}.callbacks.{index}")


@dataclass(frozen=True)
class ForecastConfig:
    """How forecasts get their bands (see forecast/forecasting/conformal.py)."""

    intervals: Literal["conformal", "mc_dropout", "none"] = "conformal"
    adaptive: bool = False  # ACI (Gibbs & Candès 2021): backtests, forecasts from the journal
    adaptive_step: float = 0.005  # ACI's step size gamma

    def validate(self, path: str) -> None:
        _check(
            0 < self.adaptive_step < 0.5,
            f"{path}.adaptive_step",
            self.adaptive_step,
            "must be in (0, 0.5); Gibbs & Candès use 0.005",
        )
        _check(
            not self.adaptive or self.intervals == "conformal",
            f"{path}.adaptive",
            self.adaptive,
            "adapts conformal bands; set forecast.intervals: conformal",
        )


@dataclass(frozen=True)
class OutputConfig:
    """Where run folders go."""

    runs_dir: str = "runs"


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def validate(self) -> None:
        self.data.validate("data")
        self.model.validate("model")
        self.train.validate("train")
        self.forecast.validate("forecast")
        for index, callback in enumerate(self.train.callbacks):
            _check(
                callback.name != "LearningRateScheduler" or self.model.learning_rate is not None,
                f"train.callbacks.{index}.schedule",
                getattr(callback, "schedule", None),
                "starts from model.learning_rate; set it (e.g. model.learning_rate: 0.001)",
            )


def resolve_progress(progress: str) -> str:
    """``train.progress`` (or a batch's progress) for this process: ``auto`` is a bar on a
    terminal, a line per step in a log, nothing under CI."""
    if progress != "auto":
        return progress
    if os.environ.get("CI"):
        return "none"
    return "bar" if sys.stdout.isatty() else "epoch"


# --- dict <-> dataclass ---------------------------------------------------------------


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(hint))
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        type(None): "null",
    }.get(hint, str(hint))


_FLOAT_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _convert(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against a type hint and return it in the hinted type."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        allowed = typing.get_args(hint)
        if value not in allowed or isinstance(value, bool):
            _check_name(str(value), tuple(str(a) for a in allowed), path)
        return value
    if origin in (Union, types.UnionType):
        arguments = typing.get_args(hint)
        if value is None and type(None) in arguments:
            return None
        for argument in arguments:
            if argument is type(None):
                continue
            try:
                return _convert(value, argument, path)
            except ConfigError:
                if len(arguments) == 2:  # Optional[X]: the error of X says it best
                    raise ConfigError(f"{path}: {value!r} is not {_type_name(hint)}") from None
        raise ConfigError(f"{path}: {value!r} is not {_type_name(hint)}")
    if origin is tuple and typing.get_args(hint)[0] is str:  # tuple[str, ...]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of names, got {value!r}")
        return tuple(_convert(item, str, f"{path}.{index}") for index, item in enumerate(value))
    if origin is tuple:  # tuple[LayerConfig, ...] or tuple[CallbackConfig, ...]
        is_callbacks = typing.get_args(hint)[0] is CallbackConfig
        kind, builder = ("callbacks", _build_callback) if is_callbacks else ("layers", _build_layer)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of {kind}, got {value!r}")
        return tuple(builder(item, f"{path}.{index}") for index, item in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {value!r} is not true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: {value!r} is not an integer")
        return value
    if hint is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: {value!r} is not a number")
        return float(value)
    if hint is str:
        if isinstance(value, (dt.date, dt.datetime)):  # YAML reads 2015-01-02 as a date
            return value.isoformat()[:10]
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {value!r} is not a string")
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    raise TypeError(f"unsupported config type {hint!r} at {path}")  # a bug, not user input


def _build(cls: type, values: Any, path: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    where = path or "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{_join(path, key)}: unknown key{hint} (valid keys: {', '.join(names)})"
            )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in values:
            kwargs[f.name] = _convert(values[f.name], hints[f.name], _join(path, f.name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{_join(path, f.name)}: missing required key")
    return cls(**kwargs)


def _build_layer(values: Any, path: str) -> LayerConfig:
    if not isinstance(values, dict) or "type" not in values:
        raise ConfigError(
            f"{path}: a layer must be a mapping with a 'type' "
            f"({', '.join(LAYER_TYPES)}), got {values!r}"
        )
    layer_type = values["type"]
    _check_name(str(layer_type), tuple(LAYER_TYPES), f"{path}.type")
    return _build(LAYER_TYPES[layer_type], values, path)


def _build_callback(values: Any, path: str) -> CallbackConfig:
    if not isinstance(values, dict) or "name" not in values:
        raise ConfigError(
            f"{path}: a callback must be a mapping with a 'name' "
            f"({', '.join(CALLBACK_TYPES)}) and its arguments, got {values!r}"
        )
    _check_name(str(values["name"]), tuple(CALLBACK_TYPES), f"{path}.name")
    return _build(CALLBACK_TYPES[values["name"]], values, path)


def _join(path: str, key: Any) -> str:
    text = str(key)
    if not text or not text.isprintable() or any(char.isspace() for char in text):
        text = repr(text)  # keep the message on one readable line
    return f"{path}.{text}" if path else text


def config_from_dict(values: dict[str, Any]) -> Config:
    """Validate a plain mapping (as read from YAML) into a Config."""
    config = _build(Config, values, "")
    config.validate()
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    """The resolved config as plain data; inapplicable layer options are left out."""

    def clean(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            result = {}
            for f in dataclasses.fields(value):
                item = getattr(value, f.name)
                if item is None and f.name in TYPE_SPECIFIC:
                    continue
                result[f.name] = clean(item)
            return result
        if isinstance(value, tuple):
            return [clean(item) for item in value]
        return value

    return clean(config)


def config_hash(config: Config) -> str:
    """A stable fingerprint of the resolved config (for provenance in run.json)."""
    text = json.dumps(config_to_dict(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# --- YAML and overrides ----------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; never builds Python objects."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        shipped = ", ".join(
            sorted(item.stem for item in SHIPPED_CONFIGS.glob("*.yaml") if item.stem != "space")
        )
        raise ConfigError(
            f"{path}: config file not found; pass an existing file with "
            f"--config, or a shipped config by name ({shipped})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file ({error})") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    except ValueError as error:  # e.g. a date like 2020-13-01, which YAML parses eagerly
        raise ConfigError(
            f"{path}: invalid value ({error}); write dates as YYYY-MM-DD and check the file"
        ) from None
    if values is None:
        raise ConfigError(
            f"{path}: config file is empty; expected the sections "
            f"data, model, train, forecast, output (see configs/default.yaml)"
        )
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: expected a mapping with sections data, model, train, "
            f"forecast, output; got {type(values).__name__}"
        )
    return values


def apply_override(values: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set section.key=value`` to the raw mapping (value parsed as YAML)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set train.epochs=5")
    key, _, raw = assignment.partition("=")
    if not all(part for part in key.strip().split(".")):
        raise ConfigError(f"--set {assignment!r}: {key!r} is not a dotted key like train.epochs")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, ValueError):
        value = raw
    set_key(values, key.strip(), value, f"--set {key}")


def set_key(values: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set the dotted ``key`` (``model.layers.0.units``) of the raw mapping to ``value``.

    An unknown key fails naming the closest valid one; ``where`` starts the message (the
    flag or file the key came from).
    """
    parts = key.split(".")
    node: Any = values
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                span = f"0..{len(node) - 1}" if node else "the list is empty"
                raise ConfigError(f"{where}: {here} is not an index of that list ({span})")
            index = int(part)
            if last:
                node[index] = value
            node = node[index]
            continue
        if not isinstance(node, dict) or (part not in node and not _layer_option(node, part)):
            siblings = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, siblings, n=1, cutoff=0.5)
            hint = f"; did you mean {'.'.join(parts[:depth] + [close[0]])!r}?" if close else ""
            raise ConfigError(f"{where}: unknown key {here!r}{hint}")
        if last:
            node[part] = value
            if part == "type":  # a new layer type drops the old type's own options
                for option, owners in TYPE_SPECIFIC.items():
                    if value not in owners:
                        node.pop(option, None)
        node = node[part]


def _layer_option(node: dict[str, Any], key: str) -> bool:
    """Whether ``key`` is an option of the layer ``node`` describes (present or not)."""
    layer_class = LAYER_TYPES.get(node.get("type")) if isinstance(node.get("type"), str) else None
    return layer_class is not None and key in {f.name for f in dataclasses.fields(layer_class)}


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"  # default, quick, best, yahoo


def config_path(given: str | Path | None) -> Path:
    """The config file to read: ``given`` as a path when it exists, else a shipped config by
    name (``quick`` → forecast/configs/quick.yaml); None → the default config."""
    if given is None:
        return SHIPPED_CONFIGS / "default.yaml"
    path = Path(given)
    shipped = SHIPPED_CONFIGS / f"{path.name.removesuffix('.yaml')}.yaml"
    if not path.exists() and path.parent == Path(".") and shipped.exists():
        return shipped
    return path


def load_config(
    path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Load a YAML config (defaults where keys are absent; ``path`` a file or a shipped config
    by name), apply ``--set`` overrides, validate.

    Overrides go through the same validation as the file, so ``--set train.epochs=-1`` fails
    just like ``epochs: -1`` would.
    """
    values = config_to_dict(Config())
    if path is not None:
        path = config_path(path)  # a file, or a shipped config by name ("quick")
        values = _merge(values, read_yaml(path))
    for assignment in overrides:
        apply_override(values, assignment)
    try:
        return config_from_dict(values)
    except ConfigError as error:
        if path is not None:
            raise ConfigError(f"{path}: {error}") from None
        raise
