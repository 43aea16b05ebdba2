"""Fit a built model on a Dataset's windows: seeded, chronological validation, early stopping,
and resumable epoch by epoch.

Each epoch's randomness (the shuffle order, Python/NumPy/Keras seeds, the dropout
seed-generator states, which a saved model does not keep) is derived from
``(train.seed, epoch)`` alone, so a run stopped after epoch k and resumed from its saved
weights and optimizer state ends with the same weights as a run that never stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.base import atomic
from forecast.base.extras import require
from forecast.config import Config, TrainConfig, resolve_progress
from forecast.data.windows import Dataset
from forecast.model.backend import import_tensorflow_quietly
from forecast.model.keras_network import reseed_dropout

import_tensorflow_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

log = logging.getLogger(__name__)
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
    """Keras verbose level of ``train.progress``: 1 a bar, 2 a line per epoch, 0 quiet."""
    return _PROGRESS[resolve_progress(progress)]


@dataclass
class TrainingState:
    """What a resumed run needs besides the model (weights + optimizer state)."""

    epoch: int = 0  # epochs finished
    history: dict[str, list[float]] = field(default_factory=dict)
    best_val_loss: float | None = None
    best_epoch: int | None = None
    wait: int = 0  # epochs since the best validation loss
    stopped_early: bool = False
    callbacks: list[dict] = field(default_factory=list)  # callback_state()

    def to_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "history": self.history,
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_early": self.stopped_early,
            "callbacks": self.callbacks,
        }


@dataclass(frozen=True)
class TrainingResult:
    history: dict[str, list[float]]  # "loss" and, with validation, "val_loss" per epoch
    epochs_run: int


def _compiled(step: Callable, model: keras.Model) -> Callable:
    """``step`` as one TensorFlow graph, traced once for any batch size (as ``fit`` does)."""
    return tf.function(step, reduce_retracing=True, jit_compile=bool(model.jit_compile))


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray | None = None):
    """Consecutive (x, y) batches as float32 tensors, in ``order`` (each batch gathered when
    it is drawn: no shuffled copy of every window); the last one may be shorter."""
    for begin in range(0, len(y), batch_size):
        chosen = (
            slice(begin, begin + batch_size) if order is None else order[begin : begin + batch_size]
        )
        yield (
            tf.constant(x[chosen], dtype=tf.float32),  # (b, L, F)
            tf.constant(y[chosen], dtype=tf.float32),
        )  # (b,)


def _mean_loss(model: keras.Model) -> float:
    """The model's loss tracker: the sample-weighted mean loss since the last reset."""
    return float(model.get_metrics_result()["loss"])


def _epoch_loss(
    model: keras.Model,
    step: Callable,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    progress: keras.utils.Progbar | None = None,
    order: np.ndarray | None = None,
) -> float:
    """One pass of ``step`` (train or test) over (x, y) in ``order`` (None: as they are);
    the pass's mean loss.

    The loop hands each batch straight to the compiled step and reads the loss back only
    for the progress bar (a few times a second) and at the end of the pass. ``model.fit``
    does the same arithmetic but builds a tf.data pipeline per call and hands every step's
    logs to a callback thread; on two cores that made an epoch 8-20 % slower.
    """
    model.reset_metrics()
    shown_at = time.monotonic()
    for index, batch in enumerate(_batches(x, y, batch_size, order)):
        step(batch)
        if progress is not None and progress.verbose == 1 and time.monotonic() - shown_at > 0.2:
            progress.update(index + 1, values=[("loss", _mean_loss(model))])
            shown_at = time.monotonic()
    return _mean_loss(model)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch's shuffle order and dropout masks: (seed, epoch) alone."""
    return (seed * 100_003 + epoch) % 2**32


def _epoch(
    model: keras.Model,
    steps: tuple[Callable, Callable],
    dataset: Dataset,
    train: TrainConfig,
    epoch: int,
    verbose: int,
    n_batches: int,
) -> dict[str, float]:
    """One epoch: seeded from (train.seed, epoch) alone (shuffle order and dropout masks),
    the training windows in that order, then the validation windows; their mean losses."""
    train_step, test_step = steps
    this_seed = epoch_seed(train.seed, epoch)
    keras.utils.set_random_seed(this_seed)
    reseed_dropout(model, this_seed)  # dropout masks depend on (seed, epoch) only
    order = np.random.default_rng(this_seed).permutation(len(dataset.y_train))  # (n_fit,)
    progress = None
    if verbose:
        print(f"Epoch {epoch + 1}/{train.epochs}")
        progress = keras.utils.Progbar(
            n_batches, verbose=verbose, stateful_metrics=["loss", "val_loss"]
        )
    logs = {
        "loss": _epoch_loss(
            model,
            train_step,
            dataset.x_train,
            dataset.y_train,
            train.batch_size,
            progress,
            order,
        )
    }
    if len(dataset.y_val):  # evaluate's number: test_step does not update the model
        logs["val_loss"] = _epoch_loss(
            model, test_step, dataset.x_val, dataset.y_val, train.batch_size
        )
    if progress is not None:
        progress.update(n_batches, values=list(logs.items()), finalize=True)
    return logs


