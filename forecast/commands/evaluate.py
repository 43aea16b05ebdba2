"""evaluate: reload a run folder alone and recompute its metrics (evaluation.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forecast.base import atomic
from forecast.commands.common import dataset_for, predict_test, score
from forecast.data.sources import data_fingerprint
from forecast.errors import RunError
from forecast.evaluation.metrics import PRODUCTION
from forecast.store import runs


def evaluate(run_dir: str | Path) -> dict[str, Any]:
    """Reload model, scaler and data from the run folder alone and recompute the metrics.

    Writes ``evaluation.json``; its metric values equal ``metrics.json``'s when the run is
    intact, because the same weights see the same windows through the same saved scaler.
    """
    run = runs.load_run(run_dir)
    if run.record.get("test_rows", 1) == 0:
        raise RunError(f"--run {run.path}: {PRODUCTION.replace('RUN/', f'{run.path}/')}")
    if data_fingerprint(run.bars) != run.record.get("data_sha256"):
        raise RunError(
            f"{run.path / 'prices.csv'}: differs from the data the run was "
            f"trained on (fingerprint mismatch); train the run again"
        )
    dataset = dataset_for(run.config, run.bars, scaler=run.scaler)
    predictions = predict_test(run.keras_model(), dataset)  # Keras: metrics.json to the bit
    evaluation: dict[str, Any] = {
        **score(predictions, dataset),
        "n_train": dataset.n_train,
        "n_test": len(predictions),
    }
    atomic.write_json(run.path / "evaluation.json", evaluation)
    return evaluation
