"""Errors that mean "the user asked for something we cannot do" (exit code 2, no traceback)."""

from __future__ import annotations

import contextvars
import os


class UserError(Exception):
    """A problem with the user's input: config, data, files or flags.

    The message is one line that names what is wrong and how to fix it; the CLI prints it
    on stderr and exits with code 2.
    """


class ConfigError(UserError):
    """A config file or override that does not fit the schema."""


class DataError(UserError):
    """Price data that cannot be loaded or is unfit for training."""


class RunError(UserError):
    """A run folder that is missing, incomplete or inconsistent."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (a library's may run to many), or its type's
    name when it says nothing: what a one-line message quotes of it."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class TrainingInterrupted(Exception):
    """Ctrl-C during training: the last finished epoch is saved and can be resumed (exit 130)."""


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: Ray Tune saved its state; ``sweep --resume`` continues it
    without redoing finished trials (exit 130)."""


# --- naming what was wrong ------------------------------------------------------------------
# The same check speaks to whoever called: ``steps=40`` to Python, ``--steps 40`` to the
# command line (which sets ``COMMAND_LINE`` while it runs a command).
COMMAND_LINE: contextvars.ContextVar[bool] = contextvars.ContextVar("command_line", default=False)
FLAGS = {
    "address": "--address",
    "backtest_folds": "--backtest",
    "band_method": "--band-method",
    "batch_dir": "--update",
    "cpus_per_task": "--cpus-per-task",
    "cpus_per_trial": "--cpus-per-trial",
    "data_path": "--data",
    "date": "--date",
    "epochs": "--epochs",
    "families": "--models",
    "folds": "--folds",
    "forecast_steps": "--forecast",
    "layer": "--layer",
    "max_concurrent": "--max-concurrent",
    "out": "--out",
    "refresh": "--refresh",
    "resume": "--resume",
    "run_dir": "--run",
    "samples": "--samples",
    "space_path": "--space",
    "steps": "--steps",
    "tickers": "--tickers",
    "tickers_file": "--tickers-file",
    "trials": "--trials",
}


def named(argument: str, value: object = None, flag: str | None = None) -> str:
    """An argument and its value as the caller wrote them: ``steps=40`` from Python,
    ``--steps 40`` from the command line (``flag`` overrides the usual flag)."""
    if COMMAND_LINE.get():
        option = flag or FLAGS.get(argument, f"--{argument.replace('_', '-')}")
        return option if value is None else f"{option} {value}"
    if value is None:
        return argument
    shown = f"'{value}'" if isinstance(value, (str, os.PathLike)) else f"{value}"
    return f"{argument}={shown}"
