"""The user's cache folder: compiled kernels, exchange-calendar sessions, the sweep signing
key. ``$FORECAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/forecast`` or ``~/.cache/forecast``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where forecast keeps what it computes once per machine (never a result of a run)."""
    configured = os.environ.get("FORECAST_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "forecast"
