"""batch on Ray vs one `python main.py train` process per ticker, interleaved.

    python bench/batch.py [--rounds 2] [--tickers 8] [--config configs/best.yaml]

Eight tickers (the shipped MSFT sample's rows under eight names, in one long-format CSV, so
every ticker is the same real-sized work) trained with configs/best.yaml:
  A. `python main.py batch` on this machine's 2 cores (one Ray task per ticker, 1 CPU each);
  B. eight sequential `python main.py train` processes (each pays the TensorFlow import).
Rounds alternate A B A B …; the ratio B / A is taken within each round. Also reported:
tickers per minute, Ray's per-task overhead (wall time of a task beyond its training time),
and the peak memory of a worker (its process's maximum RSS, read inside the task). Writes
bench/BATCH.md.
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

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def long_csv(folder: Path, tickers: list[str]) -> Path:
    import pandas as pd

    sample = pd.read_csv(ROOT / "forecast" / "data" / "sample" / "MSFT.csv")
    frames = [sample.assign(Ticker=ticker) for ticker in tickers]
    path = folder / "tickers.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def environment() -> dict[str, str]:
    return {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_batch(config: str, data: Path, tickers: list[str], out: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    subprocess.run(
        [
            PYTHON,
            "main.py",
            "batch",
            "--tickers",
            ",".join(tickers),
            "--config",
            config,
            "--set",
            "data.source=csv",
            "--set",
            f"data.path={data}",
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
    return seconds, json.loads((out / "batch.json").read_text())


def run_sequential(config: str, data: Path, tickers: list[str], out: Path) -> float:
    started = time.perf_counter()
    for ticker in tickers:
        subprocess.run(
            [
                PYTHON,
                "main.py",
                "train",
                "--config",
                config,
                "--set",
                "data.source=csv",
                "--set",
                f"data.path={data}",
                "--set",
                f"data.ticker={ticker}",
                "--out",
                str(out / ticker),
            ],
            cwd=ROOT,
            env=environment(),
            check=True,
            capture_output=True,
            text=True,
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tickers", type=int, default=8)
    parser.add_argument("--config", default="configs/best.yaml")
    parser.add_argument("--out", default=str(ROOT / "bench" / "BATCH.md"))
    args = parser.parse_args()
    tickers = [f"MSFT{index + 1}" for index in range(args.tickers)]
    rounds = []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        data = long_csv(folder, tickers)
        for round_index in range(args.rounds):
            batch_seconds, record = run_batch(
                args.config, data, tickers, folder / f"batch-{round_index}"
            )
            sequential_seconds = run_sequential(
                args.config, data, tickers, folder / f"seq-{round_index}"
            )
            train_seconds = [
                json.loads(
                    (folder / f"batch-{round_index}" / "runs" / ticker / "run.json").read_text()
                )["train_seconds"]
                for ticker in tickers
            ]
            task_seconds = [record["placement"][ticker]["seconds"] for ticker in tickers]
            pids = {record["placement"][ticker]["worker_pid"] for ticker in tickers}
            peak = max(record["placement"][ticker]["worker_peak_mb"] for ticker in tickers)
            rounds.append(
                {
                    "batch": batch_seconds,
                    "sequential": sequential_seconds,
                    "ratio": sequential_seconds / batch_seconds,
                    "overhead": statistics.median(
                        task - train for task, train in zip(task_seconds, train_seconds)
                    ),
                    "workers": len(pids),
                    "train": statistics.median(train_seconds),
                    "peak_mb": peak,
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
    ratio = statistics.median(item["ratio"] for item in rounds)
    batch = statistics.median(item["batch"] for item in rounds)
    sequential = statistics.median(item["sequential"] for item in rounds)
    lines = [
        "# batch on Ray vs sequential train processes (bench/batch.py)",
        "",
        f"{dt.date.today()}, {os.cpu_count()} cores, `{args.config}`, {args.tickers} tickers "
        f"(the MSFT sample under {args.tickers} names), {args.rounds} interleaved rounds.",
        "",
        "| round | batch (s) | sequential (s) | speed-up | median task overhead (s) | "
        "median training (s) | worker processes | worker peak RSS (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, item in enumerate(rounds, start=1):
        lines.append(
            f"| {index} | {item['batch']:.1f} | {item['sequential']:.1f} | "
            f"{item['ratio']:.2f}× | {item['overhead']:.1f} | {item['train']:.1f} | "
            f"{item['workers']} | {item['peak_mb']:.0f} |"
        )
    lines += [
        "",
        f"Median speed-up {ratio:.2f}× (goal ≥ 1.8×: "
        f"{'met' if ratio >= 1.8 else 'not met'}); batch {60 * args.tickers / batch:.1f} "
        f"tickers per minute, sequential {60 * args.tickers / sequential:.1f}.",
        "Task overhead: a task's wall time beyond its own training (data loading, "
        "TensorFlow's import in a fresh worker, predicting, writing the folder's files, "
        "and Ray's scheduling).",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
