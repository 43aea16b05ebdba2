"""The distributed engine: Ray, and the only module of forecast that imports it.

``run_tasks`` runs one function over many argument tuples as Ray tasks, on a local Ray
instance (this machine's cores) or on a cluster given by address, and hands each result to
the caller as it arrives. Each task asks for ``cpus_per_task`` CPUs and sizes TensorFlow's
thread pools to match, once per worker process (TensorFlow fixes them when its runtime
starts); Ray reuses worker processes, so TensorFlow is imported once per worker, not per
task. A worker that dies mid-task is retried (``max_retries``); a task whose function
raises is not (that is a property of its input, not of the machine).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from forecast.errors import UserError, first_line, named
from forecast.scaleout.address import check_address
from forecast.scaleout.sweep_log import TrialRecord, error_from_text

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the forecast package, shipped to workers
MAX_RETRIES = 3


@dataclass(frozen=True)
class TaskOutcome:
    """One task's result, or why it has none, and where it ran."""

    index: int  # position in the argument list
    value: Any  # the function's return value (None when failed)
    error: str | None  # a one-line reason when the task could not finish
    node_id: str | None
    worker_pid: int | None
    seconds: float
    worker_peak_mb: float | None = None  # the worker process's peak resident memory so far


@contextlib.contextmanager
def connected(address: str | None = None) -> Iterator[dict]:
    """Use the Ray instance this process already joined, or join one for the duration.

    ``address``: None starts a local instance on this machine's cores; ``auto``,
    ``HOST:PORT`` or ``ray://HOST:10001`` join a running cluster, shipping this package's
    code to its workers (``runtime_env`` py_modules), so nodes need only its dependencies.
    """
    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address:
        check_address(address)
        options["runtime_env"] = {"py_modules": [str(PACKAGE_DIR)]}
    try:
        ray.init(address=address or "local", **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = first_line(error)
        raise UserError(
            f"{named('address', address)}: cannot join the Ray cluster ({first}); start "
            f"one with 'ray start --head' or leave {named('address')} out to run on this "
            f"machine"
        ) from None
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


def _size_threads(cpus: int) -> None:
    """TensorFlow's pools to the task's CPUs, before its runtime starts (once per worker)."""
    if "tensorflow" in sys.modules:
        return  # already running in this reused worker with the sizes set below
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
    os.environ.setdefault("OMP_NUM_THREADS", str(cpus))
    if cpus == 1:  # with more, build_model picks the inter-op pool (one where the fused op trains)
        os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def _task(function: Callable[..., Any], cpus: int, arguments: tuple) -> tuple:
    """What runs in the worker: size the threads, call, and say where it ran."""
    import resource

    _size_threads(cpus)
    started = time.perf_counter()
    value = function(*arguments)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return (
        value,
        ray.get_runtime_context().get_node_id(),
        os.getpid(),
        time.perf_counter() - started,
        peak_mb,
    )


def run_tasks(
    function: Callable[..., Any],
    arguments: Sequence[tuple],
    cpus_per_task: int = 1,
    on_result: Callable[[TaskOutcome], None] | None = None,
) -> list[TaskOutcome]:
    """Run ``function(*arguments[i])`` as Ray tasks on the joined instance; results in order.

    ``on_result`` sees each outcome as it finishes (progress, writing files).
    """
    remote = ray.remote(num_cpus=cpus_per_task, max_retries=MAX_RETRIES)(_task)
    pending = {
        remote.remote(function, cpus_per_task, tuple(args)): index
        for index, args in enumerate(arguments)
    }
    submitted = {reference: time.perf_counter() for reference in pending}
    outcomes: dict[int, TaskOutcome] = {}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        reference = done[0]
        index = pending.pop(reference)
        try:
            value, node_id, pid, seconds, peak_mb = ray.get(reference)
            outcome = TaskOutcome(index, value, None, node_id, pid, seconds, peak_mb)
        except ray.exceptions.RayError as error:  # a worker or node lost beyond the retries
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            outcome = TaskOutcome(
                index,
                None,
                f"{type(error).__name__}: {reason}"[:300],
                None,
                None,
                time.perf_counter() - submitted[reference],
            )
        outcomes[index] = outcome
        if on_result is not None:
            on_result(outcome)
    return [outcomes[index] for index in range(len(arguments))]


def map_tasks(
    function: Callable[..., Any], arguments: Sequence[tuple], cpus_per_task: int = 1
) -> list[Any]:
    """``function(*arguments[i])`` for every i at once as Ray tasks on the joined instance;
    the values in order. All or nothing: a task's own error (a fold too short, say) is
    raised as it was raised in the worker; a worker lost beyond the retries is one line."""
    remote = ray.remote(num_cpus=cpus_per_task, max_retries=MAX_RETRIES)(_task)
    references = [remote.remote(function, cpus_per_task, tuple(args)) for args in arguments]
    try:
        return [ray.get(reference)[0] for reference in references]
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, UserError):
            raise type(cause)(str(cause)) from None
        raise RuntimeError(f"a Ray task failed: {first_line(cause or error)}") from None
    except ray.exceptions.RayError as error:
        raise UserError(
            f"a Ray task was lost ({type(error).__name__}: {first_line(error)}); run the "
            f"command again, or without Ray"
        ) from None


