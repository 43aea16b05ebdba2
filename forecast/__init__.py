"""forecast: LSTM stock-price forecasting driven by YAML configs.

The folders follow the data: ``base`` (atomic writes, the cache folder, names) → ``data``
(bars → features → split → scaled windows) → ``model`` (build, fused kernels, training,
parameter counts, the NumPy reference network) → ``forecasting`` (the Forecaster: fit,
predict, save, load; sample paths, conformal calibration) → ``evaluation`` (metrics,
significance, backtests, band scores) → ``report`` (figures, text, HTML) → ``store`` (run
folders, journals) → ``commands`` (one module per CLI command) → ``scaleout`` (Ray: batch,
sweep). A module imports from its own folder or those before it, never after.

In a notebook, the forecaster works in memory until it is saved::

    import forecast
    forecaster = forecast.Forecaster("quick").fit(bars)   # a DataFrame or price Series
    forecaster.predict(steps=10).frame
    forecaster.save("runs/mine")                          # a run folder the CLI reads

The commands are the same API with their files written, loaded on first use; each returns a
``Result`` (the folder it wrote, its table, its numbers and its verdict)::

    result = forecast.train(forecast.load_config("quick"))
    forecast.forecast(result.folder, steps=10).table

Importing the package is cheap: TensorFlow is imported only by the modules that need it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "Forecaster": "forecast.forecasting.forecaster",
    "Result": "forecast.commands.result",
    "WindowSpec": "forecast.data.windows",
    "market_from_frame": "forecast.data.sources",
    "load_config": "forecast.config",
    "load_data": "forecast.commands.common",
    "dataset_for": "forecast.commands.common",
    "train": "forecast.commands.train",
    "resume": "forecast.commands.train",
    "evaluate": "forecast.commands.evaluate",
    "forecast": "forecast.commands.forecast",
    "score": "forecast.commands.score",
    "update": "forecast.commands.update",
    "backtest": "forecast.commands.backtest",
    "compare": "forecast.commands.compare",
    "explain": "forecast.commands.explain",
    "judge_tickers": "forecast.commands.judging",
    "judge_scopes": "forecast.commands.scopes",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the lazy API's names, listed once above)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'forecast' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)
