"""Resumable training: after every finished epoch, the model (weights and optimizer state),
the best weights so far and the loop's counters, so that a run stopped after epoch k and
resumed ends with the same weights as one that never stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from forecast.base import atomic
from forecast.base.values import read_json
from forecast.config import Config
from forecast.errors import RunError

CHECKPOINT = "training_state.json"


def save_checkpoint(folder: Path, state: Any, model: Any, best_weights: list | None) -> None:
    """Save the state after a finished epoch: model (with optimizer state) and best weights
    under epoch-numbered names first, then the JSON that points at them, then prune."""
    model_file = f"training_state-{state.epoch:04d}.keras"
    with atomic.atomic_path(folder / model_file) as temporary:
        model.save(temporary)
    best_file = None
    if best_weights is not None:
        best_file = f"training_best-{state.epoch:04d}.npz"
        atomic.write_npz(
            folder / best_file,
            {f"arr_{index}": weight for index, weight in enumerate(best_weights)},
        )
    atomic.write_json(
        folder / CHECKPOINT, {**state.to_dict(), "model_file": model_file, "best_file": best_file}
    )
    keep = {model_file, best_file}
    for old in checkpoint_files(folder):
        if old.name not in keep:
            old.unlink(missing_ok=True)


def checkpoint_files(folder: Path) -> list[Path]:
    """The epoch-numbered model and best-weights files ``save_checkpoint`` writes."""
    return [*folder.glob("training_state-*.keras"), *folder.glob("training_best-*.npz")]


def load_checkpoint(folder: Path) -> tuple[Any, Any, list | None] | None:
    """(state, model, best_weights) saved by the last finished epoch, or None."""
    from forecast.model import fused  # quiet TensorFlow import; registers FusedLSTM
    from forecast.model.train import TrainingState

    path = folder / CHECKPOINT
    if not path.exists():
        return None
    record = read_json(path, fix="train again")
    try:
        state = TrainingState(
            epoch=int(record["epoch"]),
            history=record["history"],
            best_val_loss=record["best_val_loss"],
            best_epoch=record["best_epoch"],
            wait=int(record["wait"]),
            stopped_early=bool(record["stopped_early"]),
            callbacks=list(record.get("callbacks", [])),
        )
        model_file = folder / record["model_file"]
        best_file = record.get("best_file")
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path}: damaged training state ({error}); train again") from None
    try:
        model = fused.keras.saving.load_model(model_file, safe_mode=True, compile=True)
    except (OSError, ValueError) as error:
        raise RunError(
            f"{model_file}: cannot load the saved training state ({error}); train again"
        ) from None
    best_weights = None
    if best_file:
        with np.load(folder / best_file, allow_pickle=False) as archive:
            best_weights = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    return state, model, best_weights


def clear_checkpoint(folder: Path) -> None:
    """Remove the training state once the run's artifacts are all written."""
    (folder / CHECKPOINT).unlink(missing_ok=True)
    for old in checkpoint_files(folder):
        old.unlink(missing_ok=True)


def starting_model(
    config: Config,
    n_features: int,
    checkpoints: Path | None,
    start: Path | None,
    tickers: int = 0,
) -> tuple[Any, Any, list | None, tuple | None]:
    """(model, training state, best weights, the checkpoint) to fit from, after seeding
    everything from train.seed: the last checkpoint in ``checkpoints``, else a warm start
    from the model file ``start``, else a new model (with ``tickers``: a global model's
    ticker embedding rows)."""
    from forecast.model.build import build_model
    from forecast.model.saving import load_model
    from forecast.model.train import seed_everything

    seed_everything(config.train.seed)
    checkpoint = load_checkpoint(checkpoints) if checkpoints is not None else None
    if checkpoint is not None:
        training_state, model, best_weights = checkpoint
        return model, training_state, best_weights, checkpoint
    if start is not None:
        return load_model(start, config, optimizer=True), None, None, None
    return build_model(config, n_features=n_features, tickers=tickers), None, None, None
