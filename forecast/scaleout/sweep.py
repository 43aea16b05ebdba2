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

import pandas as pd

from forecast.base import atomic
from forecast.base.names import program_name
from forecast.base.values import read_json
from forecast.commands.result import Result
from forecast.config import Config, TrackingConfig, config_to_dict
from forecast.errors import SweepInterrupted, UserError, named
from forecast.forecasting import state
from forecast.scaleout import load_engine, sweep_log
from forecast.scaleout.address import check_address
from forecast.scaleout.space import Space, base_value, configure, read_space, space_text
from forecast.scaleout.sweep_log import TrialRecord
from forecast.scaleout.sweep_summary import (
    choose_best,
    objective_name,
    summarise,
    trials_table,
    write_best_yaml,
)
from forecast.scaleout.sweep_trial import OBJECTIVE, run_trial
from forecast.store import runs, tracking
from forecast.store.lock import RUN_FILES, writing

TUNE_FOLDER = "tune"  # Ray Tune's experiment: trial_NNN/ (TensorBoard logs); tune-2, … resumed


def _session_folder(folder: Path) -> Path:
    """Where this session's trials go: tune/ first, tune-2/, tune-3/, … for each resume (Ray
    Tune's state of an earlier session is never loaded again; trials.jsonl carries it)."""
    if not (folder / TUNE_FOLDER).exists():
        return folder / TUNE_FOLDER
    sessions = 2
    while (folder / f"{TUNE_FOLDER}-{sessions}").exists():
        sessions += 1
    return folder / f"{TUNE_FOLDER}-{sessions}"


def _check_resume(folder: Path, config: Config, space: Space, folds: int) -> dict[str, Any]:
    state_path = folder / "sweep_state.json"
    if not state_path.is_file():
        raise UserError(
            f"{named('resume', folder, flag='--resume')}: not a sweep folder; run the sweep "
            f"without resuming first"
        )
    sweep_state = read_json(state_path)
    runs.check_same_config(folder, config, "sweep")
    if (folder / "space.yaml").read_text(encoding="utf-8") != space_text(space):
        raise UserError(
            f"{named('resume', folder, flag='--resume')}: the search space differs from the "
            f"one the sweep "
            f"started with ({folder / 'space.yaml'}); resume with that space"
        )
    if sweep_state["folds"] != folds:
        raise UserError(
            f"{named('resume', folder, flag='--resume')}: the sweep started with "
            f"{named('folds', sweep_state['folds'])}; resume with the same"
        )
    return sweep_state


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
    echo: Callable[[str], None] = print,
) -> Result:
    """Search the space on the training rows, write trials.csv, best.yaml, best/ (retrained
    and tested once), sweep.png and report.html into a sweep folder.

    ``resume`` continues a sweep in ``out`` that was interrupted or killed: the trials its
    trials.jsonl lists are told to the search and not run again; the rest run now.
    """
    load_engine("sweep")  # the scaleout extra, named when missing

    if trials < 1 or folds < 0 or cpus_per_trial < 1 or (max_concurrent or 1) < 1:
        raise UserError(
            f"{named('trials', trials)} {named('folds', folds)} "
            f"{named('cpus_per_trial', cpus_per_trial)}: trials and cpus-per-trial must be "
            f">= 1, folds >= 0 (0: one validation block), max-concurrent >= 1"
        )
    space = read_space(space_path, config_to_dict(config))  # before any data or Ray
    tracking.check_available(config)
    if address:
        check_address(address)
    from forecast.commands.common import load_data

    config, market = load_data(config)
    if resume:
        folder = Path(out) if out is not None else Path()
        held = writing(folder, "sweep --resume", only_if=RUN_FILES)
    else:
        held = runs.new_folder(config.output.runs_dir, "sweep", "sweep", out=out)
    with held as folder:
        plan = _plan(config, market, space, trials, folds, folder, resume, echo)
        started = time.perf_counter()
        records = _search(plan, space, address, cpus_per_trial, max_concurrent, echo)
        table = trials_table(records, space, folds)
        atomic.write_table(plan.folder / "trials.csv", table)
        result = _finish(plan, space, records, table, time.perf_counter() - started, echo)
    objective = table.sort_values("trial")[OBJECTIVE].astype("float64").tolist()
    tracking.log_result(plan.config, "sweep", result, steps={"trial_objective": objective})
    return result


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep (new or resumed) searches with: its folder, the resolved config and data,
    the training rows the trials get, and its state (sweep_state.json)."""

    folder: Path
    config: Config
    market: Any  # MarketData
    training: pd.DataFrame
    state: dict[str, Any]
    start: dict[str, Any] | None  # the config's own values, encoded: trial 1


def _plan(
    config: Config,
    market: Any,
    space: Space,
    trials: int,
    folds: int,
    folder: Path,
    resume: bool,
    echo: Callable[[str], None],
) -> SweepPlan:
    """Keep the training rows; start the sweep's folder (or check it, on resume)."""
    from forecast.data.sources import data_fingerprint
    from forecast.data.windows import WindowSpec, split_sizes

    n_train = split_sizes(len(market.bars), WindowSpec.from_config(config))[0]
    training = market.bars.iloc[:n_train]  # what trials receive: never a test row
    fingerprint = data_fingerprint(market.bars)
    values = config_to_dict(config)
    start = space.encode({key: base_value(values, key) for key in space.keys})
    if resume:
        sweep_state = _check_resume(folder, config, space, folds)
        if sweep_state["data_sha256"] != fingerprint:
            raise UserError(
                f"{named('resume', folder, flag='--resume')}: the data differs from the data "
                f"the sweep started with; resume with the same data or start a new sweep"
            )
    else:
        state.write_config(folder, config)
        atomic.write_text(folder / "space.yaml", space_text(space))
        sweep_state = {
            "trials": trials,
            "folds": folds,
            "data_sha256": fingerprint,
            "n_train": n_train,
            "given_trial": 1 if start else None,
        }
        atomic.write_json(folder / "sweep_state.json", sweep_state)
        if start is None:
            echo("note: the config's own values lie outside the space, so no trial starts from it")
    echo(
        f"sweep: {sweep_state['trials']} trials of {len(space.keys)} parameters, objective: "
        f"{objective_name(folds)} ({len(training)} training rows; the test rows stay out)"
    )
    return SweepPlan(folder, config, market, training, sweep_state, start)


