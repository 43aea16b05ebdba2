"""Configs from YAML and ``--set`` overrides into the typed, frozen Config, and back.

Every key is checked at load: unknown keys fail naming the key and the closest valid one,
wrong types and out-of-range values fail naming the field, the value and the rule.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from forecast.base.names import closest, did_you_mean
from forecast.config.checks import TYPE_SPECIFIC, check_name
from forecast.config.network import LAYER_TYPES, LayerConfig
from forecast.config.schema import Config
from forecast.config.training import CALLBACK_TYPES, CallbackConfig
from forecast.errors import ConfigError

# Keys that were renamed: a user's config gets the new name in one line; a run folder's
# config.yaml from before the rename is read with the new name (``migrate_renamed``).
RENAMED_KEYS = {"forecast.intervals": "forecast.band_method"}

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
            check_name(str(value), tuple(str(a) for a in allowed), path)
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
        if _join(path, key) in RENAMED_KEYS:
            raise ConfigError(
                f"{_join(path, key)}: renamed to {RENAMED_KEYS[_join(path, key)]} (same "
                f"values); rename the key"
            )
        if key not in names:
            hint = did_you_mean(key, names, cutoff=0.5)
            hint = f"; {hint}" if hint else ""
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
    check_name(str(layer_type), tuple(LAYER_TYPES), f"{path}.type")
    return _build(LAYER_TYPES[layer_type], values, path)


def _build_callback(values: Any, path: str) -> CallbackConfig:
    if not isinstance(values, dict) or "name" not in values:
        raise ConfigError(
            f"{path}: a callback must be a mapping with a 'name' "
            f"({', '.join(CALLBACK_TYPES)}) and its arguments, got {values!r}"
        )
    check_name(str(values["name"]), tuple(CALLBACK_TYPES), f"{path}.name")
    return _build(CALLBACK_TYPES[values["name"]], values, path)


def _join(path: str, key: Any) -> str:
    text = str(key)
    if not text or not text.isprintable() or any(char.isspace() for char in text):
        text = repr(text)  # keep the message on one readable line
    return f"{path}.{text}" if path else text


def migrate_renamed(values: dict[str, Any]) -> dict[str, Any]:
    """A config written before a key was renamed (a run folder's), with the new names."""
    values = {
        key: dict(value) if isinstance(value, dict) else value for key, value in values.items()
    }
    for old, new in RENAMED_KEYS.items():
        section, _, key = old.partition(".")
        if isinstance(values.get(section), dict) and key in values[section]:
            values[section].setdefault(new.partition(".")[2], values[section].pop(key))
    return values


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
            f"data, model, train, forecast, evaluation, output, tracking (see configs/default.yaml)"
        )
    if not isinstance(values, dict):
        raise ConfigError(
            f"{path}: expected a mapping with sections data, model, train, "
            f"forecast, evaluation, output, tracking; got {type(values).__name__}"
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
            name = closest(part, siblings, cutoff=0.5)
            hint = f"; did you mean {'.'.join([*parts[:depth], name])!r}?" if name else ""
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


SHIPPED_CONFIGS = Path(__file__).resolve().parent.parent / "configs"  # default, quick, best, yahoo


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
    given = copy.deepcopy(values)
    for assignment in overrides:
        apply_override(values, assignment)
    try:
        return config_from_dict(values)
    except ConfigError as error:
        where = _blame(str(error), path, given, list(overrides))
        raise ConfigError(f"{where}: {error}" if where else str(error)) from None


def _blame(message: str, path: Path | None, given: dict[str, Any], overrides: list[str]) -> str:
    """Who gave the value a config was refused for: the ``--set KEY=VALUE`` that set that
    field (or, for a rule across fields, the first override after which the config fails),
    else the config file ("" for the defaults)."""
    for assignment in reversed(overrides):
        key = assignment.partition("=")[0].strip()
        if message.startswith((f"{key}:", f"{key}.", f"{key} ")):
            return f"--set {assignment}"
    values = copy.deepcopy(given)
    failing = _fails(values)
    for assignment in overrides:
        apply_override(values, assignment)
        if not failing and _fails(values):
            return f"--set {assignment}"
    return str(path) if path is not None else ""


def _fails(values: dict[str, Any]) -> bool:
    try:
        config_from_dict(copy.deepcopy(values))
    except ConfigError:
        return True
    return False
