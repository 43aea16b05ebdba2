"""The network's schema: recurrent, dropout and dense layers, and the stack they make."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from forecast.config.checks import (
    ACTIVATIONS,
    INITIALIZERS,
    RECURRENT_TYPES,
    REGULARIZER_CLASSES,
    REGULARIZER_FIELDS,
    REGULARIZERS,
    TYPE_SPECIFIC,
    check,
    check_name,
)


@dataclass(frozen=True)
class RecurrentLayerConfig:
    """One recurrent layer; its arguments pass through to the Keras layer of that type.

    ``return_sequences`` is not configurable: every recurrent layer but the last returns
    sequences, so any stack the YAML describes is well formed.
    """

    type: Literal["lstm", "gru", "simple_rnn"]
    units: int
    bidirectional: bool = False
    activation: str = "tanh"
    recurrent_activation: str | None = None  # LSTM/GRU only; resolved to Keras 3's "sigmoid"
    use_bias: bool = True
    kernel_initializer: str = "glorot_uniform"
    recurrent_initializer: str = "orthogonal"
    bias_initializer: str = "zeros"
    unit_forget_bias: bool | None = None  # LSTM only; resolved to True
    reset_after: bool | None = None  # GRU only; resolved to True
    kernel_regularizer: str | None = None
    recurrent_regularizer: str | None = None
    bias_regularizer: str | None = None
    activity_regularizer: str | None = None
    regularization_factor: float | None = None  # strength of the above; None: Keras's 0.01
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    go_backwards: bool = False
    unroll: bool = False

    def __post_init__(self) -> None:
        # Fill the type-specific Keras defaults so the resolved config says what ran.
        if self.type in ("lstm", "gru") and self.recurrent_activation is None:
            object.__setattr__(self, "recurrent_activation", "sigmoid")
        if self.type == "lstm" and self.unit_forget_bias is None:
            object.__setattr__(self, "unit_forget_bias", True)
        if self.type == "gru" and self.reset_after is None:
            object.__setattr__(self, "reset_after", True)

    def validate(self, path: str) -> None:
        check(self.units >= 1, f"{path}.units", self.units, "must be an integer >= 1")
        for name in ("dropout", "recurrent_dropout"):
            value = getattr(self, name)
            check(0 <= value < 1, f"{path}.{name}", value, "must be in [0, 1)")
        for name in ("activation", "recurrent_activation"):
            check_name(getattr(self, name), ACTIVATIONS, f"{path}.{name}")
        for name in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            check_name(getattr(self, name), INITIALIZERS, f"{path}.{name}")
        for name in REGULARIZER_FIELDS:
            check_name(getattr(self, name), REGULARIZERS, f"{path}.{name}")
        if self.regularization_factor is not None:
            check(
                self.regularization_factor > 0,
                f"{path}.regularization_factor",
                self.regularization_factor,
                "must be > 0",
            )
            check(
                any(getattr(self, name) for name in REGULARIZER_FIELDS),
                f"{path}.regularization_factor",
                self.regularization_factor,
                "sets the strength of this layer's *_regularizer settings, and none is "
                "set; set one (e.g. kernel_regularizer: l2) or remove it",
            )
        for name, owners in TYPE_SPECIFIC.items():
            check(
                self.type in owners or getattr(self, name) is None,
                f"{path}.{name}",
                getattr(self, name),
                f"applies to {' and '.join(owners)} layers only; "
                f"remove it from this {self.type} layer",
            )

    def keras_kwargs(self) -> dict[str, Any]:
        """The arguments for the Keras layer (everything but type and bidirectional).

        With ``regularization_factor`` each named regularizer becomes a Keras config dict
        with that strength, which ``keras.regularizers.get`` builds (no Keras import here).
        """
        kwargs = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("type", "bidirectional", "regularization_factor")
        }
        if self.regularization_factor is not None:
            for name in REGULARIZER_FIELDS:
                if kwargs[name] is not None:
                    class_name, argument = REGULARIZER_CLASSES[kwargs[name]]
                    kwargs[name] = {
                        "class_name": class_name,
                        "config": {argument: self.regularization_factor},
                    }
        return {
            key: value
            for key, value in kwargs.items()
            if value is not None or key.endswith("_regularizer")
        }


@dataclass(frozen=True)
class DropoutLayerConfig:
    """Dropout between layers (inactive at prediction time)."""

    type: Literal["dropout"]
    rate: float

    def validate(self, path: str) -> None:
        check(0 <= self.rate < 1, f"{path}.rate", self.rate, "must be in [0, 1)")


@dataclass(frozen=True)
class DenseLayerConfig:
    """A hidden Dense layer, after the recurrent layers (or on the flattened window)."""

    type: Literal["dense"]
    units: int
    activation: str = "linear"

    def validate(self, path: str) -> None:
        check(self.units >= 1, f"{path}.units", self.units, "must be an integer >= 1")
        check_name(self.activation, ACTIVATIONS, f"{path}.activation")


LayerConfig = RecurrentLayerConfig | DropoutLayerConfig | DenseLayerConfig
LAYER_TYPES: dict[str, type] = {
    **{name: RecurrentLayerConfig for name in RECURRENT_TYPES},
    "dropout": DropoutLayerConfig,
    "dense": DenseLayerConfig,
}


def _reference_layers() -> tuple[LayerConfig, ...]:
    return (
        RecurrentLayerConfig(type="lstm", units=50),
        DropoutLayerConfig(type="dropout", rate=0.2),
        RecurrentLayerConfig(type="lstm", units=100),
        DropoutLayerConfig(type="dropout", rate=0.2),
    )


@dataclass(frozen=True)
class ModelConfig:
    """The network: a stack of layers, then Dense(horizon), compiled with a loss and
    optimizer."""

    layers: tuple[LayerConfig, ...] = field(default_factory=_reference_layers)
    loss: Literal["mean_squared_error", "mean_absolute_error", "huber"] = "mean_squared_error"
    optimizer: Literal["rmsprop", "adam", "adamw", "sgd", "nadam", "adagrad"] = "rmsprop"
    learning_rate: float | None = None
    fused_lstm: bool = True  # LSTM layers as FusedLSTM (one compiled op per sequence)
    fused_dropout: bool = True  # Dropout layers as FusedDropout (one compiled op, own RNG)
    horizon: int = 1  # outputs: the next H bars at once (direct multi-step); 1 = one, recursed
    scope: Literal["local", "global"] = "local"  # several tickers: a network each, or one
    ticker_embedding: int = 0  # global: each ticker's learned vector of this size at every step

    def validate(self, path: str) -> None:
        check(len(self.layers) >= 1, f"{path}.layers", [], "needs at least one layer")
        check(
            0 <= self.ticker_embedding <= 64,
            f"{path}.ticker_embedding",
            self.ticker_embedding,
            "must be an integer in [0, 64] (0: no embedding)",
        )
        check(
            self.ticker_embedding == 0 or self.scope == "global",
            f"{path}.ticker_embedding",
            self.ticker_embedding,
            "tells the tickers of one network apart: set model.scope: global too (or 0)",
        )
        check(
            1 <= self.horizon <= 250,
            f"{path}.horizon",
            self.horizon,
            "must be an integer in [1, 250] (bars the output layer predicts at once)",
        )
        seen_dense = False
        for index, layer in enumerate(self.layers):
            layer.validate(f"{path}.layers.{index}")
            if isinstance(layer, DenseLayerConfig):
                seen_dense = True
            check(
                not (seen_dense and isinstance(layer, RecurrentLayerConfig)),
                f"{path}.layers.{index}.type",
                layer.type,
                "recurrent layers must come before dense layers",
            )
        if self.learning_rate is not None:
            check(
                self.learning_rate > 0,
                f"{path}.learning_rate",
                self.learning_rate,
                "must be > 0 (or null for the optimizer's default)",
            )
