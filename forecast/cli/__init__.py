"""Command-line glue: parse arguments, load the config, call a command function, print.

Nothing here imports TensorFlow at module level, so ``--help`` and config errors are instant.
Bad input (flags, config, data, files) prints one line on stderr and exits 2; unexpected
failures exit 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator

from forecast.cli.parser import build_parser, program_name
from forecast.errors import COMMAND_LINE, SweepInterrupted, TrainingInterrupted, UserError

__all__ = ["build_parser", "entry_point", "main", "program_name"]


def entry_point() -> None:
    """The command line (main.py, ``forecast``, ``python -m forecast``): run ``main``, then
    leave without Python's interpreter teardown, which spends 0.1-0.2 s freeing pandas and
    matplotlib after a command that has written, closed and flushed everything."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


_ESCAPES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class _Uncoloured:
    """A text stream that drops ANSI colour and style sequences (Keras' progress bar prints
    them) before they reach the stream it wraps."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_ESCAPES.sub("", text))

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def plain_output() -> Iterator[None]:
    """Honour NO_COLOR (https://no-color.org): set and not empty, no colour on stdout or
    stderr while a command runs."""
    if not os.environ.get("NO_COLOR"):
        yield
        return
    with (
        contextlib.redirect_stdout(_Uncoloured(sys.stdout)),
        contextlib.redirect_stderr(_Uncoloured(sys.stderr)),
    ):
        yield


def main(argv: list[str] | None = None) -> int:
    from forecast.cli.handlers import HANDLERS

    token = COMMAND_LINE.set(True)  # errors name flags (--steps 40), not arguments
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["train"])
        logging.basicConfig(level=logging.INFO, format="forecast: %(message)s", stream=sys.stderr)
        args.stdout = sys.stdout  # --json's object goes here; everything else to stderr
        with plain_output():
            if getattr(args, "json", False):
                with contextlib.redirect_stdout(sys.stderr):
                    return HANDLERS[args.command](args)
            return HANDLERS[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (TrainingInterrupted, SweepInterrupted) as interrupted:
        print(f"{interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        COMMAND_LINE.reset(token)
