"""Forecast latency and memory, old beside new, interleaved; and forecasting many existing
runs in one process.

    python bench/forecast_speed.py [--rounds 5] [--baseline 2e86c3f] [--run DIR]

- Trains the default config once with the baseline's code (or takes ``--run``), copies the
  run folder twice (the untimed first round calibrates it where the code calibrates on
  first use), and runs ``forecast --run COPY --steps 30`` (conformal bands) alternately
  with the ``--baseline`` commit's code (a git worktree) and this checkout's, and
  ``python -c "import tensorflow"`` beside them (the yardstick the goal is stated in): wall
  time and peak RSS of each process (min / median / max), and the largest relative
  difference between the two forecast.csv files. Both checkouts' modules are compiled to
  bytecode first, as an installed package's are (with PYTHONDONTWRITEBYTECODE set, Python
  would compile this repository's sources in every process).
- Forecasts ``--tickers`` copies of a ``configs/best.yaml`` run folder one after another in
  one process (what a batch worker does after loading): seconds per ticker.

Writes the "Forecast latency" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import update_results  # noqa: E402
from bench.run import (  # noqa: E402
    PYTHON,
    child_environment,
    run_child,
    run_with_peak_memory,
)


def forecast_command(code: Path, run: Path) -> list[str]:
    return [PYTHON, str(code / "main.py"), "forecast", "--run", str(run), "--steps", "30"]


def many_runs(template: Path, folder: Path, count: int) -> float:
    """Seconds per ticker forecasting ``count`` copies of a run in this process."""
    from forecast.commands.forecast import write_forecast
    from forecast.store import runs

    copies = []
    for index in range(count):
        copies.append(folder / f"T{index:03d}")
        shutil.copytree(template, copies[-1])
    runs.load_run(copies[0]).forecaster.predict(30)  # imports and caches, as a warm worker
    started = time.perf_counter()
    for copy in copies:
        run = runs.load_run(copy)
        write_forecast(run, run.forecaster.predict(30))
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--baseline",
        default="2e86c3f",
        help="commit whose forecast command is timed beside this checkout's",
    )
    parser.add_argument(
        "--run",
        type=Path,
        default=None,
        help="a default-config run folder the baseline made (default: the baseline trains one)",
    )
    parser.add_argument("--tickers", type=int, default=40)
    parser.add_argument("--many", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.many is not None:  # the child that forecasts many runs on one thread
        with tempfile.TemporaryDirectory() as scratch:
            print(many_runs(args.many, Path(scratch), args.tickers))
        return
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        old_code = scratch_path / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old_code), args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            template = args.run
            if template is None:  # made by the baseline, which cannot read newer config keys
                template = scratch_path / "default"
                run_child([PYTHON, str(old_code / "main.py"), "train", "--out", str(template)])
            copies = {"old": scratch_path / "old", "new": scratch_path / "new"}
            for copy in copies.values():
                shutil.copytree(template, copy)
            code = {"old": old_code, "new": ROOT}
            for folder in code.values():
                run_child([PYTHON, "-m", "compileall", "-q", str(folder / "forecast")])
            commands = {
                **{name: forecast_command(code[name], copies[name]) for name in copies},
                "tensorflow": [PYTHON, "-c", "import tensorflow"],
            }
            timings: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for round_number in range(args.rounds + 1):  # round 0 warms caches, not timed
                for name, command in commands.items():
                    seconds, peak, _ = run_with_peak_memory(command)
                    if round_number:
                        timings[name].append((seconds, peak))
                        print(
                            f"round {round_number} {name}: {seconds:.2f} s, {peak:.0f} MB",
                            flush=True,
                        )
            frames = {name: pd.read_csv(copy / "forecast.csv") for name, copy in copies.items()}
            columns = [column for column in frames["old"].columns if column != "date"]
            difference = max(
                float(np.max(np.abs(frames["new"][column] / frames["old"][column] - 1)))
                for column in columns
            )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(old_code)],
                cwd=ROOT,
                check=False,
                capture_output=True,
            )
        best = scratch_path / "best"
        run_child([PYTHON, "main.py", "train", "--config", "configs/best.yaml", "--out", str(best)])
        one_thread = {**child_environment(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        result = subprocess.run(
            [
                PYTHON,
                "bench/forecast_speed.py",
                "--many",
                str(best),
                "--tickers",
                str(args.tickers),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=one_thread,
            check=True,
        )
        per_ticker = float(result.stdout.strip().splitlines()[-1])

    def median(name: str, index: int) -> float:
        return statistics.median(value[index] for value in timings[name])

    def spread(name: str) -> str:
        seconds = [value[0] for value in timings[name]]
        return f"{min(seconds):.2f} / {statistics.median(seconds):.2f} / {max(seconds):.2f}"

    def same_round(numerator: str, denominator: str) -> float:
        pairs = zip(timings[numerator], timings[denominator])
        return statistics.median(top[0] / bottom[0] for top, bottom in pairs)

    ratio = same_round("old", "new")
    of_tensorflow = same_round("new", "tensorflow")
    met = median("new", 0) < 1.0 and of_tensorflow <= 0.15 and median("new", 1) <= 250
    body = "\n".join(
        [
            f"Generated by `python bench/forecast_speed.py` on {dt.date.today().isoformat()}: "
            f"`forecast --run DIR --steps 30` (conformal bands) on a default-config run of the "
            f"MSFT sample, {args.rounds} interleaved rounds after a warm-up round, each a fresh "
            f"process, bytecode compiled; baseline: commit {args.baseline}.",
            "",
            "| process | wall s (min / median / max) | peak RSS MB (median) |",
            "|---|---:|---:|",
            f"| forecast, baseline {args.baseline} | {spread('old')} | {median('old', 1):.0f} |",
            f"| forecast, this checkout | {spread('new')} | {median('new', 1):.0f} |",
            f"| `python -c 'import tensorflow'` | {spread('tensorflow')} | "
            f"{median('tensorflow', 1):.0f} |",
            "",
            f"- same-round speed-up (median): **{ratio:.2f}×**; this checkout's forecast takes "
            f"**{of_tensorflow:.2f}×** the TensorFlow import's time (same-round median); goal "
            f"median < 1.0 s, ≤ 0.15× TensorFlow's import and ≤ 250 MB: "
            f"{'met' if met else 'NOT met'}",
            f"- forecast.csv, new vs baseline: largest relative difference {difference:.1e}",
            f"- {args.tickers} existing `configs/best.yaml` run folders forecast 30 bars one after "
            f"another in one warm process (load, forecast, write csv/json/png/html): "
            f"**{per_ticker:.3f} s per ticker** on one core (goal ≤ 0.3 s)",
        ]
    )
    update_results({"## Forecast latency (bench/forecast_speed.py)": body})
    print(body)


if __name__ == "__main__":
    main()
