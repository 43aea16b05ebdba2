"""Build (and compile) the Keras network that the YAML describes, and convert it between the
layers it trains with and the stock layers its saved file holds.

Default: the reference stack LSTM(50, return_sequences=True) → Dropout(0.2) → LSTM(100)
→ Dropout(0.2) → Dense(1), loss mean_squared_error, optimizer rmsprop.

The fused layers (``model.fused``) are a training-time implementation with exactly the stock
layers' weights: a run's model.keras is written with ``keras.layers.LSTM`` and ``Dropout``
(``portable_copy``), so plain Keras loads it without this package or a compiler, and
``trained_layers`` puts the fused layers back where the config trained with them.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from forecast.config import Config, DenseLayerConfig, DropoutLayerConfig, RecurrentLayerConfig
from forecast.model.backend import import_tensorflow_quietly
from forecast.model.embedding import keras_layer
from forecast.model.fused import (
    FusedDropout,
    FusedLSTM,
    fused_in_training,
    prefer_one_inter_op_thread,
)

import_tensorflow_quietly()

import keras  # noqa: E402

log = logging.getLogger(__name__)

_RECURRENT = {
    "lstm": keras.layers.LSTM,
    "gru": keras.layers.GRU,
    "simple_rnn": keras.layers.SimpleRNN,
}
_OPTIMIZERS = {
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "nadam": keras.optimizers.Nadam,
    "adagrad": keras.optimizers.Adagrad,
}


def build_model(cfg: Config, n_features: int = 1, tickers: int = 0) -> keras.Model:
    """A compiled model taking windows (batch, lookback, n_features) to (batch, H), the next
    ``model.horizon`` modelled values (H = 1 by default).

    Every recurrent layer but the last returns sequences; with no recurrent layer the
    window is flattened (an MLP on the last ``lookback`` values). With
    ``model.ticker_embedding`` D the windows carry one more column, the ticker's index among
    ``tickers``, which becomes that ticker's learned D-vector at every step.
    """
    layers = cfg.model.layers
    if cfg.model.fused_lstm and any(fused_in_training(layer) for layer in layers):
        prefer_one_inter_op_thread()  # before any variable starts TensorFlow's runtime
    precision = training_precision(cfg)
    embedded = cfg.model.ticker_embedding > 0
    if embedded and tickers < 1:
        raise ValueError("a ticker embedding needs the number of tickers")
    inputs = keras.Input(shape=(cfg.data.lookback, n_features + embedded), name="window")
    hidden = inputs
    if embedded:  # (batch, L, F+1) -> (batch, L, F+D)
        hidden = keras_layer()(tickers, cfg.model.ticker_embedding, name="ticker_embedding")(hidden)
    last_recurrent = max(
        (i for i, layer in enumerate(layers) if isinstance(layer, RecurrentLayerConfig)), default=-1
    )
    if last_recurrent < 0:
        hidden = keras.layers.Flatten(name="flatten")(hidden)
    for index, layer in enumerate(layers):
        name = f"{layer.type}_{index}"
        if isinstance(layer, RecurrentLayerConfig):
            layer_class = _RECURRENT[layer.type]
            if layer.type == "lstm" and cfg.model.fused_lstm:
                layer_class = FusedLSTM  # same weights; stock code wherever fusing can't apply
            extra = {"precision": precision} if layer_class is FusedLSTM else {}
            recurrent = layer_class(
                return_sequences=index < last_recurrent,
                name=name,
                **layer.keras_kwargs(),
                **extra,
            )
            if layer.bidirectional:
                recurrent = keras.layers.Bidirectional(recurrent, name=f"bidirectional_{index}")
            hidden = recurrent(hidden)
        elif isinstance(layer, DropoutLayerConfig):
            dropout_class = FusedDropout if cfg.model.fused_dropout else keras.layers.Dropout
            hidden = dropout_class(layer.rate, name=name)(hidden)
        elif isinstance(layer, DenseLayerConfig):
            hidden = keras.layers.Dense(layer.units, activation=layer.activation, name=name)(hidden)
    outputs = keras.layers.Dense(cfg.model.horizon, name="next_close")(hidden)  # (batch, H)
    model = keras.Model(inputs, outputs, name="forecaster")
    optimizer_class = _OPTIMIZERS[cfg.model.optimizer]
    optimizer = (
        optimizer_class()
        if cfg.model.learning_rate is None
        else optimizer_class(learning_rate=cfg.model.learning_rate)
    )
    model.compile(loss=cfg.model.loss, optimizer=optimizer)
    return model


_said: set[str] = set()  # what training_precision has said in this process


def training_precision(cfg: Config) -> str:
    """The fused LSTM's training products: ``train.precision`` where it can apply here, else
    float32 with one line (once per process) saying why."""
    if cfg.train.precision == "float32":
        return "float32"
    from forecast.model.native import bf16_products

    if cfg.model.fused_lstm and bf16_products():
        return "bfloat16"
    reason = (
        "model.fused_lstm is off"
        if not cfg.model.fused_lstm
        else "this CPU or build has no AVX512-BF16 (or the fused op is unavailable)"
    )
    if reason not in _said:
        _said.add(reason)
        log.warning(
            "train.precision: bfloat16 needs the fused LSTM on a CPU with AVX512-BF16; "
            "%s, so training stays float32",
            reason,
        )
    return "float32"


def _with_layers(model: keras.Model, config: Config, fused: bool) -> keras.Model:
    """A twin of ``model`` built with (or without) the fused layers, holding its weights and,
    when it has been trained, its optimizer state."""
    twin_config = replace(
        config,
        model=replace(
            config.model,
            fused_lstm=fused and config.model.fused_lstm,
            fused_dropout=fused and config.model.fused_dropout,
        ),
    )
    embedding = next((layer for layer in model.layers if isinstance(layer, keras_layer())), None)
    twin = build_model(
        twin_config,
        n_features=int(model.input_shape[-1]) - (embedding is not None),
        tickers=0 if embedding is None else embedding.tickers,
    )
    twin.set_weights(model.get_weights())
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        twin.optimizer.build(twin.trainable_variables)
        for source, target in zip(optimizer.variables, twin.optimizer.variables):
            target.assign(source)
    return twin


def portable_copy(model: keras.Model, config: Config) -> keras.Model:
    """The trained model with stock Keras layers in place of the fused ones (same weights,
    same optimizer state): what model.keras holds, loadable by any Keras."""
    if not (config.model.fused_lstm or config.model.fused_dropout):
        return model
    return _with_layers(model, config, fused=False)


def trained_layers(model: keras.Model, config: Config) -> keras.Model:
    """A loaded model with the layers the config trains with (the fused ones where it says
    so): its predictions are the ones training scored, to the bit."""
    fused_classes = (FusedLSTM, FusedDropout)
    wants_fused = config.model.fused_lstm or config.model.fused_dropout
    has_fused = any(
        isinstance(layer, fused_classes)
        or isinstance(getattr(layer, "forward_layer", None), fused_classes)
        for layer in model.layers
    )
    if not wants_fused or has_fused:
        return model
    return _with_layers(model, config, fused=True)