# --- hyperparameter search (Ray Tune + Optuna TPE + ASHA) -----------------------------------

ASHA_REDUCTION = 3  # each ASHA rung keeps the best third of the trials that reached it


_listener: Callable[[TrialRecord], None] | None = None  # progress of the running search


_first_number = 0  # the trials of earlier sessions of the running search: numbered after them


def _trial_number(trial: Any) -> int:
    """The trial's number in the whole search (its session's count, after earlier ones)."""
    return _first_number + int(str(trial.experiment_tag).split("_")[0])


def _trial_folder(trial: Any) -> str:
    """trial_001, trial_002, …: the trial folders sort in the search's order."""
    return f"trial_{_trial_number(trial):03d}"


def _error_line(error: BaseException | None) -> str | None:
    """The user-facing line of a trial's error: the UserError's own message, else its type
    and first line (the full traceback stays in the trial folder's error.txt)."""
    if error is None:
        return None
    cause = getattr(error, "cause", None) or error
    if isinstance(cause, UserError):
        return str(cause)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"[:300]


def _tune_trial(
    params: dict[str, Any],
    function: Callable[..., None] | None = None,
    arguments: dict[str, Any] | None = None,
    cpus: int = 1,
) -> None:
    """What runs in a trial's worker: size the threads, then call the sweep's function,
    which reports through ``tune.report`` (with the node it ran on)."""
    from ray import tune

    from forecast.base.barrier import wait_at

    _size_threads(cpus)
    node = ray.get_runtime_context().get_node_id()[:12]
    wait_at(tune.get_context().get_trial_name())  # a test's barrier (base/barrier.py)
    function(
        params, report=lambda metrics: tune.report({**metrics, "node": node}), **(arguments or {})
    )


def _domain(parameter: Any) -> Any:
    """A Space parameter as a Ray Tune distribution (choices of lists: their indices)."""
    from ray import tune

    if parameter.kind == "choice":
        return tune.choice(
            list(parameter.values)
            if parameter.scalar_choices
            else list(range(len(parameter.values)))
        )
    if parameter.kind == "uniform":
        return tune.uniform(parameter.low, parameter.high)
    if parameter.kind == "loguniform":
        return tune.loguniform(parameter.low, parameter.high)
    sample = tune.lograndint if parameter.log else tune.randint
    return sample(int(parameter.low), int(parameter.high) + 1)  # Tune's upper end is exclusive


