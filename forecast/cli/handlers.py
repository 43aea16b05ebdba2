"""What each command prints: the command function's Result, as a table and its verdict."""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.cli.common import load, numbers, printed_json
from forecast.cli.tickers import (
    compare_scopes_command,
    print_leaderboard,
    train_tickers,
    update_global_command,
)
from forecast.errors import UserError


def command_train(args: argparse.Namespace) -> int:
    from forecast.commands.common import bar_words
    from forecast.report.text import format_metrics_table

    if args.tickers is not None or args.tickers_file is not None:
        return train_tickers(args)
    if args.resume is not None:
        if args.config is not None or args.overrides or args.out is not None:
            raise UserError(
                "--resume DIR continues a run with its own config.yaml; drop --config, --set "
                "and --out"
            )
        from forecast.commands.train import resume

        result = resume(args.resume)
    else:
        config = load(args)
        from forecast.commands.train import train

        result = train(config, out=args.out, refresh=args.refresh, overwrite=args.overwrite)
    if printed_json(args, result):
        return 0
    print()
    print(format_metrics_table(result.summary).replace("RUN/", f"{result.folder}/"))
    print(
        f"epochs run: {result.summary['epochs_run']}, test set: "
        f"{bar_words(result.config, result.summary['n_test'])}"
    )
    print(f"run folder: {result.folder}")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from forecast.commands.evaluate import evaluate
    from forecast.report.text import format_metrics_table

    result = evaluate(args.run)
    if printed_json(args, result, matches=bool(result.detail["matches"])):
        return 0
    print(format_metrics_table(result.summary))
    matches = "matches" if result.detail["matches"] else "DIFFERS FROM"
    print(f"wrote {args.run / 'evaluation.json'}; {matches} metrics.json")
    return 0


def command_forecast(args: argparse.Namespace) -> int:
    from forecast.commands.forecast import forecast

    result = forecast(
        args.run,
        steps=args.steps,
        samples=args.samples,
        data_path=args.data,
        band_method=args.band_method,
        refresh=args.refresh,
    )
    print(result.table.to_string(index=False, float_format=numbers(2)))
    where = args.run / "runs" / "TICKER" if "ticker" in result.table else args.run
    print(f"wrote {where / 'forecast.csv'}, {where / 'forecast.png'}, {where / 'report.html'}")
    return 0


def command_score(args: argparse.Namespace) -> int:
    from forecast.commands.score import score

    result = score(args.run, data_path=args.data, refresh=args.refresh)
    if printed_json(args, result):
        return 0
    if "pooled" in result.summary:  # a global run: each ticker's verdict, then pooled
        for ticker, each in result.detail.items():
            print(f"{ticker}: {each.verdict}")
        print(result.summary["pooled"]["verdict"])
        return 0
    for part in result.summary["horizons"][:5]:
        coverage = "-" if part.get("coverage95") is None else f"{part['coverage95']:.1%}"
        print(
            f"h={part['horizon']:<3} n={part['n']:<5} rmse_ratio {part['rmse_ratio']:.3f}  "
            f"95 % band covered {coverage}"
        )
    print(f"wrote {args.run / 'live.csv'}, {args.run / 'live.json'}, {args.run / 'live.png'}")
    print(result.verdict)
    return 0


def command_update(args: argparse.Namespace) -> int:
    from forecast.commands.update import update
    from forecast.store.runs import is_global_run

    if is_global_run(args.run):
        folder = update_global_command(args)
    else:
        folder = update(
            args.run,
            data_path=args.data,
            refresh=args.refresh,
            epochs=args.epochs,
            refit=args.refit,
            out=args.out,
        ).folder
        print(f"run folder: {folder} (updated from {args.run})")
    if args.forecast is not None:
        from forecast.commands.nightly import score_and_forecast

        _, made = score_and_forecast(folder, args.forecast)
        print(f"forecast {args.forecast} bar(s): {made.verdict}")
    return 0


def command_explain(args: argparse.Namespace) -> int:
    from forecast.commands.explain import explain

    result = explain(args.run, date=args.date, layer=args.layer)
    print(result.verdict)
    print(
        result.table.drop(columns=["step"]).tail(5).to_string(index=False, float_format=numbers(3))
    )
    print(f"wrote {result.files['png']} and {result.files['csv']}")
    return 0


def command_summary(args: argparse.Namespace) -> int:
    config = load(args)
    from forecast.model.params import format_parameter_table, parameter_table

    print(format_parameter_table(parameter_table(config)))
    return 0


def command_backtest(args: argparse.Namespace) -> int:
    config = load(args)
    from forecast.commands.backtest import backtest
    from forecast.report.text import format_backtest_table, format_band_table

    result = backtest(
        config,
        folds=args.folds,
        samples=args.samples,
        out=args.out,
        refresh=args.refresh,
        overwrite=args.overwrite,
    )
    if printed_json(args, result, table=True):
        return 0
    print()
    print(format_backtest_table(result.table))
    if result.detail.bands is not None:
        print()
        print(format_band_table(result.detail.bands))
    print(f"folder: {result.folder}")
    print(result.verdict)
    return 0