def fit_model(
    model: keras.Model,
    dataset: Dataset,
    train: TrainConfig,
    state: TrainingState | None = None,
    best_weights: list | None = None,
    on_epoch_end: Callable[[TrainingState, keras.Model, list | None], None] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainingResult:
    """Train on the training windows, validating on the later validation windows.

    ``state``/``best_weights`` continue an interrupted run; ``on_epoch_end`` is called after
    every finished epoch (the run folder saves its checkpoint there). ``callbacks``: Keras
    callbacks, called as ``fit`` calls them at the start and end of training and of every
    epoch, with ``fit``'s logs (loss, val_loss, learning_rate); a callback that sets
    ``model.stop_training`` ends the training after that epoch. The state of the built-in
    ones (``callback_state``) is kept in ``state`` so that a resumed run goes on exactly.
    """
    state = state or TrainingState()
    has_validation = len(dataset.y_val) > 0
    patience = train.early_stopping_patience if has_validation else None
    verbose = progress_verbosity(train.progress)
    train_step, test_step = _compiled(model.train_step, model), _compiled(model.test_step, model)
    n_batches = math.ceil(len(dataset.y_train) / train.batch_size)
    hooks = keras.callbacks.CallbackList(
        list(callbacks), model=model, epochs=train.epochs, steps=n_batches, verbose=0
    )
    model.stop_training = False
    hooks.on_train_begin()  # resets the callbacks' counters …
    restore_callback_state(callbacks, state.callbacks)  # … which a resumed run then restores
    logs: dict[str, float] = {}
    for epoch in range(state.epoch, train.epochs):
        if state.stopped_early:
            break
        hooks.on_epoch_begin(epoch)
        logs = _epoch(model, (train_step, test_step), dataset, train, epoch, verbose, n_batches)
        for key, value in logs.items():
            state.history.setdefault(key, []).append(value)
        hooks.on_epoch_end(epoch, {**logs, "learning_rate": learning_rate(model)})
        state.epoch = epoch + 1
        if patience is not None:
            val_loss = state.history["val_loss"][-1]
            if state.best_val_loss is None or val_loss < state.best_val_loss:
                state.best_val_loss, state.best_epoch, state.wait = val_loss, epoch, 0
                best_weights = model.get_weights() if train.restore_best_weights else None
            else:
                state.wait += 1
                state.stopped_early = state.wait >= patience
        if not math.isfinite(state.history["loss"][-1]) or model.stop_training:
            state.stopped_early = True  # diverged (more epochs cannot help), or a callback
        state.callbacks = callback_state(callbacks)
        if on_epoch_end is not None:
            on_epoch_end(state, model, best_weights)
        if state.stopped_early:
            break
    hooks.on_train_end(logs)
    if patience is not None and train.restore_best_weights and best_weights is not None:
        model.set_weights(best_weights)  # keep the epoch with the best validation loss
    return TrainingResult(history=state.history, epochs_run=state.epoch)


def learning_rate(model: keras.Model) -> float:
    """The optimizer's current learning rate (as ``fit`` logs it)."""
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


# What a resumed run must give each built-in callback back (the learning rate itself lives in
# the optimizer's state, which the checkpoint keeps).
_CALLBACK_STATE = {"ReduceLROnPlateau": ("wait", "cooldown_counter", "best")}


def callback_state(callbacks: Sequence[keras.callbacks.Callback]) -> list[dict]:
    """The built-in callbacks' counters, in order (JSON)."""
    return [
        {
            name: float(getattr(callback, name))
            for name in _CALLBACK_STATE.get(type(callback).__name__, ())
        }
        for callback in callbacks
    ]


def restore_callback_state(
    callbacks: Sequence[keras.callbacks.Callback], saved: list[dict]
) -> None:
    for callback, values in zip(callbacks, saved or ()):
        for name, value in values.items():
            setattr(callback, name, int(value) if name != "best" else value)


def build_callbacks(
    train: TrainConfig,
    learning_rate_start: float | None,
    run_dir: Path | None,
    resumed_epochs: int | None = None,
) -> list[keras.callbacks.Callback]:
    """The Keras callbacks ``train.tensorboard`` and ``train.callbacks`` ask for, writing
    into ``run_dir`` (None: a fit in memory, which leaves out the ones that write files, and
    says so). ``resumed_epochs``: the epochs a resumed run's checkpoint holds; a CSV log
    keeps only their rows and is appended to (the later epochs are run again)."""
    built: list[keras.callbacks.Callback] = []
    writers = [spec.name for spec in train.callbacks if spec.name == "CSVLogger"]
    writers += ["train.tensorboard"] if train.tensorboard else []
    if run_dir is None and writers:
        log.warning(
            "%s write into a run folder: this fit in memory leaves them out (the train "
            "command, or fit(..., checkpoints=FOLDER), writes them)",
            " and ".join(writers),
        )
    for spec in train.callbacks:
        arguments = {key: value for key, value in dataclasses.asdict(spec).items() if key != "name"}
        if spec.name == "CSVLogger":
            if run_dir is None:
                continue
            path = run_dir / spec.filename
            if resumed_epochs is not None:
                trim_csv_log(path, resumed_epochs)
            built.append(
                keras.callbacks.CSVLogger(
                    str(path), separator=spec.separator, append=resumed_epochs is not None
                )
            )
        elif spec.name == "LearningRateScheduler":
            built.append(
                keras.callbacks.LearningRateScheduler(
                    NamedSchedule(
                        spec.schedule, learning_rate_start, spec.decay, spec.every, train.epochs
                    )
                )
            )
        else:
            built.append(getattr(keras.callbacks, spec.name)(**arguments))
    if train.tensorboard and run_dir is not None:
        require("tensorboard", "train.tensorboard")
        built.append(
            keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=True)
        )
    return built


