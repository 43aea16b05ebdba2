"""Hyperparameter sweeps: chosen on validation rows, scored once on test rows.

``run_sweep`` checks the search space against the config schema, loads the data, and keeps
only the training rows: trials never receive a test row. The engine (Ray Tune, Optuna's TPE
sampler, ASHA early stopping) runs ``run_trial`` for each proposed config, which scores it
with the backtest's own fold functions inside the training rows:

- by default, one chronological validation block, the last ``data.test_fraction`` of the
  training rows (the test split, one level down): the model is trained on the rows before
  it and its MASE on the block is reported after every epoch, so ASHA can stop poor trials
  early;
- with ``folds=K``, K walk-forward folds over that same end of the training rows; the
  running mean of their MASE is reported after each fold.

MASE (mean absolute error over the in-sample naive error of the rows before the block) is
in price units whatever ``data.target`` is, so trials that model prices and trials that
model log returns are compared on the same footing; each trial also reports the naive
forecast's MASE on the same rows. The first trial is the config as given, when its values
lie inside the space, so the search must beat where it started.

The best trial's config is written as ``best.yaml`` and retrained with ``commands.train.train``
on all training rows into ``best/``, an ordinary run folder scored once on the test rows
beside naive. The minimum of many noisy validation scores flatters the winner; the test
score of ``best/`` is the number to quote.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from forecast.base import atomic
from forecast.config import Config, config_to_dict
from forecast.errors import SweepInterrupted, UserError
from forecast.evaluation.metrics import point_verdict
from forecast.scaleout.space import Space, base_value, configure, read_space, space_text, value_text
from forecast.store import runs

OBJECTIVE = "objective"  # the metric trials report and the search minimises
TUNE_FOLDER = "tune"  # Ray Tune's experiment: trial_NNN/ with TensorBoard logs
SIGNATURE = "tune.signature.json"  # this user's HMAC of tune/, checked before --resume
STATUSES = ("completed", "stopped early", "failed", "not finished")


@dataclass(frozen=True)
class SweepResult:
    folder: Path
    trials: pd.DataFrame  # one row per trial: number, status, objective, naive, parameters…
    best: dict[str, Any]  # the best trial's row
    best_config: Config
    metrics: dict[str, Any]  # best/'s test metrics beside naive
    lines: list[str]  # the closing lines, in words


# --- in the trial's worker ------------------------------------------------------------------


def run_trial(
    drawn: dict[str, Any],
    report: Callable[[dict[str, Any]], None],
    values: dict[str, Any],
    space: Space,
    bars: pd.DataFrame,
    folds: int,
) -> None:
    """Score one drawn config on ``bars`` (the training rows alone), reporting as it goes.

    Raises UserError for a config the data cannot serve (the trial is recorded as failed).
    """
    from forecast.evaluation.backtest import make_folds, run_fold
    from forecast.evaluation.metrics import mase

    config = configure(values, space.decode(drawn))
    config = replace(config, train=replace(config.train, progress="none"))
    prices = bars["price"].to_numpy()
    if folds == 0:
        fold = make_folds(len(bars), 1, config.data.test_fraction)[0]
        before = prices[: fold.cutoff]

        def on_epoch(logs: dict[str, float], frame: pd.DataFrame, last: bool) -> None:
            report(
                {
                    OBJECTIVE: mase(frame["actual"], frame["model"], before),
                    "naive_objective": mase(frame["actual"], frame["previous"], before),
                    "finished": last,
                    **logs,
                }
            )

        run_fold(config, bars, fold, on_epoch=on_epoch)
        return
    scores, naive, epochs = [], [], 0
    plan = make_folds(len(bars), folds, config.data.test_fraction)
    for fold in plan:
        outcome = run_fold(config, bars, fold)
        frame, before = outcome.predictions, prices[: fold.cutoff]
        scores.append(mase(frame["actual"], frame["model"], before))
        naive.append(mase(frame["actual"], frame["previous"], before))
        epochs += outcome.epochs_run
        report(
            {
                OBJECTIVE: float(np.mean(scores)),
                "naive_objective": float(np.mean(naive)),
                "folds_run": fold.index + 1,
                "epochs": epochs,  # over the folds so far
                "finished": fold.index + 1 == len(plan),
            }
        )


# --- on the driver --------------------------------------------------------------------------


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
        row.update({key: value_text(params.get(key)) for key in space.keys})
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


def _objective_name(folds: int) -> str:
    return (
        f"mean MASE of {folds} walk-forward folds in the training rows"
        if folds
        else "MASE on the validation block (the last test_fraction of the training rows)"
    )


def _check_resume(
    folder: Path, config: Config, space: Space, folds: int, trust: bool
) -> dict[str, Any]:
    from forecast.store.signature import check_signed

    state_path = folder / "sweep_state.json"
    if not state_path.is_file() or not (folder / TUNE_FOLDER).is_dir():
        raise UserError(
            f"--resume: {folder} is not a sweep folder; run the sweep without --resume first"
        )
    if not trust:  # before anything is unpickled
        check_signed(folder / TUNE_FOLDER, folder / SIGNATURE, f"--resume {folder}")
    state = runs.read_json(state_path)
    runs.check_same_config(folder, config, "sweep")
    if (folder / "space.yaml").read_text(encoding="utf-8") != space_text(space):
        raise UserError(
            f"--resume {folder}: the search space differs from the one the sweep "
            f"started with ({folder / 'space.yaml'}); resume with that space"
        )
    if state["folds"] != folds:
        raise UserError(
            f"--resume {folder}: the sweep started with --folds {state['folds']}; "
            f"resume with the same"
        )
    return state


def run_sweep(
    config: Config,
    space_path: str | Path,
    trials: int = 16,
    folds: int = 0,
    out: str | Path | None = None,
    address: str | None = None,
    cpus_per_trial: int = 1,
    max_concurrent: int | None = None,
    resume: bool = False,
    trust: bool = False,
    echo: Callable[[str], None] = print,
) -> SweepResult:
    """Search the space on the training rows, write trials.csv, best.yaml, best/ (retrained
    and tested once), sweep.png and report.html into a sweep folder.

    ``resume`` continues an interrupted sweep in ``out``; its Ray Tune state must carry this
    user's signature (``trust``: resume one that does not, such as a sweep folder made
    before forecast signed them).
    """
    from forecast.commands.common import bar_words, load_data
    from forecast.commands.train import train
    from forecast.data.sources import data_fingerprint
    from forecast.data.windows import split_sizes
    from forecast.report.html import write_sweep_report
    from forecast.report.plots import plot_sweep
    from forecast.scaleout import engine
    from forecast.store.signature import sign_folder

    if trials < 1 or folds < 0 or cpus_per_trial < 1 or (max_concurrent or 1) < 1:
        raise UserError(
            f"--trials {trials} --folds {folds} --cpus-per-trial {cpus_per_trial}"
            f": trials and cpus-per-trial must be >= 1, folds >= 0 (0: one "
            f"validation block), max-concurrent >= 1"
        )
    space = read_space(space_path, config_to_dict(config))  # before any data or Ray
    if address:
        engine.check_address(address)
    config, market = load_data(config)
    n_train = split_sizes(
        len(market.bars),
        config.data.test_fraction,
        config.data.lookback,
        config.train.validation_fraction,
    )[0]
    training = market.bars.iloc[:n_train]  # what trials receive: never a test row
    fingerprint = data_fingerprint(market.bars)
    if resume:
        folder = Path(out) if out is not None else Path()
        state = _check_resume(folder, config, space, folds, trust)
        if state["data_sha256"] != fingerprint:
            raise UserError(
                f"--resume {folder}: the data differs from the data the sweep "
                f"started with; resume with the same data or start a new sweep"
            )
        trials = state["trials"]
    else:
        folder = runs.create_run_dir(config.output.runs_dir, "sweep", out=out)
        runs.write_config(folder, config)
        atomic.write_text(folder / "space.yaml", space_text(space))
    values = config_to_dict(config)
    max_t = folds or int(space.largest("train.epochs") or config.train.epochs)
    start = space.encode({key: base_value(values, key) for key in space.keys})
    if not resume:
        state = {
            "trials": trials,
            "folds": folds,
            "data_sha256": fingerprint,
            "n_train": n_train,
            "given_trial": 1 if start else None,
        }
        atomic.write_json(folder / "sweep_state.json", state)
    if start is None and not resume:
        echo("note: the config's own values lie outside the space, so no trial starts from it")
    echo(
        f"sweep: {trials} trials of {len(space.keys)} parameters, objective: "
        f"{_objective_name(folds)} ({len(training)} training rows; the test rows stay out)"
    )
    finished = [0]

    def on_trial(record: Any) -> None:
        finished[0] += 1
        last = record.last
        score = last.get(OBJECTIVE)
        text = (
            f"MASE {score:.4f} (naive {last.get('naive_objective', math.nan):.4f})"
            if isinstance(score, (int, float))
            else (record.error or "no result")
        )
        echo(f"[{finished[0]}/{trials}] trial {record.number}: {text}")

    started = time.perf_counter()
    try:
        with engine.connected(address):
            records, interrupted = engine.search(
                run_trial,
                {"values": values, "space": space, "bars": training, "folds": folds},
                space,
                folder / TUNE_FOLDER,
                trials=trials,
                metric=OBJECTIVE,
                max_t=max_t,
                seed=config.train.seed,
                cpus_per_trial=cpus_per_trial,
                max_concurrent=max_concurrent,
                start=[start] if start else None,
                resume=resume,
                on_trial=on_trial,
            )
    finally:  # Tune has written its state: sign it for a later --resume
        if (folder / TUNE_FOLDER).is_dir():
            sign_folder(folder / TUNE_FOLDER, folder / SIGNATURE)
    seconds = time.perf_counter() - started
    table = trials_table(records, space, folds)
    runs.write_frame(folder / "trials.csv", table)
    if interrupted:
        raise SweepInterrupted(
            f"sweep interrupted with {int((table['status'] != 'not finished').sum())} of "
            f"{trials} trials finished; continue it with: python main.py sweep --config "
            f"{folder / 'config.yaml'} --space {folder / 'space.yaml'} --out {folder} "
            f"--resume"
        )
    best = choose_best(table)
    if best is None:
        first = next((message for message in table["message"] if message), "no result")
        raise UserError(
            f"sweep {folder}: none of the {len(table)} trials finished (see "
            f"{folder / 'trials.csv'}); the first error: {first}"
        )
    best_record = next(record for record in records if record.number == int(best["trial"]))
    best_values = space.decode(best_record.params)
    best_config = configure(values, best_values)
    write_best_yaml(folder / "best.yaml", best_config, best, folder, folds)
    echo(
        f"retraining trial {int(best['trial'])}'s config on all {n_train} training rows, "
        f"then scoring it once on the test rows"
    )
    outcome = train(
        best_config, out=folder / "best", overwrite=True, echo=lambda line: None, market=market
    )
    metrics = outcome.metrics
    summary = summarise(
        table,
        best,
        best_values,
        metrics,
        folds,
        seconds,
        space,
        config_words=bar_words(config, metrics["n_test"]),
        given_trial=state["given_trial"],
    )
    atomic.write_json(folder / "sweep.json", summary)
    runs.save_figure(
        folder / "sweep.png", plot_sweep(table, space, OBJECTIVE, _objective_name(folds))
    )
    write_sweep_report(folder, table, summary)
    return SweepResult(
        folder=folder,
        trials=table,
        best=best.to_dict(),
        best_config=best_config,
        metrics=metrics,
        lines=summary["lines"],
    )


def write_best_yaml(path: Path, config: Config, best: pd.Series, folder: Path, folds: int) -> None:
    """A complete config that ``train --config`` takes as is, with where it came from."""
    header = (
        f"# Chosen by the sweep in {folder}: trial {int(best['trial'])} of its "
        f"trials.csv, lowest {_objective_name(folds)}\n# ({best[OBJECTIVE]:.4f}; the "
        f"naive forecast: {best['naive_objective']:.4f}). Every key is written out; "
        f"train it with\n# python main.py train --config {path}\n"
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
            ", ".join(f"{key}={value_text(value)}" for key, value in best_values.items()),
        ),
        f"validation {_objective_name(folds)}: {best[OBJECTIVE]:.4f} (naive "
        f"{best['naive_objective']:.4f})",
        f"best/ on the test rows ({config_words}; model RMSE {metrics['rmse']:.4f}, "
        f"naive RMSE {metrics['naive_rmse']:.4f}): "
        + point_verdict(ratio, metrics.get("dm_p_value"), "it", "the naive forecast"),
        f"The test rows were used once, after the choice; no trial saw them. The best of "
        f"{counts['completed'] + counts['stopped early']} validation scores flatters the "
        f"winner, so quote the test score.",
    ]
    return {
        "objective": _objective_name(folds),
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
