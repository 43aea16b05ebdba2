"""Command-line glue: parse arguments, load the config, call a command function, print.

Nothing here imports TensorFlow at module level, so ``--help`` and config errors are instant.
User errors print one line on stderr and exit 2; unexpected failures exit 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from forecast.errors import SweepInterrupted, TrainingInterrupted, UserError


def _config_options() -> argparse.ArgumentParser:
    """Options shared by the commands that start from a config."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML config file, or a shipped config by name: default, quick, "
        "best, yahoo (default: default)",
    )
    options.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.epochs=5 (repeatable)",
    )
    options.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder to write (default: output.runs_dir/TIME-TICKER…)",
    )
    options.add_argument(
        "--overwrite",
        action="store_true",
        help="allow --out to name a folder that already holds results",
    )
    options.add_argument(
        "--refresh",
        action="store_true",
        help="download Yahoo Finance prices again instead of using the cache",
    )
    return options


def _source_options() -> argparse.ArgumentParser:
    """--config and --set alone (commands that write no single run folder)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--config",
        type=Path,
        default=None,
        help="YAML config file, or a shipped config by name: default, quick, "
        "best, yahoo (default: default)",
    )
    options.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    return options


def _ray_options() -> argparse.ArgumentParser:
    """Where the distributed commands run."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--address",
        default=None,
        help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001 "
        "(default: a local Ray instance on this machine's cores)",
    )
    return options


