"""Command-line glue: parse arguments, load the config, call a pipeline function, print.

Nothing here imports TensorFlow at module level, so ``--help`` and config errors are instant.
User errors print one line on stderr and exit 2; unexpected failures exit 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from forecast.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python main.py",
        description="LSTM stock-price forecaster. With no command, trains configs/default.yaml "
                    "on the shipped MSFT sample.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train a model and write a run folder")
    train.add_argument("--config", type=Path, default=None,
                       help="YAML config (default: configs/default.yaml)")
    train.add_argument("--set", dest="overrides", action="append", default=[],
                       metavar="KEY=VALUE",
                       help="override a config key, e.g. --set train.epochs=5 (repeatable)")
    train.add_argument("--out", type=Path, default=None,
                       help="run folder to write (default: output.runs_dir/TIME-TICKER)")
    train.add_argument("--overwrite", action="store_true",
                       help="allow --out to name a folder that already holds a run")
    train.add_argument("--refresh", action="store_true",
                       help="download Yahoo Finance prices again instead of using the cache")

    evaluate = commands.add_parser("evaluate",
                                   help="reload a run folder and recompute its metrics")
    evaluate.add_argument("--run", type=Path, required=True, help="run folder to evaluate")
    return parser


def _quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up noise; must run before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN reorders float sums (tiny run-to-run drift) and logs a banner; off by default.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def command_train(args: argparse.Namespace) -> int:
    from forecast.config import load_config

    config_path = args.config if args.config is not None else (
        DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    config = load_config(config_path, args.overrides)
    from forecast.pipeline import train
    from forecast.report.metrics import format_metrics_table

    outcome = train(config, out=args.out, refresh=args.refresh, overwrite=args.overwrite)
    print()
    print(format_metrics_table(outcome.metrics))
    print(f"epochs run: {outcome.metrics['epochs_run']}, test days: "
          f"{outcome.metrics['n_test']}")
    print(f"run folder: {outcome.run_dir}")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from forecast.pipeline import evaluate
    from forecast.report.metrics import METRIC_KEYS, format_metrics_table
    from forecast.runs import read_json

    evaluation = evaluate(args.run)
    stored = read_json(args.run / "metrics.json")
    print(format_metrics_table(evaluation))
    same = all(evaluation[key] == stored.get(key) for key in METRIC_KEYS)
    print(f"wrote {args.run / 'evaluation.json'}; "
          f"{'matches' if same else 'DIFFERS FROM'} metrics.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["train"])
    logging.basicConfig(level=logging.INFO, format="forecast: %(message)s", stream=sys.stderr)
    _quiet_tensorflow()
    handlers = {"train": command_train, "evaluate": command_evaluate}
    try:
        return handlers[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
