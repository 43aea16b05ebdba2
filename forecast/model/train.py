"""Fit a built model on a Dataset's windows: seeded, chronological validation, early stop."""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from forecast.config import TrainConfig
from forecast.data.windows import Dataset

_PROGRESS = {"bar": 1, "epoch": 2, "none": 0}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and Keras and make TensorFlow ops deterministic.

    With this, the same config and seed give the same weights and so the same metrics.
    """
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def progress_verbosity(progress: str) -> int:
    """Keras verbose level: a bar on a terminal, one line per epoch in a log, quiet in CI."""
    if progress != "auto":
        return _PROGRESS[progress]
    if os.environ.get("CI"):
        return 0
    return 1 if sys.stdout.isatty() else 2


@dataclass(frozen=True)
class TrainingResult:
    history: dict[str, list[float]]  # "loss" and, with validation, "val_loss" per epoch
    epochs_run: int


def fit_model(model: keras.Model, dataset: Dataset, train: TrainConfig,
              callbacks: list[keras.callbacks.Callback] | None = None) -> TrainingResult:
    """Train on the training windows, validating on the later validation windows."""
    callbacks = list(callbacks or [])
    has_validation = len(dataset.y_val) > 0
    if train.early_stopping_patience is not None and has_validation:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=train.early_stopping_patience,
            restore_best_weights=train.restore_best_weights))
    history = model.fit(
        dataset.x_train, dataset.y_train,  # (n_fit, L, 1), (n_fit,)
        validation_data=(dataset.x_val, dataset.y_val) if has_validation else None,
        epochs=train.epochs, batch_size=train.batch_size, shuffle=True,
        callbacks=callbacks, verbose=progress_verbosity(train.progress))
    losses = {key: [float(v) for v in values] for key, values in history.history.items()}
    return TrainingResult(history=losses, epochs_run=len(losses.get("loss", [])))
