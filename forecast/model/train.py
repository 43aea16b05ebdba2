"""Fit a built model on a Dataset's windows: seeded, chronological validation, early stopping,
and resumable epoch by epoch.

Each epoch's randomness (the shuffle order, Python/NumPy/Keras seeds, the dropout
seed-generator states, which a saved model does not keep) is derived from
``(train.seed, epoch)`` alone, so a run stopped after epoch k and resumed from its saved
weights and optimizer state ends with the same weights as a run that never stopped.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from forecast.backend import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np
import tensorflow as tf  # noqa: E402

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


def reseed_dropout(model, seed: int) -> None:
    """Reset every dropout seed-generator state of ``model`` from ``seed``.

    Keras draws dropout masks from per-layer seed generators whose state lives in the
    model's non-trainable variables; the global seed does not reach a model already built.
    """
    states = [variable for variable in model.non_trainable_variables
              if "seed_generator_state" in variable.path]
    for index, state in enumerate(states):
        state.assign(np.array([seed * 1009 + index + 1, 0], dtype="int64"))


def progress_verbosity(progress: str) -> int:
    """Keras verbose level: a bar on a terminal, one line per epoch in a log, quiet in CI."""
    if progress != "auto":
        return _PROGRESS[progress]
    if os.environ.get("CI"):
        return 0
    return 1 if sys.stdout.isatty() else 2


@dataclass
class TrainingState:
    """What a resumed run needs besides the model (weights + optimizer state)."""

    epoch: int = 0  # epochs finished
    history: dict[str, list[float]] = field(default_factory=dict)
    best_val_loss: float | None = None
    best_epoch: int | None = None
    wait: int = 0  # epochs since the best validation loss
    stopped_early: bool = False

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "history": self.history,
                "best_val_loss": self.best_val_loss, "best_epoch": self.best_epoch,
                "wait": self.wait, "stopped_early": self.stopped_early}


@dataclass(frozen=True)
class TrainingResult:
    history: dict[str, list[float]]  # "loss" and, with validation, "val_loss" per epoch
    epochs_run: int


class _OneEpoch(keras.callbacks.Callback):
    """Stop ``fit`` after the epoch it was started at (so progress shows "Epoch k/N")."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def fit_model(model: keras.Model, dataset: Dataset, train: TrainConfig,
              state: TrainingState | None = None, best_weights: list | None = None,
              on_epoch_end: Callable[[TrainingState, keras.Model, list | None], None]
              | None = None) -> TrainingResult:
    """Train on the training windows, validating on the later validation windows.

    ``state``/``best_weights`` continue an interrupted run; ``on_epoch_end`` is called after
    every finished epoch (the run folder saves its checkpoint there).
    """
    state = state or TrainingState()
    has_validation = len(dataset.y_val) > 0
    patience = train.early_stopping_patience if has_validation else None
    verbose = progress_verbosity(train.progress)
    for epoch in range(state.epoch, train.epochs):
        if state.stopped_early:
            break
        epoch_seed = (train.seed * 100_003 + epoch) % 2**32
        keras.utils.set_random_seed(epoch_seed)
        reseed_dropout(model, epoch_seed)  # dropout masks depend on (seed, epoch) only
        order = np.random.default_rng(epoch_seed).permutation(len(dataset.y_train))  # (n_fit,)
        history = model.fit(
            dataset.x_train[order], dataset.y_train[order],  # (n_fit, L, 1), (n_fit,)
            validation_data=(dataset.x_val, dataset.y_val) if has_validation else None,
            initial_epoch=epoch, epochs=train.epochs, batch_size=train.batch_size,
            shuffle=False, callbacks=[_OneEpoch()], verbose=verbose)
        for key, values in history.history.items():
            state.history.setdefault(key, []).append(float(values[-1]))
        state.epoch = epoch + 1
        if patience is not None:
            val_loss = state.history["val_loss"][-1]
            if state.best_val_loss is None or val_loss < state.best_val_loss:
                state.best_val_loss, state.best_epoch, state.wait = val_loss, epoch, 0
                best_weights = model.get_weights() if train.restore_best_weights else None
            else:
                state.wait += 1
                state.stopped_early = state.wait >= patience
        if not math.isfinite(state.history["loss"][-1]):
            state.stopped_early = True  # diverged: more epochs cannot help
        if on_epoch_end is not None:
            on_epoch_end(state, model, best_weights)
        if state.stopped_early:
            break
    if patience is not None and train.restore_best_weights and best_weights is not None:
        model.set_weights(best_weights)  # keep the epoch with the best validation loss
    return TrainingResult(history=state.history, epochs_run=state.epoch)