def command_compare(args: argparse.Namespace) -> int:
    if args.tickers is not None or args.tickers_file is not None:
        return compare_scopes_command(args)
    if args.ray or args.address is not None:
        raise UserError(
            "compare --ray runs the folds of a watch list's comparison at once; give "
            "--tickers A,B,C (or --tickers-file) with --folds K, or drop --ray and --address"
        )
    config = load(args)
    from forecast.commands.compare import compare

    models = "lstm,gru,simple_rnn,mlp" if args.models is None else args.models
    families = tuple(name.strip() for name in models.split(",") if name.strip())
    result = compare(
        config,
        families,
        folds=5 if args.folds is None else args.folds,
        out=args.out,
        refresh=args.refresh,
        overwrite=args.overwrite,
    )
    if printed_json(args, result, table=True):
        return 0
    table = result.table
    print()
    columns = [
        "method",
        "rmse",
        "mae",
        "mape",
        "mase",
        "rmse_ratio",
        "dm_p_value",
        "directional_accuracy",
        "timing_p_value",
        *[name for name in ("rmse_ratio_h5", "rmse_ratio_h20") if name in table],
    ]
    print(table[columns].to_string(index=False, na_rep="-", float_format=numbers(4)))
    print(f"folder: {result.folder}")
    print(result.verdict)
    return 0


def command_batch(args: argparse.Namespace) -> int:
    from forecast.data.tickers import read_tickers
    from forecast.scaleout.batch import run_batch, update_batch

    if args.update is not None:
        given = [
            flag
            for flag, value in (
                ("--tickers", args.tickers),
                ("--tickers-file", args.tickers_file),
                ("--config", args.config),
                ("--set", args.overrides),
                ("--out", args.out),
                ("--resume", args.resume),
                ("--backtest", args.backtest),
            )
            if value
        ]
        if given:
            raise UserError(
                f"--update DIR works on the batch in DIR with its own config and tickers; drop "
                f"{', '.join(given)}"
            )
        result = update_batch(
            args.update,
            forecast_steps=args.forecast,
            cpus_per_task=args.cpus_per_task,
            address=args.address,
        )
        columns = [
            "ticker",
            "status",
            "live_n",
            "live_rmse_ratio",
            "live_dm_p_value",
            "live_dm_q_value",
            "live_coverage95",
        ]
    else:
        tickers = read_tickers(args.tickers, args.tickers_file)
        config = load(args)
        if args.resume and args.out is None:
            raise UserError("--resume needs --out DIR, the batch folder to continue")
        result = run_batch(
            config,
            tickers,
            out=args.out,
            forecast_steps=args.forecast,
            backtest_folds=args.backtest,
            cpus_per_task=args.cpus_per_task,
            address=args.address,
            resume=args.resume,
        )
        columns = [
            "ticker",
            "status",
            "rmse_ratio",
            "dm_p_value",
            "dm_q_value",
            "directional_accuracy",
            "timing_q_value",
        ]
    if printed_json(args, result, table=True):
        return 0
    return print_leaderboard(result, columns)


def command_sweep(args: argparse.Namespace) -> int:
    from forecast.scaleout.sweep import run_sweep

    config = load(args)
    if args.resume and args.out is None:
        raise UserError("--resume needs --out DIR, the sweep folder to continue")
    result = run_sweep(
        config,
        args.space,
        trials=args.trials,
        folds=args.folds,
        out=args.out,
        address=args.address,
        cpus_per_trial=args.cpus_per_trial,
        max_concurrent=args.max_concurrent,
        resume=args.resume,
    )
    failed = result.table[result.table["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"trial {row['trial']} failed: {row['message']}")
    print(f"folder: {result.folder}")
    for line in result.summary["lines"]:
        print(line)
    return 0


def command_config(args: argparse.Namespace) -> int:
    import yaml

    from forecast.config import config_to_dict

    config = load(args)
    print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
    return 0


def command_completion(args: argparse.Namespace) -> int:
    print(completion_script(args.shell))
    return 0


def completion_script(shell: str) -> str:
    """The shell's completion script for the installed ``forecast`` command: subcommands,
    flags, choices, and file or folder names where a flag takes a path."""
    import shtab

    from forecast.cli.parser import build_parser

    parser = build_parser()
    parser.prog = "forecast"  # completion is for the console script, whatever ran this
    folders = {"run", "out", "resume", "update"}
    for action in _all_actions(parser):
        if action.type is Path:
            action.complete = shtab.DIRECTORY if action.dest in folders else shtab.FILE
    return shtab.complete(parser, shell=shell)


def _all_actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_actions(child)


HANDLERS = {
    "train": command_train,
    "evaluate": command_evaluate,
    "forecast": command_forecast,
    "score": command_score,
    "update": command_update,
    "explain": command_explain,
    "summary": command_summary,
    "backtest": command_backtest,
    "compare": command_compare,
    "batch": command_batch,
    "sweep": command_sweep,
    "config": command_config,
    "completion": command_completion,
}
