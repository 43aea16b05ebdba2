"""A 16-trial sweep of small configs on the MSFT sample: 2 concurrent trials vs 1.

    python bench/sweep.py [--rounds 1] [--trials 16]

Runs `python main.py sweep --config configs/best.yaml --space bench/space.yaml` as
  A. --cpus-per-trial 1: two trials at once on the 2 cores, one thread each;
  B. --cpus-per-trial 2: one trial at a time with two threads;
alternating A B A B …, and reports the wall time of each, the ratio B / A within each round,
the share of trials ASHA stopped early, and whether the sweep's best config beat
configs/best.yaml (its trial 1) on the validation objective and then on test (best.yaml's
own test rmse_ratio from a `train` of it here). Writes bench/SWEEP.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def environment() -> dict[str, str]:
    return {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_sweep(trials: int, cpus: int, out: Path) -> tuple[float, dict, pd.DataFrame]:
    started = time.perf_counter()
    subprocess.run(
        [
            PYTHON,
            "main.py",
            "sweep",
            "--config",
            "configs/best.yaml",
            "--space",
            "bench/space.yaml",
            "--trials",
            str(trials),
            "--cpus-per-trial",
            str(cpus),
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=environment(),
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    return (seconds, json.loads((out / "sweep.json").read_text()), pd.read_csv(out / "trials.csv"))


def best_yaml_test_ratio(out: Path) -> float:
    subprocess.run(
        [PYTHON, "main.py", "train", "--config", "configs/best.yaml", "--out", str(out)],
        cwd=ROOT,
        env=environment(),
        check=True,
        capture_output=True,
    )
    return json.loads((out / "metrics.json").read_text())["rmse_ratio"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        reference = best_yaml_test_ratio(scratch_path / "best-yaml")
        for round_number in range(1, args.rounds + 1):
            row = {"round": round_number}
            for label, cpus in (("two", 1), ("one", 2)):
                seconds, summary, trials = run_sweep(
                    args.trials, cpus, scratch_path / f"{label}-{round_number}"
                )
                row[label] = seconds
                row[f"{label}_summary"] = summary
                row[f"{label}_trials"] = trials
                print(
                    f"round {round_number}, {label} at a time: {seconds:.1f} s, stopped "
                    f"early {summary['stopped_early']}/{summary['trials']}, best trial "
                    f"{summary['best_trial']} {summary['best_objective']:.4f}, test "
                    f"{summary['test']['rmse_ratio']:.4f}",
                    flush=True,
                )
            rows.append(row)
    write_report(rows, reference, args.trials)


def write_report(rows: list[dict], reference: float, trials: int) -> None:
    lines = [
        "# sweep on Ray Tune: 2 concurrent trials vs 1 (bench/sweep.py)",
        "",
        f"{dt.date.today()}, 2 cores, `configs/best.yaml` with `bench/space.yaml` "
        f"(7 parameters), {trials} trials per sweep, one validation block (MASE, the "
        f"last fifth of the training rows), ASHA (grace 10 epochs, keep the best third "
        f"per rung), Optuna TPE seeded by train.seed.",
        "",
        "| round | trials at once | wall (s) | completed | stopped early by ASHA | "
        "failed | best trial | best validation MASE | naive's | best.yaml's (trial 1) "
        "| best's test rmse_ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        for label, count in (("two", 2), ("one", 1)):
            summary = row[f"{label}_summary"]
            lines.append(
                f"| {row['round']} | {count} | {row[label]:.1f} | {summary['completed']} | "
                f"{summary['stopped_early']} | {summary['failed']} | {summary['best_trial']} | "
                f"{summary['best_objective']:.4f} | {summary['best_naive_objective']:.4f} | "
                f"{summary['given_config_objective']:.4f} | "
                f"{summary['test']['rmse_ratio']:.4f} |"
            )
    ratios = [row["one"] / row["two"] for row in rows]
    stopped = [
        row[f"{label}_summary"]["stopped_early"] / row[f"{label}_summary"]["trials"]
        for row in rows
        for label in ("two", "one")
    ]
    lines += [
        "",
        f"Two trials at once were {statistics.median(ratios):.2f}× as fast as one "
        f"at a time with two threads (per round: "
        f"{', '.join(f'{ratio:.2f}×' for ratio in ratios)}). ASHA stopped "
        f"{statistics.median(stopped):.0%} of the trials early (median over sweeps).",
        f"configs/best.yaml trained as is scores test rmse_ratio {reference:.4f}.",
    ]
    (ROOT / "bench" / "SWEEP.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
