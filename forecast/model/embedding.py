"""A global model's ticker embedding (``model.ticker_embedding: D``): each ticker a learned
vector of D numbers, joined to its inputs at every step, so that one network can tell the
tickers apart (as NeuralForecast's and DeepAR's id embeddings do).

The network's windows then carry one more column, the ticker's index in the panel (its
row of the embedding): ``with_ticker`` appends it for a network of one ticker's windows.
``TickerEmbedding`` is a Keras layer registered under ``forecast>``; Keras loads a
model.keras with it once ``keras_layer()`` has registered the class (the NumPy network reads
it without Keras)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def with_ticker(windows: np.ndarray, index: int) -> np.ndarray:
    """``windows`` with the ticker's index as one more column.  (n, L, F) -> (n, L, F+1)"""
    windows = np.asarray(windows, dtype="float32")
    column = np.full((*windows.shape[:2], 1), index, dtype="float32")  # (n, L, 1)
    return np.concatenate([windows, column], axis=-1)


@dataclass(frozen=True)
class TickerNetwork:
    """A network of a global model with an embedding, seen as one ticker's: it takes that
    ticker's windows (n, L, F), as ``Predictor`` and ``explain`` build them."""

    network: Any  # reference.Network or KerasNetwork: windows (n, L, F+1)
    index: int  # the ticker's row of the embedding

    @property
    def outputs(self) -> int:
        return self.network.outputs

    def predict(self, windows: np.ndarray, **options: Any) -> np.ndarray:
        return self.network.predict(with_ticker(windows, self.index), **options)

    def trace(self, windows: np.ndarray) -> Any:
        return self.network.trace(with_ticker(windows, self.index))

    def reseed(self, seed: int) -> None:
        self.network.reseed(seed)


_LAYER: list[Any] = []  # the Keras class, made (and registered) once


def keras_layer() -> Any:
    """The Keras layer class (imports TensorFlow on first use)."""
    if _LAYER:
        return _LAYER[0]
    from forecast.model.backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    @keras.saving.register_keras_serializable(package="forecast")
    class TickerEmbedding(keras.layers.Layer):
        """(batch, L, F+1) windows whose last column is the ticker's index → (batch, L,
        F+D): the index replaced by that ticker's vector at every step."""

        def __init__(self, tickers: int, dimension: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.tickers, self.dimension = int(tickers), int(dimension)

        def build(self, input_shape: Any) -> None:
            self.embeddings = self.add_weight(
                shape=(self.tickers, self.dimension),
                initializer=keras.initializers.RandomUniform(-0.05, 0.05),
                name="embeddings",
            )

        def call(self, windows: Any) -> Any:
            ids = keras.ops.cast(keras.ops.round(windows[..., -1]), "int32")  # (batch, L)
            vectors = keras.ops.take(self.embeddings, ids, axis=0)  # (batch, L, D)
            return keras.ops.concatenate([windows[..., :-1], vectors], axis=-1)

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (*input_shape[:-1], input_shape[-1] - 1 + self.dimension)

        def get_config(self) -> dict:
            return {**super().get_config(), "tickers": self.tickers, "dimension": self.dimension}

    _LAYER.append(TickerEmbedding)
    return TickerEmbedding
