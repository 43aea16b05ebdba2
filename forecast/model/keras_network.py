"""A Keras model behind the NumPy network's interface, for what needs TensorFlow: Monte-Carlo
dropout. Importing this module imports neither TensorFlow nor Keras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def reseed_dropout(model: Any, seed: int) -> None:
    """Reset every dropout seed-generator state of ``model`` from ``seed``.

    Keras draws dropout masks from per-layer seed generators whose state lives in the
    model's non-trainable variables; the global seed does not reach a model already built.
    """
    states = [
        variable
        for variable in model.non_trainable_variables
        if "seed_generator_state" in variable.path
    ]
    for index, state in enumerate(states):
        state.assign(np.array([seed * 1009 + index + 1, 0], dtype="int64"))


@dataclass(frozen=True)
class KerasNetwork:
    """A Keras model with ``predict(windows, dropout)`` like ``model.reference.Network``;
    ``dropout=True`` is Keras's training mode (masks drawn)."""

    model: Any  # keras.Model

    @property
    def outputs(self) -> int:
        return int(self.model.output_shape[-1])

    def predict(self, windows: np.ndarray, dropout: bool = False) -> np.ndarray:
        """(batch, L, F) -> (batch, H)."""
        import tensorflow as tf

        return np.asarray(
            self.model(tf.constant(np.asarray(windows, dtype="float32")), training=dropout)
        )

    def reseed(self, seed: int) -> None:
        """The same run and seed give the same dropout masks, hence the same bands."""
        reseed_dropout(self.model, seed)
