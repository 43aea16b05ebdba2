"""bfloat16 products (``train.precision: bfloat16``) beside float32: speed and accuracy.

    python bench/precision.py [--rounds 2] [--seeds 5]

- Speed: ``bench/throughput.py`` on the reference stack at batch 64, 256 and 1024 for the
  project's path in float32 and in bfloat16, and PyTorch in float32 and under its bf16
  autocast, interleaved, each in a fresh process; same-round ratios.
- Accuracy parity, seeds 1…N at each precision: ``configs/best.yaml`` on the MSFT sample,
  and one global network on a pooled panel (30 seeded tickers × 300 bars whose log returns
  share a reversal term, LSTM(16), lookback 20): the final validation loss and the test
  rmse_ratio (the panel: the median over tickers); each seed's bf16 run beside its float32
  run, against the spread of the float32 runs over seeds.

Writes the "bfloat16 products" section of bench/RESULTS.md. Needs a CPU with AVX512-BF16
(else the bf16 runs train in float32 and the script says so and stops).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.global_model import panel  # noqa: E402
from bench.results import update_results  # noqa: E402
from bench.run import PYTHON, child_environment, cpu_flags  # noqa: E402

BATCHES = (64, 256, 1024)
VARIANTS = {  # name: throughput.py arguments
    "project fp32": ["--engine", "project"],
    "project bf16": ["--engine", "project", "--precision", "bfloat16"],
    "torch fp32": ["--engine", "torch"],
    "torch bf16": ["--engine", "torch", "--precision", "bfloat16"],
}


def speed(rounds: int) -> dict[int, dict[str, list[float]]]:
    """{batch: {variant: [median s/epoch per round]}}, interleaved."""
    times: dict[int, dict[str, list[float]]] = {b: {v: [] for v in VARIANTS} for b in BATCHES}
    for round_number in range(rounds):
        for batch in BATCHES:
            for name, arguments in VARIANTS.items():
                command = [PYTHON, "bench/throughput.py", *arguments]
                command += ["--batch", str(batch), "--epochs", "2"]
                result = subprocess.run(
                    command,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    env=child_environment(),
                    check=True,
                )
                record = json.loads(result.stdout.strip().splitlines()[-1])
                times[batch][name].append(statistics.median(record["epoch_seconds"]))
                print(
                    f"round {round_number + 1} batch {batch} {name}: {times[batch][name][-1]:.2f}"
                )
    return times


def fit_msft(seed: int, precision: str) -> dict:
    from forecast.config import load_config
    from forecast.data.sources import load_prices
    from forecast.evaluation.metrics import rmse_ratio
    from forecast.forecasting.forecaster import Forecaster

    config = load_config(
        "best",
        [f"train.seed={seed}", f"train.precision={precision}", "train.progress=none"],
    )
    fitted = Forecaster(config).fit(load_prices(config.data))
    frame = fitted.predict_test()
    return {
        "val_loss": float(fitted.history_["val_loss"][-1]),
        "rmse_ratio": float(rmse_ratio(frame["actual"], frame["predicted"], frame["naive"])),
    }


def fit_panel(seed: int, precision: str) -> dict:
    from forecast.commands.judging import judge_tickers
    from forecast.config import load_config
    from forecast.forecasting.forecaster import Forecaster

    with tempfile.TemporaryDirectory() as folder:
        config = load_config(
            "quick",
            [
                "data.target=log_return",
                "data.lookback=20",
                "data.start=null",
                "data.calendar=business",
                "model.layers=[{type: lstm, units: 16}]",
                "model.scope=global",
                "train.epochs=15",
                f"train.seed={seed}",
                f"train.precision={precision}",
                "train.progress=none",
                "evaluation.baselines=[]",
                f"output.runs_dir={folder}",
            ],
        )
        fitted = Forecaster(config).fit(panel(30, 300, -0.3, seed=0))
        judged = judge_tickers(fitted)
    return {
        "val_loss": float(fitted.history_["val_loss"][-1]),
        "rmse_ratio": float(np.nanmedian(judged.table["rmse_ratio"])),
    }


def parity(seeds: int) -> dict[str, dict[str, list[dict]]]:
    results: dict[str, dict[str, list[dict]]] = {}
    for name, fit in (("MSFT, configs/best.yaml", fit_msft), ("pooled panel, 30 × 300", fit_panel)):
        results[name] = {"float32": [], "bfloat16": []}
        for seed in range(1, seeds + 1):
            for precision in ("float32", "bfloat16"):
                results[name][precision].append(fit(seed, precision))
                print(f"{name} seed {seed} {precision}: {results[name][precision][-1]}", flush=True)
    return results


def report(times: dict, results: dict, rounds: int, seeds: int) -> str:
    lines = [
        f"Generated by `python bench/precision.py` on {dt.date.today().isoformat()} "
        f"({cpu_flags()}): "
        f"`train.precision: bfloat16` runs the fused LSTM's training products on bf16 operands "
        f"with float32 sums (AVX512-BF16's `vdpbf16ps`), weights, optimizer and predictions in "
        f"float32. Reference stack, {rounds} interleaved rounds, fresh processes, median of 2 "
        f"epochs after a warm-up.",
        "",
        "| batch | project fp32 s/epoch | project bf16 | PyTorch fp32 | PyTorch bf16 autocast | "
        "project bf16 ÷ fp32 | project bf16 ÷ PyTorch bf16 | project fp32 ÷ PyTorch fp32 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(cell: dict, slower: str, faster: str) -> float:
        return statistics.median(a / b for a, b in zip(cell[slower], cell[faster]))

    for batch, cell in times.items():
        medians = {name: statistics.median(values) for name, values in cell.items()}
        lines.append(
            f"| {batch} | {medians['project fp32']:.2f} | {medians['project bf16']:.2f} | "
            f"{medians['torch fp32']:.2f} | {medians['torch bf16']:.2f} | "
            f"{ratio(cell, 'project fp32', 'project bf16'):.2f}× | "
            f"{ratio(cell, 'torch bf16', 'project bf16'):.2f}× | "
            f"{ratio(cell, 'torch fp32', 'project fp32'):.2f}× |"
        )
    lines += ["", f"Accuracy, seeds 1–{seeds} at each precision:", ""]
    lines += [
        "| data | metric | float32 (min – max) | bfloat16 (min – max) | largest bf16 − fp32, "
        "same seed | ÷ the fp32 seeds' spread |",
        "|---|---|---|---|---:|---:|",
    ]
    for name, by_precision in results.items():
        for metric in ("val_loss", "rmse_ratio"):
            single = [run[metric] for run in by_precision["float32"]]
            half = [run[metric] for run in by_precision["bfloat16"]]
            paired = max(abs(h - s) for h, s in zip(half, single))
            spread = max(single) - min(single)
            lines.append(
                f"| {name} | {metric} | {min(single):.5g} – {max(single):.5g} | "
                f"{min(half):.5g} – {max(half):.5g} | {paired:.2g} | "
                f"{paired / spread if spread > 0 else float('inf'):.0%} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    from forecast.model.native import bf16_products

    if not bf16_products():
        sys.exit("this CPU or build has no AVX512-BF16: bf16 runs would train in float32")
    results = parity(args.seeds)
    times = speed(args.rounds)
    raw = Path(tempfile.gettempdir()) / "forecast-precision.json"
    raw.write_text(json.dumps({"results": results, "times": times}))  # to report again
    body = report(times, results, args.rounds, args.seeds)
    update_results({"## bfloat16 products (bench/precision.py)": body})
    print(body)


if __name__ == "__main__":
    main()
