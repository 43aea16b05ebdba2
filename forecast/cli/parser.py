"""The command line's grammar: one builder per subcommand. A flag error (unknown flag, bad
value, missing argument) is one line on stderr and exit 2, like every other bad input."""

from __future__ import annotations

import argparse
from pathlib import Path

from forecast.base.bands import BAND_METHODS
from forecast.base.names import program_name
from forecast.cli import options
from forecast.errors import UserError


class FlagError(UserError):
    """A flag the parser refused (argparse's own message, as one line)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a refused flag raises FlagError (one line, exit 2) instead of printing
    the usage and exiting itself."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise FlagError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> Parser:
    parser = Parser(
        prog=program_name(),
        description="LSTM stock-price forecaster. With no command, trains the default config "
        "(forecast/configs/default.yaml) on the shipped MSFT sample.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for build in (
        _train,
        _evaluate,
        _forecast,
        _score,
        _update,
        _explain,
        _summary,
        _backtest,
        _compare,
        _batch,
        _sweep,
        _config,
        _completion,
    ):
        build(commands)
    return parser


class _Version(argparse.Action):
    """--version: one unwrapped line on stdout, exit 0 (argparse's own wraps it)."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    """``forecast 0.1.0 (Python 3.11.2; keras …, tensorflow …)``: the versions a bug report
    needs, read from the installed packages' metadata (no TensorFlow import)."""
    import platform
    from importlib import metadata

    import forecast

    parts = []
    for label, packages in (
        ("keras", ("keras",)),
        ("tensorflow", ("tensorflow-cpu", "tensorflow")),
        ("numpy", ("numpy",)),
        ("pandas", ("pandas",)),
    ):
        for package in packages:
            try:
                parts.append(f"{label} {metadata.version(package)}")
                break
            except metadata.PackageNotFoundError:
                continue
    python = platform.python_version()
    return f"forecast {forecast.__version__} (Python {python}; {', '.join(parts)})"


# --- one builder per subcommand ---------------------------------------------------------------


def _train(commands) -> None:
    train = commands.add_parser("train", help="train a model and write a run folder")
    options.config_options(train)
    train.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="DIR",
        help="continue an interrupted run in DIR from its last finished epoch",
    )
    options.tickers(
        train,
        "with --set model.scope=global: one network for these tickers, e.g. AAPL,MSFT,NVDA "
        "(from the config's source: a long CSV, a folder of TICKER.csv, Yahoo)",
    )
    options.json_output(train)


def _evaluate(commands) -> None:
    evaluate = commands.add_parser("evaluate", help="reload a run folder and recompute its metrics")
    options.run_folder(evaluate, "to evaluate")
    options.json_output(evaluate)


def _forecast(commands) -> None:
    forecast = commands.add_parser(
        "forecast",
        help="forecast the next bars (trading days, hours, months…) from a run, with "
        "uncertainty bands",
    )
    options.run_folder(forecast, "to use")
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
    options.newer_bars(
        forecast, "CSV of newer prices (the run's date/price/feature columns) to start from"
    )
    forecast.add_argument(
        "--band-method",
        "--intervals",
        dest="band_method",
        choices=BAND_METHODS,
        default=None,
        help="band method for this forecast (default: the run's forecast.band_method); "
        "--intervals is the older name",
    )


def _score(commands) -> None:
    score = commands.add_parser(
        "score",
        help="match the run's journalled forecasts with the bars that came: the live record "
        "(live.csv/json/png)",
    )
    options.run_folder(score, "to score")
    options.newer_bars(score, "CSV with the bars that came")
    options.json_output(score)


def _update(commands) -> None:
    update = commands.add_parser(
        "update",
        help="bring a run up to its newest bars without a full retrain, into a new run folder",
    )
    options.run_folder(update, "to update")
    options.newer_bars(update, "CSV continuing the run's bars")
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
    update.add_argument(
        "--forecast",
        type=int,
        default=None,
        metavar="N",
        help="then score the record the new folder carries and forecast N bars: the nightly "
        "step in one command",
    )