def program_name() -> str:
    """How the user called us: ``python main.py``, ``forecast`` or ``python -m forecast``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "forecast"
    if name == "main.py":
        return "python main.py"
    return "python -m forecast" if name == "__main__.py" else "forecast"


def add_newer_bars(command: argparse.ArgumentParser, data_help: str) -> None:
    """--data FILE or --refresh: where the bars that came since the run are read from."""
    newer = command.add_mutually_exclusive_group()
    newer.add_argument(
        "--data", type=Path, default=None, help=f"{data_help} (default: the run's source again)"
    )
    newer.add_argument(
        "--refresh", action="store_true", help="download the run's Yahoo Finance bars again first"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=program_name(),
        description="LSTM stock-price forecaster. With no command, trains the default config "
        "(forecast/configs/default.yaml) on the shipped MSFT sample.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    shared = _config_options()

    train = commands.add_parser(
        "train", parents=[shared], help="train a model and write a run folder"
    )
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="DIR",
        help="continue an interrupted run in DIR from its last finished epoch",
    )

    evaluate = commands.add_parser("evaluate", help="reload a run folder and recompute its metrics")
    evaluate.add_argument("--run", type=Path, required=True, help="run folder to evaluate")

    forecast = commands.add_parser(
        "forecast",
        help="forecast the next bars (trading days, hours, months…) from a run, "
        "with uncertainty bands",
    )
    forecast.add_argument("--run", type=Path, required=True, help="run folder to use")
    forecast.add_argument(
        "--steps",
        "--days",
        dest="steps",
        type=int,
        default=30,
        help="bars ahead, in the data's own interval (30); --days is the older name",
    )
    forecast.add_argument(
        "--samples", type=int, default=100, help="Monte-Carlo dropout samples (100)"
    )
    forecast.add_argument(
        "--data",
        type=Path,
        default=None,
        help="CSV of newer prices (the run's date/price/feature columns) to "
        "start from instead of the run's own",
    )
    forecast.add_argument(
        "--refresh",
        action="store_true",
        help="start from the run's source read again (Yahoo: downloaded "
        "again), its newest bar the origin",
    )
    forecast.add_argument(
        "--intervals",
        choices=("conformal", "mc_dropout", "none"),
        default=None,
        help="band method for this forecast (default: the run's forecast.intervals)",
    )

    score = commands.add_parser(
        "score",
        help="match the run's journalled forecasts with the bars that came: the "
        "live record (live.csv/json/png)",
    )
    score.add_argument("--run", type=Path, required=True, help="run folder to score")
    add_newer_bars(score, "CSV with the bars that came")

    update = commands.add_parser(
        "update",
        help="bring a run up to its newest bars without a full retrain, into a new run folder",
    )
    update.add_argument("--run", type=Path, required=True, help="run folder to update")
    add_newer_bars(update, "CSV continuing the run's bars")
    update.add_argument(
        "--epochs", type=int, default=None, help="warm-start epochs (default: train.update_epochs)"
    )
    update.add_argument(
        "--refit",
        action="store_true",
        help="train from scratch with a new scaler instead of a warm start",
    )
    update.add_argument(
        "--out",
        type=Path,
        default=None,
        help="new run folder (default: output.runs_dir/TIME-TICKER)",
    )

    explain = commands.add_parser(
        "explain", help="plot the gates of one test window's prediction (NumPy reference)"
    )
    explain.add_argument("--run", type=Path, required=True, help="run folder to explain")
    explain.add_argument(
        "--date",
        default=None,
        help="last input bar of the test window, YYYY-MM-DD or YYYY-MM-DD "
        "HH:MM (default: the last window)",
    )
    explain.add_argument(
        "--layer", type=int, default=0, help="recurrent layer to show, 0 = first (default 0)"
    )

    source, ray_options = _source_options(), _ray_options()
    commands.add_parser(
        "summary",
        parents=[source],
        help="parameter counts per layer with their formulas (no training)",
    )

    backtest = commands.add_parser(
        "backtest",
        parents=[shared],
        help="walk-forward backtest against naive, drift and moving-average baselines",
    )
    backtest.add_argument("--folds", type=int, default=5, help="expanding-window folds (5)")
    backtest.add_argument(
        "--samples",
        type=int,
        default=0,
        help="MC-dropout samples per day for band coverage (0: off)",
    )

    compare = commands.add_parser(
        "compare", parents=[shared], help="backtest several model families on the same folds"
    )
    compare.add_argument(
        "--models",
        default="lstm,gru,simple_rnn,mlp",
        help="comma-separated families (lstm,gru,simple_rnn,mlp,lstm_direct;"
        " lstm_direct: 20 outputs, one per bar ahead)",
    )
    compare.add_argument("--folds", type=int, default=5, help="expanding-window folds (5)")

    batch = commands.add_parser(
        "batch",
        parents=[source, ray_options],
        help="train many tickers (on this machine's cores or a Ray cluster) and rank them in "
        "a leaderboard with Benjamini-Hochberg q-values",
    )
    batch.add_argument("--tickers", default=None, help="comma-separated tickers, e.g. MSFT,AAPL")
    batch.add_argument(
        "--tickers-file", type=Path, default=None, help="file with one ticker per line (# comments)"
    )
    batch.add_argument(
        "--forecast",
        type=int,
        default=0,
        metavar="N",
        help="also forecast N bars for each ticker (0: no)",
    )
    batch.add_argument(
        "--backtest",
        type=int,
        default=0,
        metavar="K",
        help="also backtest K walk-forward folds for each ticker (0: no)",
    )
    batch.add_argument(
        "--out", type=Path, default=None, help="batch folder (default: output.runs_dir/TIME-batch)"
    )
    batch.add_argument(
        "--cpus-per-task",
        type=int,
        default=1,
        help="CPUs per ticker task; TensorFlow's threads follow (1)",
    )
    batch.add_argument(
        "--resume",
        action="store_true",
        help="continue the batch in --out, skipping tickers already complete",
    )
    batch.add_argument(
        "--update",
        type=Path,
        default=None,
        metavar="DIR",
        help="the nightly step over batch folder DIR: update every ticker's "
        "run with its newest bars, forecast (--forecast N), score",
    )

    sweep = commands.add_parser(
        "sweep",
        parents=[source, ray_options],
        help="search hyperparameters (Ray Tune, Optuna TPE, ASHA) on validation rows, then "
        "retrain the best config and score it once on the test rows",
    )
    sweep.add_argument(
        "--space",
        type=Path,
        required=True,
        help="search space YAML: dotted config keys to distributions (see configs/space.yaml)",
    )
    sweep.add_argument("--trials", type=int, default=16, help="trials to run (16)")
    sweep.add_argument(
        "--folds",
        type=int,
        default=0,
        help="score each trial by the mean MASE of K walk-forward folds inside "
        "the training rows (0: one validation block, per epoch)",
    )
    sweep.add_argument(
        "--out", type=Path, default=None, help="sweep folder (default: output.runs_dir/TIME-sweep)"
    )
    sweep.add_argument(
        "--cpus-per-trial",
        type=int,
        default=1,
        help="CPUs per trial; TensorFlow's threads follow (1)",
    )
    sweep.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="trials at once (default: as many as the CPUs allow; 1 makes "
        "the search order reproducible)",
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted sweep in --out without redoing "
        "finished trials (its state must carry your signature)",
    )
    sweep.add_argument(
        "--trust",
        action="store_true",
        help="with --resume: continue a sweep folder your forecast did not "
        "sign (made by an older version, or killed before it signed); "
        "only one you made yourself",
    )
    return parser


def _load(args: argparse.Namespace):
    from forecast.config import config_path, load_config

    return load_config(config_path(args.config), args.overrides)


def command_train(args: argparse.Namespace) -> int:
    from forecast.report.text import format_metrics_table

    if args.resume is not None:
        if args.config is not None or args.overrides or args.out is not None:
            raise UserError(
                "--resume DIR continues a run with its own config.yaml; "
                "drop --config, --set and --out"
            )
        from forecast.commands.train import resume

        outcome = resume(args.resume)
    else:
        config = _load(args)
        from forecast.commands.train import train

        outcome = train(config, out=args.out, refresh=args.refresh, overwrite=args.overwrite)
    print()
    print(format_metrics_table(outcome.metrics).replace("RUN/", f"{outcome.run_dir}/"))
    from forecast.commands.common import bar_words

    print(
        f"epochs run: {outcome.metrics['epochs_run']}, test set: "
        f"{bar_words(outcome.config, outcome.metrics['n_test'])}"
    )
    print(f"run folder: {outcome.run_dir}")
    return 0


def command_forecast(args: argparse.Namespace) -> int:
    from forecast.commands.forecast import forecast

    frame = forecast(
        args.run,
        steps=args.steps,
        samples=args.samples,
        data_path=args.data,
        intervals=args.intervals,
        refresh=args.refresh,
    )
    print(frame.to_string(index=False, float_format=lambda value: f"{value:.2f}"))
    print(
        f"wrote {args.run / 'forecast.csv'}, {args.run / 'forecast.png'}, "
        f"{args.run / 'report.html'}"
    )
    return 0


def command_score(args: argparse.Namespace) -> int:
    from forecast.commands.score import score

    record = score(args.run, data_path=args.data, refresh=args.refresh)
    for part in record.summary["horizons"][:5]:
        coverage = "-" if part.get("coverage95") is None else f"{part['coverage95']:.1%}"
        print(
            f"h={part['horizon']:<3} n={part['n']:<5} rmse_ratio {part['rmse_ratio']:.3f}  "
            f"95 % band covered {coverage}"
        )
    print(f"wrote {args.run / 'live.csv'}, {args.run / 'live.json'}, {args.run / 'live.png'}")
    print(record.verdict)
    return 0


def command_update(args: argparse.Namespace) -> int:
    from forecast.commands.update import update

    outcome = update(
        args.run,
        data_path=args.data,
        refresh=args.refresh,
        epochs=args.epochs,
        refit=args.refit,
        out=args.out,
    )
    print(f"run folder: {outcome.run_dir} (updated from {args.run})")
    return 0


def command_explain(args: argparse.Namespace) -> int:
    from forecast.commands.explain import explain

    result = explain(args.run, date=args.date, layer=args.layer)
    from forecast.data.interval import stamp_text

    print(
        f"window ending {stamp_text(result.date)}: predicted {result.predicted:.2f}, "
        f"actual next close {result.actual:.2f}"
    )
    print(
        result.means.drop(columns=["step"])
        .tail(5)
        .to_string(index=False, float_format=lambda value: f"{value:.3f}")
    )
    print(f"wrote {result.png} and {result.csv}")
    return 0


def command_summary(args: argparse.Namespace) -> int:
    config = _load(args)
    from forecast.model.params import format_parameter_table, parameter_table

    print(format_parameter_table(parameter_table(config)))
    return 0


def command_backtest(args: argparse.Namespace) -> int:
    config = _load(args)
    from forecast.commands.backtest import backtest
    from forecast.evaluation.scoring import backtest_verdict
    from forecast.report.text import format_backtest_table, format_band_table

    folder, result = backtest(
        config,
        folds=args.folds,
        samples=args.samples,
        out=args.out,
        refresh=args.refresh,
        overwrite=args.overwrite,
    )
    print()
    print(format_backtest_table(result.table))
    if result.bands is not None:
        print()
        print(format_band_table(result.bands))
    print(f"folder: {folder}")
    print(backtest_verdict(result.summary))
    return 0


def command_compare(args: argparse.Namespace) -> int:
    config = _load(args)
    from forecast.commands.compare import compare

    families = tuple(name.strip() for name in args.models.split(",") if name.strip())
    folder, table, summary = compare(
        config,
        families,
        folds=args.folds,
        out=args.out,
        refresh=args.refresh,
        overwrite=args.overwrite,
    )
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
    print(
        table[columns].to_string(index=False, na_rep="-", float_format=lambda value: f"{value:.4f}")
    )
    print(f"folder: {folder}")
    from forecast.evaluation.compare import compare_verdict

    print(compare_verdict(summary))
    return 0


def command_batch(args: argparse.Namespace) -> int:
    from forecast.scaleout.batch import read_tickers, run_batch, update_batch

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
                f"--update DIR works on the batch in DIR with its own config and "
                f"tickers; drop {', '.join(given)}"
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
        config = _load(args)
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
    print(
        result.leaderboard[columns].to_string(
            index=False, na_rep="-", float_format=lambda value: f"{value:.4f}"
        )
    )
    for _, row in result.leaderboard[result.leaderboard["status"] == "error"].iterrows():
        print(f"{row['ticker']}: {row['message']}")
    print(f"folder: {result.folder}")
    print(result.verdict)
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    from forecast.scaleout.sweep import run_sweep

    config = _load(args)
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
        trust=args.trust,
    )
    failed = result.trials[result.trials["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"trial {row['trial']} failed: {row['message']}")
    print(f"folder: {result.folder}")
    for line in result.lines:
        print(line)
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    from forecast.commands.evaluate import evaluate
    from forecast.evaluation.metrics import METRIC_KEYS
    from forecast.report.text import format_metrics_table
    from forecast.store.runs import read_json

    evaluation = evaluate(args.run)
    stored = read_json(args.run / "metrics.json")
    print(format_metrics_table(evaluation))
    same = all(evaluation[key] == stored[key] for key in METRIC_KEYS if key in stored)
    print(
        f"wrote {args.run / 'evaluation.json'}; "
        f"{'matches' if same else 'DIFFERS FROM'} metrics.json"
    )
    return 0


def entry_point() -> None:
    """The command line (main.py, ``forecast``, ``python -m forecast``): run ``main``, then
    leave without Python's interpreter teardown, which spends 0.1-0.2 s freeing pandas and
    matplotlib after a command that has written, closed and flushed everything."""
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["train"])
    logging.basicConfig(level=logging.INFO, format="forecast: %(message)s", stream=sys.stderr)
    handlers = {
        "train": command_train,
        "evaluate": command_evaluate,
        "forecast": command_forecast,
        "backtest": command_backtest,
        "explain": command_explain,
        "summary": command_summary,
        "compare": command_compare,
        "batch": command_batch,
        "score": command_score,
        "update": command_update,
        "sweep": command_sweep,
    }
    try:
        return handlers[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (TrainingInterrupted, SweepInterrupted) as interrupted:
        print(f"{interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
