"""How a network is fitted: epochs, batches, validation, seeds and Keras callbacks by name."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Literal

from forecast.config.checks import check, check_timestamp


@dataclass(frozen=True)
class ReduceLROnPlateauConfig:
    """keras.callbacks.ReduceLROnPlateau: lower the learning rate when ``monitor`` stalls."""

    name: Literal["ReduceLROnPlateau"]
    monitor: Literal["loss", "val_loss"] = "val_loss"
    factor: float = 0.1
    patience: int = 10
    mode: Literal["auto", "min", "max"] = "auto"
    min_delta: float = 0.0001
    cooldown: int = 0
    min_lr: float = 0.0

    def validate(self, path: str) -> None:
        check(0 < self.factor < 1, f"{path}.factor", self.factor, "must be in (0, 1)")
        for name in ("patience", "cooldown"):
            check(
                getattr(self, name) >= 0,
                f"{path}.{name}",
                getattr(self, name),
                "must be an integer >= 0",
            )
        for name in ("min_delta", "min_lr"):
            check(getattr(self, name) >= 0, f"{path}.{name}", getattr(self, name), "must be >= 0")


@dataclass(frozen=True)
class CSVLoggerConfig:
    """keras.callbacks.CSVLogger: each epoch's logs as a CSV row in the run folder."""

    name: Literal["CSVLogger"]
    filename: str = "training_log.csv"
    separator: str = ","

    def validate(self, path: str) -> None:
        check(
            bool(re.fullmatch(r"[A-Za-z0-9_.-]+\.csv", self.filename))
            and ".." not in self.filename,
            f"{path}.filename",
            self.filename,
            "must be a file name ending in .csv (written in the run folder)",
        )
        check(
            len(self.separator) == 1, f"{path}.separator", self.separator, "must be one character"
        )


@dataclass(frozen=True)
class TerminateOnNaNConfig:
    """keras.callbacks.TerminateOnNaN: stop when the loss is not a number."""

    name: Literal["TerminateOnNaN"]

    def validate(self, path: str) -> None:
        pass


@dataclass(frozen=True)
class LearningRateSchedulerConfig:
    """keras.callbacks.LearningRateScheduler with a named schedule of the epoch e, from
    model.learning_rate r: exponential r·decay^e, step r·decay^⌊e/every⌋, cosine
    r·(1 + cos(π·e/epochs))/2."""

    name: Literal["LearningRateScheduler"]
    schedule: Literal["exponential", "step", "cosine"]
    decay: float = 0.9
    every: int = 10

    def validate(self, path: str) -> None:
        check(0 < self.decay <= 1, f"{path}.decay", self.decay, "must be in (0, 1]")
        check(self.every >= 1, f"{path}.every", self.every, "must be an integer >= 1")


CallbackConfig = (
    ReduceLROnPlateauConfig | CSVLoggerConfig | TerminateOnNaNConfig | LearningRateSchedulerConfig
)
CALLBACK_TYPES: dict[str, type] = {
    "ReduceLROnPlateau": ReduceLROnPlateauConfig,
    "CSVLogger": CSVLoggerConfig,
    "TerminateOnNaN": TerminateOnNaNConfig,
    "LearningRateScheduler": LearningRateSchedulerConfig,
}


@dataclass(frozen=True)
class TrainConfig:
    """How the model is fitted; the seed makes the same config give the same metrics."""

    epochs: int = 50
    batch_size: int = 64
    validation_fraction: float = 0.1
    validation_start: str | None = None  # validation targets from here (replaces the fraction)
    early_stopping_patience: int | None = None
    restore_best_weights: bool = True
    seed: int = 42
    progress: Literal["auto", "bar", "epoch", "none"] = "auto"
    update_epochs: int = 5  # update: epochs of warm start on the newest bars
    precision: Literal["float32", "bfloat16"] = "float32"  # the fused LSTM's training products
    tensorboard: bool = False  # TensorBoard logs (scalars per epoch) in the run folder
    callbacks: tuple[CallbackConfig, ...] = ()  # Keras built-in callbacks by name

    def validate(self, path: str) -> None:
        check_timestamp(self.validation_start, f"{path}.validation_start")
        check(self.epochs >= 1, f"{path}.epochs", self.epochs, "must be an integer >= 1")
        check(
            self.update_epochs >= 1,
            f"{path}.update_epochs",
            self.update_epochs,
            "must be an integer >= 1",
        )
        check(
            self.batch_size >= 1, f"{path}.batch_size", self.batch_size, "must be an integer >= 1"
        )
        check(
            0 <= self.validation_fraction <= 0.5,
            f"{path}.validation_fraction",
            self.validation_fraction,
            "must be in [0, 0.5]",
        )
        if self.early_stopping_patience is not None:
            check(
                self.early_stopping_patience >= 1,
                f"{path}.early_stopping_patience",
                self.early_stopping_patience,
                "must be >= 1, or null to train every epoch",
            )
            check(
                self.validation_fraction > 0,
                f"{path}.early_stopping_patience",
                self.early_stopping_patience,
                "early stopping watches the validation loss; set train.validation_fraction > 0",
            )
        check(0 <= self.seed < 2**32, f"{path}.seed", self.seed, "must be in [0, 2**32)")
        for index, callback in enumerate(self.callbacks):
            callback.validate(f"{path}.callbacks.{index}")


def resolve_progress(progress: str) -> str:
    """``train.progress`` (or a batch's progress) for this process: ``auto`` is a bar on a
    terminal, a line per step in a log, nothing under CI."""
    if progress != "auto":
        return progress
    if os.environ.get("CI"):
        return "none"
    return "bar" if sys.stdout.isatty() else "epoch"