def _explain(commands) -> None:
    explain = commands.add_parser(
        "explain", help="plot the gates of one test window's prediction (NumPy reference)"
    )
    options.run_folder(explain, "to explain")
    explain.add_argument(
        "--date",
        default=None,
        help="last input bar of the test window, YYYY-MM-DD or YYYY-MM-DD HH:MM (default: the "
        "last window)",
    )
    explain.add_argument(
        "--layer", type=int, default=0, help="recurrent layer to show, 0 = first (default 0)"
    )


def _summary(commands) -> None:
    summary = commands.add_parser(
        "summary", help="parameter counts per layer with their formulas (no training)"
    )
    options.config_source(summary, "override a config key (repeatable)")


def _backtest(commands) -> None:
    backtest = commands.add_parser(
        "backtest",
        help="walk-forward backtest against naive, drift and moving-average baselines",
    )
    options.config_options(backtest)
    backtest.add_argument("--folds", type=int, default=5, help="expanding-window folds (5)")
    backtest.add_argument(
        "--samples",
        type=int,
        default=0,
        help="MC-dropout samples per day for band coverage (0: off)",
    )
    options.json_output(backtest)


def _compare(commands) -> None:
    compare = commands.add_parser(
        "compare",
        help="backtest several model families on the same folds; with --tickers, the global "
        "model beside one network per ticker",
    )
    options.config_options(compare)
    compare.add_argument(
        "--models",
        default=None,
        help="comma-separated families (lstm,gru,simple_rnn,mlp,lstm_direct; default "
        "lstm,gru,simple_rnn,mlp; lstm_direct: 20 outputs, one per bar ahead)",
    )
    compare.add_argument(
        "--folds",
        type=int,
        default=None,
        help="expanding-window folds (5; with --tickers 1: one test period)",
    )
    options.tickers(
        compare,
        "compare the config's model fitted once across these tickers (global) and once per "
        "ticker (local), on the same dates and test bars, e.g. AAPL,MSFT,NVDA",
    )
    compare.add_argument(
        "--ray",
        action="store_true",
        help="with --tickers and --folds K: run the K folds at once as Ray tasks (on this "
        "machine's cores, or --address's cluster)",
    )
    options.address(compare)
    compare.add_argument(
        "--cpus-per-task",
        type=int,
        default=1,
        help="with --ray: CPUs per fold; TensorFlow's threads follow (1)",
    )
    options.json_output(compare)


def _batch(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="train many tickers (on this machine's cores or a Ray cluster) and rank them in "
        "a leaderboard with Benjamini-Hochberg q-values",
    )
    options.config_source(batch, "override a config key (repeatable)")
    options.address(batch)
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
        help="the nightly step over batch folder DIR: update every ticker's run with its "
        "newest bars, forecast (--forecast N), score",
    )
    options.json_output(batch)


def _sweep(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="search hyperparameters (Ray Tune, Optuna TPE, ASHA) on validation rows, then "
        "retrain the best config and score it once on the test rows",
    )
    options.config_source(sweep, "override a config key (repeatable)")
    options.address(sweep)
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
        help="score each trial by the mean MASE of K walk-forward folds inside the training "
        "rows (0: one validation block, per epoch)",
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
        help="trials at once (default: as many as the CPUs allow; 1 makes the search order "
        "reproducible)",
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out (interrupted or killed) without redoing the trials "
        "its trials.jsonl lists",
    )


def _config(commands) -> None:
    config = commands.add_parser(
        "config",
        help="print the fully resolved config (defaults, --config, --set) as YAML, without "
        "training",
    )
    options.config_source(config, "override a config key (repeatable)")


def _completion(commands) -> None:
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh or tcsh), e.g. forecast completion "
        "bash > ~/.local/share/bash-completion/completions/forecast",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")


SHELLS = ("bash", "zsh", "tcsh")
