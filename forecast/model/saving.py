"""model.keras: written with stock Keras layers (any Keras loads it) and read back with
``safe_mode`` (a layer that carries code, such as a Lambda, is refused). ``keras_file``
reads one without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.config import Config
from forecast.errors import RunError


def save_model(model: Any, config: Config, path: Path) -> None:
    """The trained network with stock Keras layers in place of the fused ones (same weights,
    same optimizer state), written atomically."""
    from forecast.model.build import portable_copy

    with atomic.atomic_path(path) as temporary:
        portable_copy(model, config).save(temporary)


def load_model(path: Path, config: Config | None = None, optimizer: bool = False) -> Any:
    """Load a .keras file with safe_mode=True: code-carrying layers (Lambda) are refused.

    model.keras holds stock Keras layers (any Keras loads it); with ``config``, the network
    comes back with the layers it was trained and scored with (the fused ones where the
    config has them), so that ``evaluate`` reproduces metrics.json to the bit. Files from
    before 2026-12 name the fused classes themselves; they load too. ``optimizer``: with
    the optimizer and its state (an update continues training from them).
    """
    from forecast.model import fused  # quiet TensorFlow import; registers FusedLSTM
    from forecast.model.embedding import keras_layer
    from forecast.model.keras_file import DAMAGED

    keras_layer()  # registers TickerEmbedding

    try:
        model = fused.keras.saving.load_model(path, safe_mode=True, compile=optimizer)
    except ValueError as error:
        text = str(error)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise RunError(
                f"{path}: refused to load: it contains code (a Lambda layer), which "
                f"safe mode does not execute; only load models you trained here"
            ) from None
        raise RunError(
            f"{path}: not a loadable Keras model ({text.splitlines()[0]}); train the run again"
        ) from None
    except DAMAGED as error:
        raise RunError(
            f"{path}: not a loadable Keras model ({type(error).__name__}); train the run again"
        ) from None
    if config is None:
        return model
    from forecast.model.build import trained_layers

    try:
        return trained_layers(model, config)
    except ValueError as error:  # weights of another shape than config.yaml's network
        raise RunError(
            f"{path}: does not match config.yaml ({str(error).splitlines()[0]}); the run is "
            f"inconsistent, train it again"
        ) from None
