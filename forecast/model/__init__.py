"""Model: build the recurrent stack from config, train it, save and load it, run it in NumPy.

Names load lazily, so ``forecast.model.params`` (parameter counts) works without TensorFlow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build_model": "build",
    "fit_model": "train",
    "seed_everything": "train",
    "TrainingResult": "train",
    "layer_parameter_formula": "params",
    "parameter_table": "params",
    "Network": "reference",
    "KerasNetwork": "keras_network",
    "load_model": "saving",
    "save_model": "saving",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605  (the lazy exports' names, listed once above)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'forecast.model' has no attribute {name!r}")
    return getattr(import_module(f"forecast.model.{_EXPORTS[name]}"), name)
