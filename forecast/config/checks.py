"""The names a config may use and the checks every value passes: one line naming the field,
the value and the rule, or the closest valid name."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from forecast.base.names import did_you_mean
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
REGULARIZER_CLASSES = {
    "l1": ("L1", "l1"),
    "l2": ("L2", "l2"),
    "orthogonal_regularizer": ("OrthogonalRegularizer", "factor"),
}
REGULARIZER_FIELDS = (
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


def check(condition: bool, path: str, value: Any, rule: str) -> None:
    """Refuse ``value`` at ``path`` unless ``condition``, saying the ``rule``."""
    if not condition:
        raise ConfigError(f"{path}: {value!r} is invalid: {rule}")


def check_name(value: str | None, allowed: tuple[str, ...], path: str) -> None:
    """Refuse a name that is not one of ``allowed``, with the closest one."""
    if value is not None and value not in allowed:
        hint = did_you_mean(value, allowed)
        hint = f" ({hint})" if hint else ""
        raise ConfigError(f"{path}: {value!r} is not one of {', '.join(allowed)}{hint}")


# Bar intervals by yfinance's names (60m and 1h are the same bar).
BAR_INTERVALS = (
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


def check_feature(name: Any, path: str) -> None:
    """A feature is a known name or volatility_N / rsi_N with N >= 2."""
    if not isinstance(name, str):
        raise ConfigError(f"{path}: {name!r} is not a feature name")
    match = WINDOWED_FEATURE.fullmatch(name)
    if match:
        check(int(match.group(2)) >= 2, path, name, f"{match.group(1)}_N needs a window N >= 2")
        return
    if name not in SOURCE_FEATURES + DERIVED_FEATURES:
        allowed = (*SOURCE_FEATURES, *DERIVED_FEATURES, "volatility_N", "rsi_N")
        hint = did_you_mean(name, FEATURE_NAMES)
        hint = f" ({hint})" if hint else ""
        raise ConfigError(
            f"{path}: {name!r} is not a feature; choose from {', '.join(allowed)}{hint}"
        )


def check_timezone(value: str | None, path: str) -> None:
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


def check_date(value: str | None, path: str) -> None:
    if value is None:
        return
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{path}: {value!r} is not a date; write it as YYYY-MM-DD") from None


def check_timestamp(value: str | None, path: str) -> None:
    """A date, or a date and time with an optional UTC offset (as run folders write them)."""
    if value is None:
        return
    try:
        dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(
            f"{path}: {value!r} is not a timestamp; write YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS]"
            f"[+HH:MM]"
        ) from None
