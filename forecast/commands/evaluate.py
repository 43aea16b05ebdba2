"""evaluate: reload a run folder alone and recompute its metrics (evaluation.json)."""

from __future__ import annotations

from pathlib import Path

from forecast.base import atomic
from forecast.base.values import read_json
from forecast.commands.common import test_metrics
from forecast.commands.result import Result
from forecast.data.sources import data_fingerprint
from forecast.errors import RunError, named
from forecast.evaluation.metrics import METRIC_KEYS, metrics_verdict, production_text
from forecast.store import runs
from forecast.store.lock import locked


@locked("evaluate")
def evaluate(run_dir: str | Path) -> Result:
    """Reload model, scaler and data from the run folder alone and recompute the metrics.

    Writes ``evaluation.json``; its metric values equal ``metrics.json``'s when the run is
    intact, because the same weights see the same windows through the same saved scaler. The
    verdict line says whether they do.
    """
    run = runs.load_run(run_dir)
    if run.production_fit:
        raise RunError(
            f"{named('run_dir', run.path)}: {production_text().replace('RUN/', f'{run.path}/')}"
        )
    if data_fingerprint(run.bars) != run.record.get("data_sha256"):
        raise RunError(
            f"{run.path / 'prices.csv'}: differs from the data the run was trained on "
            f"(fingerprint mismatch); train the run again"
        )
    predictions = run.forecaster.predict_test()  # Keras: metrics.json to the bit
    dataset = run.forecaster.dataset()
    evaluation = {
        **test_metrics(predictions, dataset, run.forecaster.baselines_),
        "n_train": dataset.n_train,
        "n_test": len(predictions),
    }
    atomic.write_json(run.path / "evaluation.json", evaluation)
    stored = read_json(run.path / "metrics.json") if (run.path / "metrics.json").is_file() else {}
    same = all(evaluation[key] == stored[key] for key in METRIC_KEYS if key in stored)
    verdict = (
        f"{metrics_verdict(evaluation)} Recomputed from the folder alone: "
        f"{'matches' if same and stored else 'DIFFERS FROM' if stored else 'no'} metrics.json."
    )
    return Result(
        folder=run.path,
        table=predictions,
        summary=evaluation,
        verdict=verdict,
        config=run.config,
        forecaster=run.forecaster,
        detail={"matches": same and bool(stored)},
    )
