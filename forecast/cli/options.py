"""The options several commands share (a config and its overrides, the folder written, a run
folder, newer bars, tickers, a Ray cluster, JSON output), each added the same way wherever
it appears."""

from __future__ import annotations

import argparse
from pathlib import Path


def config_source(command: argparse.ArgumentParser, help_set: str) -> None:
    """--config and --set."""
    command.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML config file, or a shipped config by name: default, quick, best, yahoo "
        "(default: default)",
    )
    command.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_set
    )


def config_options(command: argparse.ArgumentParser) -> None:
    """What the commands that start from a config and write one folder share."""
    config_source(command, "override a config key, e.g. --set train.epochs=5 (repeatable)")
    command.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write (default: output.runs_dir/TIME-TICKER…)",
    )
    command.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to name a folder that already holds results",
    )
    command.add_argument(
        "--refresh",
        action="store_true",
        help="download Yahoo Finance prices again instead of using the cache",
    )


def address(command: argparse.ArgumentParser) -> None:
    """Where the distributed commands run."""
    command.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001 (default: a local Ray "
        "instance on this machine's cores)",
    )


def newer_bars(command: argparse.ArgumentParser, data_help: str) -> None:
    """--data FILE or --refresh (not both): where the bars that came since the run are read."""
    newer = command.add_mutually_exclusive_group()
    newer.add_argument(
        "--data", type=Path, default=None, help=f"{data_help} (default: the run's source again)"
    )
    newer.add_argument(
        "--refresh",
        action="store_true",
        help="read the run's source again, downloading Yahoo Finance bars again first",
    )


def json_output(command: argparse.ArgumentParser) -> None:
    """--json: the result as one JSON object on stdout, for scripts (progress goes to stderr)."""
    command.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object on stdout (progress and notes go to stderr)",
    )


def run_folder(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("--run", type=Path, required=True, help=f"run folder {what}")


def tickers(command, help_text: str) -> None:
    """--tickers A,B,C or --tickers-file FILE (train and compare; batch says it its way)."""
    command.add_argument("--tickers", default=None, help=help_text)
    command.add_argument(
        "--tickers-file", type=Path, default=None, help="the tickers, one per line (# comments)"
    )
