"""Experiment tracking in MLflow, optional (``pip install 'forecast[tracking]'``).

Off unless ``tracking.enabled`` or ``tracking.uri`` is set. Then each train, backtest,
compare, batch and sweep becomes one MLflow run: the resolved config as params, the
per-epoch losses, the numbers of its main JSON file (metrics with their Diebold–Mariano
p-values, band coverage) as metrics, the verdict as a tag and verdict.txt, and the folder it
wrote as artifacts. The run folder stays the record: a tracking server that cannot be
reached costs a warning, not the run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from forecast.base.extras import require
from forecast.config import Config, config_to_dict

log = logging.getLogger(__name__)

STORE = "mlflow.db"  # the local store, in output.runs_dir
ARTIFACTS = "mlartifacts"  # its artifacts, beside it
LEFT_OUT = ("plotly.min.js", ".lock")  # a page's script (it falls back to PNGs), the lock
BATCH_SIZE = 900  # MLflow takes at most 1,000 metrics per request


def check_available(config: Config) -> None:
    """Before any data is read or folder made: with tracking on, MLflow must be installed
    (one line naming the extra if not)."""
    if config.tracking.on:
        require("tracking", "tracking (tracking.enabled or tracking.uri)")


def tracking_uri(config: Config) -> str:
    """``tracking.uri``, or the local SQLite store in output.runs_dir."""
    if config.tracking.uri:
        return config.tracking.uri
    return f"sqlite:///{(Path(config.output.runs_dir).resolve() / STORE).as_posix()}"


def log_result(
    config: Config,
    command: str,
    result: Any,
    history: Mapping[str, list[float]] | None = None,
    steps: Mapping[str, list[float]] | None = None,
) -> str | None:
    """Log one command's Result as an MLflow run; its run id, or None when tracking is off
    or the store could not be written (a warning says why; the folder is complete).

    ``history``: per-epoch losses (train); ``steps``: other per-step series (a sweep's
    objective per trial), each logged with its step number."""
    if not config.tracking.on:
        return None
    check_available(config)
    import mlflow

    uri = tracking_uri(config)
    try:
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = _experiment(client, config)
        run = client.create_run(
            experiment,
            run_name=Path(result.folder).name,
            tags={
                "command": command,
                "ticker": config.data.ticker,
                "folder": str(Path(result.folder).resolve()),
                "verdict": result.verdict[:5000],
            },
        )
        run_id = run.info.run_id
        params = [mlflow.entities.Param(key, value) for key, value in flat_params(config)]
        for chunk in _chunks(params, 100):
            client.log_batch(run_id, params=chunk)
        metrics = [
            mlflow.entities.Metric(key, value, 0, 0) for key, value in flat_metrics(result.summary)
        ]
        for name, series in {**(history or {}), **(steps or {})}.items():
            metrics.extend(
                mlflow.entities.Metric(name, float(value), 0, step)
                for step, value in enumerate(series, start=1)
                if _finite(value)
            )
        if "ticker" in getattr(result.table, "columns", ()):  # a batch's or global run's board
            metrics.extend(
                mlflow.entities.Metric(key, value, 0, 0) for key, value in ticker_metrics(result)
            )
        for chunk in _chunks(metrics, BATCH_SIZE):
            client.log_batch(run_id, metrics=chunk)
        client.log_text(run_id, result.verdict + "\n", "verdict.txt")
        for path in _artifacts(Path(result.folder)):
            relative = path.relative_to(result.folder).parent.as_posix()
            client.log_artifact(run_id, str(path), None if relative == "." else relative)
        client.set_terminated(run_id)
    except Exception as error:  # the run folder holds everything; tracking is a copy
        from forecast.errors import first_line

        log.warning(
            "tracking: could not log to %s (%s); the run folder %s is complete",
            uri,
            first_line(error),
            result.folder,
        )
        return None
    log.info("tracking: logged %s to MLflow run %s (%s)", result.folder, run_id, uri)
    return run_id


def _experiment(client: Any, config: Config) -> str:
    """The experiment's id, created on first use (its artifacts beside a local store)."""
    found = client.get_experiment_by_name(config.tracking.experiment)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(
        config.tracking.experiment, artifact_location=artifact_location(tracking_uri(config))
    )


def artifact_location(uri: str) -> str | None:
    """Beside a SQLite store, its ``mlartifacts`` folder (MLflow would use ./mlruns in
    whatever folder the command ran from); a server's own choice otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / ARTIFACTS).as_uri()


def flat_params(config: Config) -> Iterator[tuple[str, str]]:
    """The resolved config as dotted keys (model.layers.0.units) and text values."""

    def walk(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
        if isinstance(value, dict):
            for key, item in value.items():
                yield from walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and any(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                yield from walk(f"{prefix}.{index}", item)
        else:
            yield prefix, str(value)[:6000]

    yield from walk("", config_to_dict(config))


def flat_metrics(summary: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in a summary, nested keys joined by dots (baselines.arima.rmse);
    lists of numbers by index; text and missing values left out."""
    for key, value in summary.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from flat_metrics(value, name)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    label = ".".join(  # a band row: bands.conformal.h1
                        f"h{item[key]}" if key == "horizon" else str(item[key])
                        for key in ("ticker", "method", "horizon")
                        if item.get(key) is not None
                    )
                    yield from flat_metrics(item, f"{name}.{label or index}")
                elif _finite(item):
                    yield f"{name}.{index}", float(item)
        elif _finite(value):
            yield _metric_name(name), float(value)


def ticker_metrics(result: Any) -> Iterator[tuple[str, float]]:
    """A leaderboard (a batch's, a global run's): each ticker's numbers as TICKER.column
    (TICKER.SCOPE.column where rows are (ticker, scope), as compare --tickers has them)."""
    table = result.table
    keys = [key for key in ("ticker", "scope") if key in table.columns]
    for _, row in table.iterrows():
        prefix = ".".join(str(row[key]) for key in keys if isinstance(row[key], str))
        for column in table.columns:
            if column not in keys and _finite(row[column]):
                yield _metric_name(f"{prefix}.{column}"), float(row[column])


def _metric_name(name: str) -> str:
    """MLflow's key alphabet: letters, digits, _ - . / and space."""
    return "".join(char if char.isalnum() or char in "_-./ " else "_" for char in name)


def _finite(value: Any) -> bool:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not hasattr(value, "item")
    ):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _artifacts(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in LEFT_OUT and not path.name.startswith("."):
            yield path


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
