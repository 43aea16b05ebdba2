"""forecast: LSTM stock-price forecasting driven by YAML configs.

The folders follow the data: ``data`` (bars → features → split → scaled windows) →
``model`` (build, fused kernels, training, parameter counts, the NumPy reference network) →
``forecasting`` (sample paths, conformal calibration) → ``evaluation`` (metrics, backtests,
band scores) → ``report`` (figures, HTML) → ``store`` (run folders, atomic writes) →
``commands`` (one module per CLI command) → ``scaleout`` (Ray: batch, sweep).

The commands are also the Python API (for notebooks), loaded on first use::

    import forecast
    config = forecast.load_config("configs/quick.yaml")
    outcome = forecast.train(config)
    frame = forecast.forecast(outcome.run_dir, steps=10)

Importing the package is cheap: TensorFlow is imported only by the modules that need it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_config": "forecast.config",
    "load_data": "forecast.commands.common",
    "dataset_for": "forecast.commands.common",
    "train": "forecast.commands.train",
    "resume": "forecast.commands.train",
    "evaluate": "forecast.commands.evaluate",
    "forecast": "forecast.commands.forecast",
    "backtest": "forecast.commands.backtest",
    "compare": "forecast.commands.compare",
    "explain": "forecast.commands.explain",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the lazy API's names, listed once above)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'forecast' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)