def trim_csv_log(path: Path, epochs: int) -> None:
    """A CSV log cut back to its header and first ``epochs`` rows (a resumed run redoes the
    epochs after its checkpoint)."""
    if path.exists():  # bytes: the csv module ends its rows with \r\n
        lines = path.read_bytes().splitlines(keepends=True)
        atomic.write_bytes(path, b"".join(lines[: 1 + epochs]))


@dataclass(frozen=True)
class NamedSchedule:
    """A learning-rate schedule of the epoch alone (so a resumed run repeats it)."""

    kind: str  # exponential, step, cosine
    start: float
    decay: float
    every: int
    epochs: int

    def __call__(self, epoch: int, current: float) -> float:
        if self.kind == "exponential":
            return self.start * self.decay**epoch
        if self.kind == "step":
            return self.start * self.decay ** (epoch // self.every)
        return self.start * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))


def train_network(
    config: Config,
    dataset: Dataset,
    checkpoints: Path | None = None,
    resume: bool = False,
    start: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    on_epoch: Callable[[int], None] | None = None,
    echo: Callable[[str], None] | None = None,
    tickers: int = 0,
) -> tuple[keras.Model, TrainingResult]:
    """Seed everything, start (from the last checkpoint in ``checkpoints`` with ``resume``,
    else a warm start from the model file ``start``, else a new model), then fit with the
    config's callbacks and ``callbacks``, keeping the training state in ``checkpoints``
    after every epoch and then calling ``on_epoch`` with its number. ``echo``: the model
    summary and the split, in lines. ``tickers``: a global model's number of tickers (the
    rows of its ticker embedding, when the config has one)."""
    from forecast.model.checkpoints import save_checkpoint, starting_model

    say = echo or (lambda line: None)
    model, state, best_weights, checkpoint = starting_model(
        config, len(dataset.features), checkpoints if resume else None, start, tickers
    )
    if checkpoint is not None:
        say(f"resuming {checkpoints} after epoch {state.epoch} of {config.train.epochs}")
    if echo is not None:  # Keras draws the summary even for a print_fn (a notebook shows it)
        model.summary(print_fn=lambda line, *args, **kwargs: say(line))
    say(_training_line(config, dataset))

    def epoch_end(current: TrainingState, trained: keras.Model, best: list | None) -> None:
        if checkpoints is not None:
            save_checkpoint(checkpoints, current, trained, best)
        if on_epoch is not None:
            on_epoch(current.epoch)

    hooks = build_callbacks(
        config.train,
        config.model.learning_rate,
        checkpoints,
        resumed_epochs=state.epoch if state else None,
    )
    result = fit_model(
        model,
        dataset,
        config.train,
        state=state,
        best_weights=best_weights,
        on_epoch_end=epoch_end,
        callbacks=[*hooks, *callbacks],
    )
    return model, result


def _training_line(config: Config, dataset: Dataset) -> str:
    from forecast.data.interval import format_timestamps, unit_words

    if len(dataset.y_test):
        first, last = format_timestamps(dataset.test_dates[[0, -1]])
        words = unit_words(config.data.interval, config.data.calendar, len(dataset.y_test))
        testing = f"testing on {words} ({first} → {last})"
    elif not len(dataset.prices):  # a panel's pooled windows: each ticker tests its own
        testing = "the tickers' windows pooled (each ticker tested on its own bars)"
    else:
        testing = "no test rows (a production fit on every bar)"
    return (
        f"training on {len(dataset.y_train)} windows, validating on {len(dataset.y_val)}, {testing}"
    )
