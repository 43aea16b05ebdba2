"""A hyperparameter search space from YAML, checked against the config schema before any
trial runs.

SPACE.yaml maps dotted config keys to one distribution each::

    model.layers.0.units: {int: [8, 128], log: true}
    model.learning_rate: {loguniform: [1.0e-4, 1.0e-2]}
    data.lookback: {choice: [20, 60, 120]}
    data.target: {choice: [price, log_return]}

Every key must be one ``--set`` accepts; every value the distribution can draw must be one
the key accepts (choices one by one; a range's two ends, in the type it draws), so a typo
or an impossible range fails at once, naming the key, the range and the rule. Keys that
decide which rows are test rows, or where the data comes from, cannot be searched: a sweep
compares configs on the same rows.

This module imports neither Ray nor TensorFlow; ``forecast.scaleout.engine`` turns a ``Space`` into
Ray Tune's distributions.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forecast.config import Config, config_from_dict, read_yaml, set_key
from forecast.errors import ConfigError, named

KINDS = ("choice", "uniform", "loguniform", "int")
# Keys a sweep must hold fixed: they pick the data, the test rows or the output.
FIXED_SECTIONS = ("output",)
FIXED_DATA_KEYS = (
    "source",
    "ticker",
    "path",
    "date_column",
    "price_column",
    "start",
    "end",
    "auto_adjust",
    "cache_dir",
    "test_fraction",
    "calendar",
    "interval",
    "timezone",
    "ticker_column",
    "on_suspect_split",
)


@dataclass(frozen=True)
class Parameter:
    """One searched key and its distribution."""

    key: str  # dotted config key, e.g. model.layers.0.units
    kind: str  # choice | uniform | loguniform | int
    values: tuple[Any, ...] = ()  # choice: the options, in the file's order
    low: float | int | None = None  # uniform/loguniform/int: inclusive ends
    high: float | int | None = None
    log: bool = False  # int: sample on a log scale

    def describe(self) -> str:
        """The distribution as written in the space file (for messages and reports)."""
        if self.kind == "choice":
            return f"{{choice: {list(self.values)}}}"
        log = ", log: true" if self.kind == "int" and self.log else ""
        return f"{{{self.kind}: [{self.low}, {self.high}]{log}}}"

    @property
    def scalar_choices(self) -> bool:
        """Choices Optuna can store as they are (else trials draw an index into them)."""
        return all(
            value is None or isinstance(value, (bool, int, float, str)) for value in self.values
        )

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is one this distribution can draw."""
        if self.kind == "choice":
            return any(value == option and type(value) is type(option) for option in self.values)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Space:
    """The parameters of a search space, in the file's order."""

    parameters: tuple[Parameter, ...]
    source: str  # the file it came from, for messages

    @property
    def keys(self) -> list[str]:
        return [parameter.key for parameter in self.parameters]

    def largest(self, key: str) -> Any:
        """The largest value ``key`` can take in this space (None when it is not searched)."""
        for parameter in self.parameters:
            if parameter.key == key:
                return max(parameter.values) if parameter.kind == "choice" else parameter.high
        return None

    def decode(self, drawn: dict[str, Any]) -> dict[str, Any]:
        """Config values from what the search drew (an index for choices of lists)."""
        values = {}
        for parameter in self.parameters:
            value = drawn[parameter.key]
            if parameter.kind == "choice" and not parameter.scalar_choices:
                value = parameter.values[int(value)]
            elif parameter.kind == "int":
                value = int(value)
            values[parameter.key] = value
        return values

    def encode(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """What the search would draw for these config values; None when one lies outside
        the space."""
        drawn = {}
        for parameter in self.parameters:
            value = values.get(parameter.key)
            if not parameter.contains(value):
                return None
            if parameter.kind == "choice" and not parameter.scalar_choices:
                value = next(
                    index for index, option in enumerate(parameter.values) if option == value
                )
            drawn[parameter.key] = value
        return drawn

    def to_dict(self) -> dict[str, Any]:
        """The space as it would be written in SPACE.yaml."""
        result: dict[str, Any] = {}
        for parameter in self.parameters:
            if parameter.kind == "choice":
                result[parameter.key] = {"choice": list(parameter.values)}
            else:
                result[parameter.key] = {parameter.kind: [parameter.low, parameter.high]}
                if parameter.kind == "int":
                    result[parameter.key]["log"] = parameter.log
        return result


def configure(base: dict[str, Any], values: dict[str, Any]) -> Config:
    """The base config (plain mapping) with each dotted key set to its value, validated."""
    merged = copy.deepcopy(base)
    for key, value in values.items():
        set_key(merged, key, value, key)
    return config_from_dict(merged)


def _number(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _parse_one(key: str, spec: Any, where: str) -> Parameter:
    """One ``key: {kind: …}`` entry, checked for shape (not yet against the schema)."""
    usage = (
        "write it as {choice: [a, b, …]}, {uniform: [a, b]}, {loguniform: [a, b]} "
        "or {int: [a, b], log: false}"
    )
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: {spec!r} is not a distribution; {usage}")
    kinds = [name for name in spec if name in KINDS]
    extra = [name for name in spec if name not in KINDS and name != "log"]
    if len(kinds) != 1 or extra or ("log" in spec and kinds != ["int"]):
        from forecast.base.names import did_you_mean

        hint = did_you_mean(extra[0], KINDS) if extra else ""
        hint = f" ({hint})" if hint else ""
        raise ConfigError(f"{where}: {spec!r} is not a distribution{hint}; {usage}")
    kind = kinds[0]
    argument = spec[kind]
    if kind == "choice":
        if not isinstance(argument, list) or not argument:
            raise ConfigError(f"{where}: {{choice: {argument!r}}} needs a non-empty list of values")
        return Parameter(key, "choice", values=tuple(argument))
    if (
        not isinstance(argument, list)
        or len(argument) != 2
        or not all(_number(value, kind == "int") for value in argument)
    ):
        what = "two integers" if kind == "int" else "two numbers"
        raise ConfigError(f"{where}: {{{kind}: {argument!r}}} needs {what} [low, high]")
    low, high = argument
    if kind != "int":
        low, high = float(low), float(high)
    if not low < high:
        raise ConfigError(f"{where}: {{{kind}: [{low}, {high}]}} needs low < high")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log: {log!r} must be true or false")
    if (kind == "loguniform" or log) and low <= 0:
        raise ConfigError(
            f"{where}: {{{kind}: [{low}, {high}]}} is on a log scale, so low must be > 0"
        )
    return Parameter(key, kind, low=low, high=high, log=log)


def _check_key(key: Any, where: str) -> None:
    if not isinstance(key, str) or not key or not all(key.split(".")):
        raise ConfigError(f"{where}: {key!r} is not a dotted config key like model.learning_rate")
    section, _, rest = key.partition(".")
    field_name = rest.split(".")[0]
    if section in FIXED_SECTIONS or (section == "data" and field_name in FIXED_DATA_KEYS):
        raise ConfigError(
            f"{where}: cannot be searched: it decides the data, the test "
            f"rows or the output, which every trial must share; set it with "
            f"--config or --set instead"
        )


def check_space(space: Space, base: dict[str, Any]) -> None:
    """Every value each parameter can draw must be valid for its key in the base config."""
    for parameter in space.parameters:
        where = f"{space.source}: {parameter.key}"
        set_key(copy.deepcopy(base), parameter.key, None, where)  # unknown: closest named
        if parameter.kind == "choice":
            candidates = list(parameter.values)
        elif parameter.kind == "int":
            candidates = [parameter.low, parameter.high]
        else:
            candidates = [float(parameter.low), float(parameter.high)]
        for value in candidates:
            try:
                configure(base, {parameter.key: value})
            except ConfigError as error:
                raise ConfigError(
                    f"{where}: {parameter.describe()} can draw {value!r}, which "
                    f"the key does not accept ({error})"
                ) from None


def base_value(base: dict[str, Any], key: str) -> Any:
    """The base config's value of a dotted key (None where the layer lacks the option)."""
    node: Any = base
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def read_space(path: str | Path, base: dict[str, Any]) -> Space:
    """Read SPACE.yaml (``yaml.safe_load``) and check it against the base config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{named('space_path', path)}: file not found; pass a search-space YAML file "
            f"(see configs/space.yaml)"
        )
    try:
        values = read_yaml(path)
    except ConfigError as error:
        text = str(error)
        if "config file is empty" in text or "expected a mapping" in text:
            raise ConfigError(
                f"{path}: the search space is empty; map at least one dotted "
                f"config key to a distribution (see configs/space.yaml)"
            ) from None
        raise
    return space_from_dict(values, base, str(path))


def space_from_dict(values: Any, base: dict[str, Any], source: str = "space") -> Space:
    """A Space from a plain mapping, checked against the base config (a plain mapping)."""
    if not isinstance(values, dict) or not values:
        raise ConfigError(
            f"{source}: the search space is empty; map at least one dotted "
            f"config key to a distribution (see configs/space.yaml)"
        )
    parameters = []
    for key, spec in values.items():
        _check_key(key, f"{source}: {key}")
        parameters.append(_parse_one(key, spec, f"{source}: {key}"))
    space = Space(tuple(parameters), source)
    check_space(space, base)
    return space


def space_text(space: Space) -> str:
    """The space as YAML (saved in the sweep folder, compared on --resume)."""
    return yaml.safe_dump(space.to_dict(), sort_keys=False)
