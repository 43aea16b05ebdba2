"""What the command handlers share: the config the flags name, number formats, --json."""

from __future__ import annotations

import argparse


def load(args: argparse.Namespace):
    from forecast.config import config_path, load_config

    return load_config(config_path(args.config), args.overrides)


def numbers(digits: int):
    return lambda value: f"{value:.{digits}f}"


def printed_json(args: argparse.Namespace, result, table: bool = False, **extra) -> bool:
    """With --json: the result as one JSON object on the command's stdout, and True; without
    it, False (the caller prints its tables and verdict)."""
    if not getattr(args, "json", False):
        return False
    from forecast.base.values import json_text

    document = {
        "command": args.command,
        "folder": str(result.folder),
        "verdict": result.verdict,
        "summary": result.summary,
        "notes": list(result.notes),
        **extra,
    }
    if table:
        document["table"] = result.table.to_dict(orient="records")
    print(json_text(document), file=args.stdout)
    return True
