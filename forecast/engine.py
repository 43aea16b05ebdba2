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
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from forecast.errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent
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
def connected(address: str | None = None, num_cpus: int | None = None) -> Iterator[dict]:
    """Use the Ray instance this process already joined, or join one for the duration.

    ``address``: None starts a local instance on this machine's cores; ``auto``,
    ``HOST:PORT`` or ``ray://HOST:10001`` join a running cluster, shipping this package's
    code to its workers (``runtime_env`` py_modules), so nodes need only its dependencies.
    """
    if ray.is_initialized():
        yield ray.cluster_resources()
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                               "configure_logging": False}
    if address:
        check_address(address)
        options["runtime_env"] = {"py_modules": [str(PACKAGE_DIR)]}
    else:
        options["num_cpus"] = num_cpus
    try:
        ray.init(address=address or "local", **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"--address {address}: cannot join the Ray cluster ({first}); start "
                        f"one with 'ray start --head' or leave --address out to run on this "
                        f"machine") from None
    try:
        yield ray.cluster_resources()
    finally:
        ray.shutdown()


def check_address(address: str, timeout: float = 5.0) -> None:
    """Refuse an address nothing answers on (Ray itself would retry it for minutes)."""
    import socket

    target = address
    if address == "auto":
        current = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
        target = os.environ.get("RAY_ADDRESS") or (
            current.read_text().strip() if current.exists() else "")
        if not target:
            raise UserError("--address auto: no Ray cluster was started on this machine; start "
                            "one with 'ray start --head' or leave --address out")
    host, _, port = target.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise UserError(f"--address {address}: no Ray cluster answers at {target} ({reason}); "
                        f"start one with 'ray start --head' or leave --address out to run on "
                        f"this machine") from None


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
    return (value, ray.get_runtime_context().get_node_id(), os.getpid(),
            time.perf_counter() - started, peak_mb)


def run_tasks(function: Callable[..., Any], arguments: Sequence[tuple], cpus_per_task: int = 1,
              on_result: Callable[[TaskOutcome], None] | None = None) -> list[TaskOutcome]:
    """Run ``function(*arguments[i])`` as Ray tasks on the joined instance; results in order.

    ``on_result`` sees each outcome as it finishes (progress, writing files).
    """
    remote = ray.remote(num_cpus=cpus_per_task, max_retries=MAX_RETRIES)(_task)
    pending = {remote.remote(function, cpus_per_task, tuple(args)): index
               for index, args in enumerate(arguments)}
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
            outcome = TaskOutcome(index, None, f"{type(error).__name__}: {reason}"[:300], None,
                                  None, time.perf_counter() - submitted[reference])
        outcomes[index] = outcome
        if on_result is not None:
            on_result(outcome)
    return [outcomes[index] for index in range(len(arguments))]
