"""What the watch-list commands print: train --tickers, compare --tickers and update on a
global run's folder, each a leaderboard with its error rows, the folder and the verdict."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from forecast.cli.common import load, numbers, printed_json
from forecast.errors import UserError


def train_tickers(args: argparse.Namespace) -> int:
    """train --tickers: one network for the watch list (model.scope global)."""
    from forecast.commands.global_run import train_global
    from forecast.data.tickers import read_tickers

    if args.resume is not None:
        raise UserError("--resume continues one run; drop --tickers and --tickers-file")
    tickers = read_tickers(args.tickers, args.tickers_file, command="train")
    config = load(args)
    result = train_global(
        config, tickers, out=args.out, refresh=args.refresh, overwrite=args.overwrite
    )
    if printed_json(args, result, table=True):
        return 0
    columns = [
        column
        for column in ("ticker", "status", "rmse_ratio", "dm_p_value", "dm_q_value")
        if column in result.table
    ]
    print()
    return print_leaderboard(result, columns)


def print_leaderboard(result, columns: list[str]) -> int:
    """A leaderboard (batch, train --tickers, compare --tickers, update on a global run): its
    columns, each error row's message, the folder and the verdict."""
    table = result.table
    print(table[columns].to_string(index=False, na_rep="-", float_format=numbers(4)))
    for _, row in table[table["status"] == "error"].iterrows():
        print(f"{row['ticker']}: {row['message']}")
    print(f"folder: {result.folder}")
    print(result.verdict)
    return 0


def compare_scopes_command(args: argparse.Namespace) -> int:
    """compare --tickers: the global model beside one network per ticker."""
    from forecast.commands.scopes import compare_scopes
    from forecast.data.tickers import read_tickers

    if args.models is not None:
        raise UserError(
            f"compare --models {args.models} with --tickers: the tickers compare the config's "
            f"model fitted globally and per ticker; drop --models"
        )
    tickers = read_tickers(args.tickers, args.tickers_file, command="compare")
    config = load(args)
    folds = 1 if args.folds is None else args.folds
    on_ray = args.ray or args.address is not None
    if on_ray and (folds < 2 or args.cpus_per_task < 1):
        raise UserError(
            f"compare --ray with --folds {folds} --cpus-per-task {args.cpus_per_task}: Ray "
            f"runs the walk-forward folds at once; give --folds K of 2 or more and "
            f"--cpus-per-task of 1 or more"
        )
    options = {"out": args.out, "refresh": args.refresh, "overwrite": args.overwrite}
    if not on_ray:
        result = compare_scopes(config, tickers, folds=folds, **options)
    else:
        from forecast.scaleout import load_engine

        engine = load_engine("compare --ray")
        with engine.connected(args.address):
            mapper = partial(engine.map_tasks, cpus_per_task=args.cpus_per_task)
            result = compare_scopes(config, tickers, folds=folds, mapper=mapper, **options)
    if printed_json(args, result, table=True):
        return 0
    print()
    scopes = result.detail["scopes"].astype(object)  # the signals have no ticker counts
    print(
        scopes.where(scopes.notna(), "-").to_string(
            index=False, na_rep="-", float_format=numbers(4)
        )
    )
    print()
    columns = ["ticker", "scope", "status", "rmse_ratio", "dm_q_value", "head_to_head_q_value"]
    return print_leaderboard(result, columns)


def update_global_command(args: argparse.Namespace) -> Path:
    """update on a global run's folder: the one network, every ticker's newer bars; the new
    folder."""
    from forecast.commands.global_update import update_global

    if args.refit:
        raise UserError(
            f"--refit on {args.run}: a global run's update warm-starts its one network; to fit "
            f"a new one, run train --tickers again"
        )
    result = update_global(
        args.run, data_path=args.data, refresh=args.refresh, epochs=args.epochs, out=args.out
    )
    columns = ["ticker", "status", "new_bars", "revised_bars"]
    print_leaderboard(result, [column for column in columns if column in result.table])
    return result.folder
