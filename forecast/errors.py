"""Errors that mean "the user asked for something we cannot do" (exit code 2, no traceback)."""

from __future__ import annotations


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


class TrainingInterrupted(Exception):
    """Ctrl-C during training: the last finished epoch is saved and can be resumed (exit 130)."""


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: Ray Tune saved its state; ``sweep --resume`` continues it
    without redoing finished trials (exit 130)."""