def search(
    function: Callable[..., None],
    arguments: dict[str, Any],
    space: Any,
    experiment: Path,
    trials: int,
    metric: str,
    max_t: int,
    seed: int,
    cpus_per_trial: int = 1,
    max_concurrent: int | None = None,
    start: list[dict[str, Any]] | None = None,
    previous: Sequence[TrialRecord] = (),
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> tuple[list[TrialRecord], bool]:
    """Minimise ``metric`` over ``space`` with Optuna's TPE and ASHA early stopping.

    Each trial calls ``function(params, report=…, **arguments)`` in a Ray worker with
    ``cpus_per_trial`` CPUs; ``arguments`` go through Ray's object store once. ``report``
    takes a metrics dict after every epoch (or fold); ASHA stops trials whose ``metric`` is
    among the worst at a rung (``training_iteration`` milestones up to ``max_t``). A trial
    whose function raises is recorded as failed and the search goes on. The experiment lives
    in the folder ``experiment`` (TensorBoard logs per trial). ``start``: points evaluated
    first (the config as given). ``previous``: the trials an earlier session of this search
    finished (a resumed sweep), told to the search with their scores, never run again (and
    nothing of that session is unpickled); this session runs ``trials`` more, numbered after
    them. Returns this session's trials by number and whether it was interrupted (Ctrl-C)
    before all ran.
    """
    import optuna
    from ray import tune

    global _first_number
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no status tables on the terminal
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trainable = tune.with_resources(
        tune.with_parameters(
            _tune_trial, function=function, arguments=arguments, cpus=cpus_per_trial
        ),
        {"cpu": cpus_per_trial},
    )
    if previous:  # told to the search as evaluated points; a failed one as the worst score
        points = [record.params for record in previous]
        rewards = [_reward(record.last.get(metric)) for record in previous]
    else:
        points, rewards = start or [], None
    settings = {"metric": metric, "max_t": max_t, "trials": trials}
    settings["seed"] = seed + len(previous)  # a resumed session draws afresh, not trial 2 again
    _first_number = max((record.number for record in previous), default=0)
    tuner = _new_tuner(
        trainable, space, Path(experiment), settings, max_concurrent, points, rewards
    )
    grid = _fit_quietly(tuner, on_trial)
    records = sorted(
        (
            TrialRecord(
                number=int(Path(result.path).name.split("_")[1]),
                params=dict(result.config or {}),
                last=dict(result.metrics or {}),
                error=_error_line(result.error),
            )
            for result in grid
        ),
        key=lambda record: record.number,
    )
    interrupted = len(records) < trials or any(
        record.error is None and not record.last.get("done") for record in records
    )
    return records, interrupted


def _reward(value: Any) -> float:
    """A finished trial's score for the search: the metric, or +inf where it has none."""
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return math.inf


def _new_tuner(
    trainable: Any,
    space: Any,
    path: Path,
    settings: dict[str, Any],
    max_concurrent: int | None,
    points: list[dict[str, Any]],
    rewards: list[float] | None,
) -> Any:
    """A Tuner minimising ``settings["metric"]`` with Optuna's TPE (seeded) and ASHA, its
    trial folders named trial_NNN in the search's order. ``points``: evaluated first, or
    with ``rewards`` told as evaluated already."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    trials, max_t = settings["trials"], settings["max_t"]
    sampler = optuna.samplers.TPESampler(
        seed=settings["seed"], n_startup_trials=min(10, max(2, trials // 3))
    )
    scheduler = ASHAScheduler(
        time_attr="training_iteration",
        max_t=max_t,
        grace_period=max(1, max_t // 4),
        reduction_factor=ASHA_REDUCTION,
    )
    return tune.Tuner(
        trainable,
        param_space={parameter.key: _domain(parameter) for parameter in space.parameters},
        tune_config=tune.TuneConfig(
            metric=settings["metric"],
            mode="min",
            search_alg=OptunaSearch(
                sampler=sampler, points_to_evaluate=points or None, evaluated_rewards=rewards
            ),
            scheduler=scheduler,
            num_samples=trials,
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            trial_name_creator=_trial_folder,
            trial_dirname_creator=_trial_folder,
        ),
        run_config=tune.RunConfig(
            name=path.name,
            storage_path=str(path.parent.resolve()),
            verbose=0,
            callbacks=[_progress_class()()],
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )


def _fit_quietly(tuner: Any, on_trial: Callable[[TrialRecord], None] | None) -> Any:
    """tuner.fit() with each finished trial handed to ``on_trial``; a failed trial's
    traceback goes to its error.txt, not the terminal."""
    import logging
    import warnings

    global _listener
    quiet = [logging.getLogger(name) for name in ("ray.tune", "ray.train")]
    levels = [logger.level for logger in quiet]
    _listener = on_trial
    try:
        for logger in quiet:
            logger.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuner.fit()
    finally:
        _listener = None
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)


def _record(trial: Any, error: str | None = None) -> TrialRecord:
    return TrialRecord(
        number=_trial_number(trial),
        params=dict(trial.config),
        last=dict(trial.last_result or {}),
        error=error,
    )


def _error_file_text(trial: Any) -> str:
    """The traceback Tune wrote to a failed trial's error.txt ("" if none)."""
    path = trial.error_file
    try:
        return Path(path).read_text(encoding="utf-8") if path else ""
    except OSError:
        return ""


def _progress_class() -> type:
    """The Tune callback that hands each finished trial to the running search's
    ``on_trial``. Tune pickles it with the experiment by reference, as
    ``forecast.scaleout.engine._Progress`` (nothing here ever loads that pickle again); it is
    made on first use, since importing ray.tune costs batch runs 0.6 s."""
    if "_Progress" not in globals():
        from ray.tune import Callback

        class _Progress(Callback):
            def on_trial_complete(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                if _listener is not None:
                    _listener(_record(trial))

            def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                if _listener is not None:
                    _listener(_record(trial, error=error_from_text(_error_file_text(trial))))

        _Progress.__qualname__ = "_Progress"
        globals()["_Progress"] = _Progress
    return globals()["_Progress"]
