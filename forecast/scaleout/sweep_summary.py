"""A sweep's results: the trials table, the best trial by its validation score, best.yaml,
and sweep.json with the closing lines in words (the test score of best/ is the one to quote).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from forecast.base import atomic
from forecast.base.names import program_name
from forecast.base.values import cell_text
from forecast.config import Config, config_to_dict
from forecast.evaluation.metrics import point_verdict
from forecast.scaleout.space import Space
from forecast.scaleout.sweep_trial import OBJECTIVE

STATUSES = ("completed", "stopped early", "failed", "not finished")


def trials_table(records: list[Any], space: Space, folds: int) -> pd.DataFrame:
    """trials.csv: each trial's parameters, objective beside naive's, epochs, status."""
    rows = []
    for record in records:
        last = record.last
        if record.error is not None:
            status = "failed"
        elif last.get("finished"):
            status = "completed"
        elif last.get("done"):
            status = "stopped early"  # by ASHA, at one of its rungs
        else:
            status = "not finished"
        params = space.decode(record.params) if record.params else {}
        row = {
            "trial": record.number,
            "status": status,
            OBJECTIVE: last.get(OBJECTIVE),
            "naive_objective": last.get("naive_objective"),
            "epochs_run": last.get("epochs"),
        }
        if folds:
            row["folds_run"] = last.get("folds_run")
        row.update({key: cell_text(params.get(key)) for key in space.keys})
        row.update(
            node=last.get("node"), seconds=last.get("time_total_s"), message=record.error or ""
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in (OBJECTIVE, "naive_objective", "seconds"):
        table[column] = pd.to_numeric(table[column], errors="coerce").astype("float64")
    return table


def choose_best(table: pd.DataFrame) -> pd.Series | None:
    """The completed trial with the lowest objective (ties: the earlier trial); trials ASHA
    stopped count only when none completed."""
    for statuses in (("completed",), ("completed", "stopped early")):
        candidates = table[table["status"].isin(statuses) & table[OBJECTIVE].notna()]
        candidates = candidates[np.isfinite(candidates[OBJECTIVE])]
        if len(candidates):
            return candidates.sort_values([OBJECTIVE, "trial"], kind="stable").iloc[0]
    return None


def objective_name(folds: int) -> str:
    return (
        f"mean MASE of {folds} walk-forward folds in the training rows"
        if folds
        else "MASE on the validation block (the last test_fraction of the training rows)"
    )


def write_best_yaml(path: Path, config: Config, best: pd.Series, folder: Path, folds: int) -> None:
    """A complete config that ``train --config`` takes as is, with where it came from."""
    header = (
        f"# Chosen by the sweep in {folder}: trial {int(best['trial'])} of its "
        f"trials.csv, lowest {objective_name(folds)}\n# ({best[OBJECTIVE]:.4f}; the "
        f"naive forecast: {best['naive_objective']:.4f}). Every key is written out; "
        f"train it with\n# {program_name()} train --config {path}\n"
    )
    atomic.write_text(path, header + yaml.safe_dump(config_to_dict(config), sort_keys=False))


def summarise(
    table: pd.DataFrame,
    best: pd.Series,
    best_values: dict[str, Any],
    metrics: dict[str, Any],
    folds: int,
    seconds: float,
    space: Space,
    config_words: str,
    given_trial: int | None,
) -> dict[str, Any]:
    """sweep.json, with the closing lines in words."""
    counts = {status: int((table["status"] == status).sum()) for status in STATUSES}
    given = table[table["trial"] == given_trial]
    given_score = (
        float(given[OBJECTIVE].iloc[0])
        if len(given) and pd.notna(given[OBJECTIVE].iloc[0])
        else None
    )
    ratio = metrics["rmse_ratio"]
    lines = [
        "best parameters (trial {}): {}".format(
            int(best["trial"]),
            ", ".join(f"{key}={cell_text(value)}" for key, value in best_values.items()),
        ),
        f"validation {objective_name(folds)}: {best[OBJECTIVE]:.4f} (naive "
        f"{best['naive_objective']:.4f})",
        f"best/ on the test rows ({config_words}; model RMSE {metrics['rmse']:.4f}, "
        f"naive RMSE {metrics['naive_rmse']:.4f}): "
        + point_verdict(ratio, metrics.get("dm_p_value"), "it", "the naive forecast"),
        f"The test rows were used once, after the choice; no trial saw them. The best of "
        f"{counts['completed'] + counts['stopped early']} validation scores flatters the "
        f"winner, so quote the test score.",
    ]
    return {
        "objective": objective_name(folds),
        "folds": folds,
        "trials": len(table),
        **{status.replace(" ", "_"): count for status, count in counts.items()},
        "seconds": round(seconds, 1),
        "space": space.to_dict(),
        "best_trial": int(best["trial"]),
        "best_params": best_values,
        "best_objective": float(best[OBJECTIVE]),
        "best_naive_objective": float(best["naive_objective"]),
        "given_config_trial": given_trial,
        "given_config_objective": given_score,
        "test": {
            key: metrics.get(key)
            for key in (
                "rmse",
                "naive_rmse",
                "rmse_ratio",
                "dm_p_value",
                "dm_p_value_abs",
                "mae",
                "naive_mae",
                "n_test",
            )
        },
        "lines": lines,
    }
