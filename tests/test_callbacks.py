"""Keras callbacks in the custom training loop: the built-ins by name in the config, TensorBoard
logs in the run folder, callback objects from Python, and resume that restores their state."""

from __future__ import annotations

import json

import numpy as np
import pytest

import forecast as api
from forecast.config import load_config
from forecast.errors import ConfigError, TrainingInterrupted
from tests.conftest import tiny_config

PLATEAU = (
    "train.callbacks=[{name: ReduceLROnPlateau, monitor: loss, factor: 0.5, "
    "patience: 0, min_delta: 1.0}, {name: CSVLogger}]"
)


def test_every_built_in_is_named_in_the_config_and_bad_ones_are_refused(tmp_path):
    config = tiny_config(
        tmp_path,
        "model.learning_rate=0.01",
        "train.callbacks=["
        "{name: ReduceLROnPlateau, patience: 2}, {name: CSVLogger, "
        "filename: log.csv}, {name: TerminateOnNaN}, "
        "{name: LearningRateScheduler, schedule: step, every: 2}]",
    )
    assert [callback.name for callback in config.train.callbacks] == [
        "ReduceLROnPlateau",
        "CSVLogger",
        "TerminateOnNaN",
        "LearningRateScheduler",
    ]
    cases = [
        ("train.callbacks=[{name: ReduceLROnPlatoo}]", "did you mean 'ReduceLROnPlateau'"),
        (
            "train.callbacks=[{name: ReduceLROnPlateau, patiense: 2}]",
            "train.callbacks.0.patiense: unknown key; did you mean 'patience'",
        ),
        (
            "train.callbacks=[{name: ReduceLROnPlateau, factor: 2}]",
            r"factor: 2.0 is invalid: must be in \(0, 1\)",
        ),
        ("train.callbacks=[{name: CSVLogger, filename: ../x.csv}]", "must be a file name"),
        (
            "train.callbacks=[{name: LearningRateScheduler, schedule: cosine}]",
            "starts from model.learning_rate",
        ),
        (
            "train.callbacks=[{name: LearningRateScheduler, schedule: linear}]",
            "is not one of exponential, step, cosine",
        ),
        ("train.callbacks=[EarlyStopping]", "a callback must be a mapping with a 'name'"),
    ]
    for override, message in cases:
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])


def test_tensorboard_and_scheduler_logs_are_readable(tmp_path):
    import tensorflow as tf

    config = tiny_config(
        tmp_path,
        "train.epochs=3",
        "train.tensorboard=true",
        "model.learning_rate=0.01",
        "train.callbacks=["
        "{name: LearningRateScheduler, schedule: exponential, decay: 0.5}, "
        "{name: TerminateOnNaN}]",
    )
    run = api.train(config, out=tmp_path / "run", echo=lambda line: None).folder
    scalars: dict[str, dict[str, list[float]]] = {}
    for side in ("train", "validation"):
        files = sorted((run / "tensorboard" / side).glob("events.out.tfevents.*"))
        assert files, side
        for event in tf.compat.v1.train.summary_iterator(str(files[0])):
            for value in event.summary.value:
                if not value.tag.startswith("epoch_"):
                    assert value.tag == "keras"  # the model's config (write_graph)
                    continue
                number = float(tf.make_ndarray(value.tensor))
                scalars.setdefault(side, {}).setdefault(value.tag, []).append(number)
    history = json.loads((run / "history.json").read_text())
    np.testing.assert_allclose(scalars["train"]["epoch_loss"], history["loss"], rtol=1e-6)
    np.testing.assert_allclose(scalars["validation"]["epoch_loss"], history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(
        scalars["train"]["epoch_learning_rate"], [0.01, 0.005, 0.0025], rtol=1e-6
    )


class Recorder:
    """A callback object from Python (a notebook): what the loop showed it."""

    def __new__(cls, stop_after: int | None = None):
        import keras

        class _Recorder(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.events: list[tuple] = []

            def on_train_begin(self, logs=None) -> None:
                self.events.append(("train_begin",))

            def on_epoch_end(self, epoch, logs=None) -> None:
                self.events.append(("epoch_end", epoch, sorted(logs)))
                if stop_after is not None and epoch + 1 == stop_after:
                    raise KeyboardInterrupt  # as a Ctrl-C at the end of this epoch

            def on_train_end(self, logs=None) -> None:
                self.events.append(("train_end",))

        return _Recorder()


def test_callback_objects_from_python_see_fits_hooks(tmp_path):
    recorder = Recorder()
    api.train(
        tiny_config(tmp_path, "train.epochs=2"),
        out=tmp_path / "run",
        echo=lambda line: None,
        callbacks=[recorder],
    )
    assert recorder.events == [
        ("train_begin",),
        ("epoch_end", 0, ["learning_rate", "loss", "val_loss"]),
        ("epoch_end", 1, ["learning_rate", "loss", "val_loss"]),
        ("train_end",),
    ]


def test_a_resumed_run_restores_the_plateau_counter_and_ends_byte_identical(tmp_path):
    """ReduceLROnPlateau (halving the rate whenever the loss fails to drop by 1.0: every
    epoch after the first) and a CSV log; interrupted after epoch 3 and resumed, the run ends
    with the same files, byte for byte, as one that never stopped."""
    config = tiny_config(tmp_path, "train.epochs=6", PLATEAU)
    clean = api.train(config, out=tmp_path / "clean", echo=lambda line: None).folder
    with pytest.raises(TrainingInterrupted):
        api.train(
            config,
            out=tmp_path / "stopped",
            echo=lambda line: None,
            callbacks=[Recorder(stop_after=3)],
        )
    stopped = tmp_path / "stopped"
    state = json.loads((stopped / "training_state.json").read_text())
    assert state["epoch"] == 2 and state["callbacks"][0]["wait"] == 0
    assert len((stopped / "training_log.csv").read_text().splitlines()) == 4  # epoch 3 too
    api.resume(stopped, echo=lambda line: None)
    for name in (
        "metrics.json",
        "predictions.csv",
        "history.json",
        "training_log.csv",
        "scaler.json",
    ):
        assert (stopped / name).read_bytes() == (clean / name).read_bytes(), name
    import pandas as pd

    log = pd.read_csv(clean / "training_log.csv")
    assert list(log.columns) == ["epoch", "learning_rate", "loss", "val_loss"]
    # the first epoch sets the best loss; each later one misses it by 1.0 and halves the rate
    assert log["learning_rate"].tolist() == pytest.approx(
        [0.01 * 0.5 ** max(0, epoch - 1) for epoch in range(6)]
    )
