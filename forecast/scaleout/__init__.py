"""Scale-out on Ray: many tickers (``batch``) and hyperparameter sweeps (``sweep``).
``engine`` is the only module that imports Ray; ``batch`` and ``sweep`` load it through
``load_engine``, which names the extra to install when Ray or Optuna is missing."""

from __future__ import annotations

from types import ModuleType


def load_engine(purpose: str) -> ModuleType:
    """forecast.scaleout.engine, or one line naming the ``scaleout`` extra."""
    from forecast.base.extras import require

    require("scaleout", purpose)
    from forecast.scaleout import engine

    return engine
