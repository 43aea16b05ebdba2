"""Missing values and JSON: one rule each way between a number that is undefined (NaN, inf)
and JSON's ``null``, and one way to read a JSON object that names the file when it cannot."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from forecast.errors import RunError


def optional(value: Any) -> float | None:
    """A statistic for JSON: ``None`` where it is undefined (NaN, inf or None)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def number(value: Any) -> float:
    """The inverse of ``optional``: ``None`` (JSON's null) as NaN, anything else a float."""
    return math.nan if value is None else float(value)


def plain(values: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready values: NumPy scalars as Python ones, NaN and inf as None."""
    result = {}
    for key, value in values.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()  # a NumPy scalar
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        result[key] = value
    return result


def json_ready(value: Any) -> Any:
    """``value`` with every part JSON can hold: NaN and inf as None, NumPy values as Python
    ones, paths and timestamps as text, nested through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (str, bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # a NumPy scalar or array
        return json_ready(value.tolist())
    if value != value:  # NaT
        return None
    if hasattr(value, "isoformat"):  # a Timestamp, date or datetime
        return value.isoformat()
    return str(value)  # a Path …


def json_text(value: Any) -> str:
    """One line of strict JSON (no NaN), for ``--json`` output."""
    return json.dumps(json_ready(value), allow_nan=False)


def listed(values: Any) -> list[float | None]:
    """An array of numbers as a JSON list, NaN as None."""
    return [optional(value) for value in values]


def read_json(path: Path, fix: str = "train the run again") -> dict[str, Any]:
    """A JSON object from ``path``, or a RunError naming the file, what is wrong and ``fix``."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable JSON ({error}); {fix}") from None
    if not isinstance(value, dict):
        raise RunError(f"{path}: expected a JSON object; {fix}")
    return value


def cell_text(value: Any) -> Any:
    """A value for one table cell or label: lists and mappings as YAML flow text."""
    if isinstance(value, (list, tuple, dict)):
        import yaml

        return yaml.safe_dump(value, default_flow_style=True).strip()
    return value
