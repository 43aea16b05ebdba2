"""Names: how the user called us (so hints name a command they can type), closest-name hints
(an unknown key, feature, layer type or option is answered with the valid name it most
resembles), and names made safe for a file."""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterable
from pathlib import Path


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


def program_name() -> str:
    """How the user called us, so a hint names a command they can type: ``python main.py``
    from a checkout, ``python -m forecast``, or the installed ``forecast``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "forecast"
    if name == "main.py":
        return "python main.py"
    return "python -m forecast" if name == "__main__.py" else "forecast"
