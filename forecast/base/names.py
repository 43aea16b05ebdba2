"""Names: closest-name hints (an unknown key, feature, layer type or option is answered with
the valid name it most resembles), and names made safe for a file."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


def closest(value: object, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name ``value`` most resembles, or None when none is close."""
    found = difflib.get_close_matches(
        str(value), [str(choice) for choice in choices], n=1, cutoff=cutoff
    )
    return found[0] if found else None


def did_you_mean(value: object, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """ "did you mean 'x'?" for the closest valid name, or "" when none is close."""
    name = closest(value, choices, cutoff)
    return f"did you mean {name!r}?" if name else ""


def safe_name(text: str) -> str:
    """A file-name-safe fragment: no separators, no '..', nothing outside [A-Za-z0-9._-]."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-.")
    return cleaned[:40] or "run"