def _search(
    plan: SweepPlan,
    space: Space,
    address: str | None,
    cpus_per_trial: int,
    max_concurrent: int | None,
    echo: Callable[[str], None],
) -> list[TrialRecord]:
    """The trials trials.jsonl lists, and the rest run now on the engine, each logged as it
    ends; a Ctrl-C raises SweepInterrupted saying how to continue."""
    from forecast.scaleout import engine

    folds, trials = plan.state["folds"], plan.state["trials"]
    previous = sweep_log.read(plan.folder)
    if previous:
        echo(f"resuming: {len(previous)} of {trials} trials finished before")
    if len(previous) >= trials:
        return previous
    finished = [len(previous)]

    def on_trial(record: TrialRecord) -> None:
        sweep_log.append(plan.folder, record)
        finished[0] += 1
        last = record.last
        score = last.get(OBJECTIVE)
        text = (
            f"MASE {score:.4f} (naive {last.get('naive_objective', math.nan):.4f})"
            if isinstance(score, (int, float))
            else (record.error or "no result")
        )
        echo(f"[{finished[0]}/{trials}] trial {record.number}: {text}")

    with engine.connected(address):
        records, interrupted = engine.search(
            run_trial,
            {
                "values": config_to_dict(plan.config),
                "space": space,
                "bars": plan.training,
                "folds": folds,
            },
            space,
            _session_folder(plan.folder),
            trials=trials - len(previous),
            metric=OBJECTIVE,
            max_t=folds or int(space.largest("train.epochs") or plan.config.train.epochs),
            seed=plan.config.train.seed,
            cpus_per_trial=cpus_per_trial,
            max_concurrent=max_concurrent,
            start=[plan.start] if plan.start and not previous else None,
            previous=previous,
            on_trial=on_trial,
        )
    records = [*previous, *records]
    if interrupted:
        table = trials_table(records, space, folds)
        atomic.write_table(plan.folder / "trials.csv", table)
        done = int((table["status"] != "not finished").sum())
        raise SweepInterrupted(
            f"sweep interrupted with {done} of {trials} trials finished; continue it with: "
            f"{program_name()} sweep --config {plan.folder / 'config.yaml'} --space "
            f"{plan.folder / 'space.yaml'} --out {plan.folder} --resume"
        )
    return records


def _finish(
    plan: SweepPlan,
    space: Space,
    records: list[Any],
    table: pd.DataFrame,
    seconds: float,
    echo: Callable[[str], None],
) -> Result:
    """The best trial's config as best.yaml, retrained into best/ and scored once on the test
    rows; sweep.json, sweep.png, report.html."""
    from forecast.commands.common import bar_words
    from forecast.commands.train import train
    from forecast.report import interactive
    from forecast.report import sweep as sweep_chart
    from forecast.report.html import write_sweep_report

    folder, folds = plan.folder, plan.state["folds"]
    best = choose_best(table)
    if best is None:
        first = next((message for message in table["message"] if message), "no result")
        raise UserError(
            f"sweep {folder}: none of the {len(table)} trials finished (see "
            f"{folder / 'trials.csv'}); the first error: {first}"
        )
    best_record = next(record for record in records if record.number == int(best["trial"]))
    best_values = space.decode(best_record.params)
    best_config = configure(config_to_dict(plan.config), best_values)
    write_best_yaml(folder / "best.yaml", best_config, best, folder, folds)
    echo(
        f"retraining trial {int(best['trial'])}'s config on all {plan.state['n_train']} "
        f"training rows, then scoring it once on the test rows"
    )
    trained = train(  # the sweep is tracked as one run, best/ inside it
        replace(best_config, tracking=TrackingConfig()),
        out=folder / "best",
        overwrite=True,
        echo=lambda line: None,
        market=plan.market,
    )
    metrics = trained.summary
    summary = summarise(
        table,
        best,
        best_values,
        metrics,
        folds,
        seconds,
        space,
        config_words=bar_words(plan.config, metrics["n_test"]),
        given_trial=plan.state["given_trial"],
    )
    atomic.write_json(folder / "sweep.json", summary)
    atomic.write_figure(
        folder / "sweep.png", sweep_chart.figure(table, space, OBJECTIVE, objective_name(folds))
    )
    chart = sweep_chart.interactive(table, space, OBJECTIVE, objective_name(folds))
    interactive.save(folder / "sweep.png", chart)
    write_sweep_report(folder, table, summary, plan.config)
    return Result(
        folder=folder,
        table=table,
        summary=summary,
        verdict=summary["lines"][-1],
        config=best_config,
        forecaster=trained.forecaster,
        detail={"best": best.to_dict(), "metrics": metrics},
    )
