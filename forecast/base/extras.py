"""The optional parts of forecast, and the one line that names the one to install.

``pip install forecast`` trains, forecasts, backtests and scores one ticker. Scaling out
(``batch``, ``sweep``: Ray, Ray Tune, Optuna), TensorBoard logs (``train.tensorboard``) and
MLflow tracking (``tracking.enabled``) are extras: ``pip install 'forecast[scaleout]'``,
``'forecast[tensorboard]'``, ``'forecast[tracking]'``, or ``'forecast[all]'``; ``pip install
-r requirements.txt`` (the README's command) installs everything the tests need.
"""

from __future__ import annotations

import importlib.util

from forecast.errors import UserError

EXTRAS = {
    "scaleout": ("ray", "optuna"),  # batch and sweep
    "tensorboard": ("tensorboard",),  # train.tensorboard
    "tracking": ("mlflow", "sqlalchemy", "alembic"),  # tracking.enabled, tracking.uri
}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that are not installed."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, purpose: str) -> None:
    """Refuse ``purpose`` in one line when its extra is not installed, saying how to get it."""
    absent = missing(extra)
    if absent:
        raise UserError(
            f"{purpose} needs {', '.join(absent)}, which is not installed: pip install "
            f"'forecast[{extra}]' (or pip install -r requirements.txt in a checkout)"
        )
