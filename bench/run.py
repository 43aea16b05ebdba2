"""The benchmark suite: one command, results in bench/RESULTS.md.

    pip install -r requirements-bench.txt    # PyTorch, for the side-by-side comparison
    python bench/run.py [--rounds 3] [--skip-reference]

Absolute times drift on shared machines, so engines run interleaved (A B C A B C …), each
in a fresh process, and results are reported as medians and as ratios measured within the
same round. Measures (on the shipped sample data):

1. training throughput of the reference stack: this project's path vs the reference
   article's plain Keras script vs the same network in PyTorch; FLOPs per epoch and the
   share of this machine's measured float32 matrix-multiply peak;
2. time to accuracy: `train --config configs/best.yaml` until its test rmse_ratio, beside the
   reference config (`configs/default.yaml`);
3. latency: `--help`, `forecast --steps 30 --samples 100`, `evaluate`;
4. peak resident memory of a default `train`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from bench.results import split_sections, update_results

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
ENGINES = ("project", "keras", "torch")


def child_environment() -> dict[str, str]:
    return {**os.environ, "CI": "true", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run_child(command: list[str]) -> str:
    """Run one child process in the repository; its stdout."""
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env=child_environment()
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def run_with_peak_memory(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout), the RSS read from the child's own rusage."""
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=child_environment(),
    )
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed")
    return seconds, usage.ru_maxrss / 1024, stdout


def matmul_peak_gflops(size: int = 2048, repeats: int = 7) -> float:
    """This machine's float32 matrix-multiply rate (NumPy/OpenBLAS), best of ``repeats``."""
    generator = np.random.default_rng(0)
    a = generator.standard_normal((size, size), dtype=np.float32)
    b = generator.standard_normal((size, size), dtype=np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def throughput(rounds: int, engines: tuple[str, ...]) -> dict:
    per_engine: dict[str, list[float]] = {engine: [] for engine in engines}
    info: dict = {}
    for round_number in range(rounds):
        for engine in engines:
            stdout = run_child([PYTHON, "bench/throughput.py", "--engine", engine, "--epochs", "2"])
            record = json.loads(stdout.strip().splitlines()[-1])
            per_engine[engine].append(statistics.median(record["epoch_seconds"]))
            info = record
            print(
                f"round {round_number + 1} {engine}: {per_engine[engine][-1]:.2f} s/epoch",
                flush=True,
            )
    return {
        "per_engine": per_engine,
        "windows": info["windows"],
        "flops_per_window": info["flops_per_window"],
    }


def train_run(config: str, folder: Path) -> dict:
    seconds, peak, _ = run_with_peak_memory(
        [PYTHON, "main.py", "train", "--config", config, "--out", str(folder)]
    )
    metrics = json.loads((folder / "metrics.json").read_text())
    record = json.loads((folder / "run.json").read_text())
    return {
        "wall_seconds": seconds,
        "train_seconds": record.get("train_seconds"),
        "rmse_ratio": metrics["rmse_ratio"],
        "epochs_run": metrics["epochs_run"],
        "peak_mb": peak,
    }


def latency(command: list[str], repeats: int) -> float:
    return statistics.median(run_with_peak_memory(command)[0] for _ in range(repeats))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "torch", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[package] = metadata.version(package)
    return found


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--skip-reference",
        action="store_true",
        help="skip the ~4-minute default-config train (time and memory)",
    )
    args = parser.parse_args()
    try:
        import torch  # noqa: F401

        engines = ENGINES
    except ImportError:
        engines = ("project", "keras")
        print("PyTorch not installed (pip install -r requirements-bench.txt): skipping it")

    # The fused LSTM op is compiled once per machine; do it now so no timed run includes it.
    run_child(
        [
            PYTHON,
            "-c",
            "from forecast.model.native import fused_ops; assert fused_ops() is not None",
        ]
    )
    peak = matmul_peak_gflops()
    print(f"matmul peak {peak:.1f} GFLOP/s", flush=True)
    speed = throughput(args.rounds, engines)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_path = Path(scratch)
        best = train_run("configs/best.yaml", scratch_path / "best")
        print(f"best.yaml: {best}", flush=True)
        reference = (
            None
            if args.skip_reference
            else train_run("configs/default.yaml", scratch_path / "reference")
        )
        print(f"default.yaml: {reference}", flush=True)
        latencies = {
            "--help": latency([PYTHON, "main.py", "--help"], 5),
            "forecast --days 30 --samples 100": latency(
                [
                    PYTHON,
                    "main.py",
                    "forecast",
                    "--run",
                    str(scratch_path / "best"),
                    "--days",
                    "30",
                    "--samples",
                    "100",
                ],
                3,
            ),
            "evaluate": latency(
                [PYTHON, "main.py", "evaluate", "--run", str(scratch_path / "best")], 3
            ),
        }
    write_results(peak, speed, best, reference, latencies, args.rounds)


def write_results(
    peak: float, speed: dict, best: dict, reference: dict | None, latencies: dict, rounds: int
) -> None:
    windows, flops = speed["windows"], speed["flops_per_window"]
    epoch_gflop = windows * flops / 1e9
    per_engine = speed["per_engine"]
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python bench/run.py` on {dt.date.today().isoformat()}.",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.machine()}, CPU only",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in versions().items()),
        f"- float32 matrix-multiply peak (NumPy/OpenBLAS, 2048²): {peak:.1f} GFLOP/s",
        f"- {rounds} interleaved rounds (each engine in a fresh process, median of 2 timed "
        f"epochs after a warm-up epoch)",
        "",
        "## 1. Training throughput — reference stack, batch 64",
        "",
        f"{windows} windows of 60 closes per epoch; {flops / 1e6:.1f} MFLOP per window "
        f"(forward + backward ≈ 3 × forward), {epoch_gflop:.0f} GFLOP per epoch.",
        "",
        "| engine | s/epoch (median) | windows/s | GFLOP/s | share of matmul peak |",
        "|---|---:|---:|---:|---:|",
    ]
    medians = {engine: statistics.median(times) for engine, times in per_engine.items()}
    for engine, seconds in medians.items():
        lines.append(
            f"| {engine} | {seconds:.2f} | {windows / seconds:,.0f} | "
            f"{epoch_gflop / seconds:.1f} | {epoch_gflop / seconds / peak:.1%} |"
        )
    lines.append("")
    if "keras" in per_engine:
        ratio = statistics.median(k / p for k, p in zip(per_engine["keras"], per_engine["project"]))
        lines.append(
            f"- project ÷ plain Keras throughput (same-round ratio, median): **{ratio:.2f}×**"
        )
    if "torch" in per_engine:
        ratio = statistics.median(t / p for t, p in zip(per_engine["torch"], per_engine["project"]))
        lines.append(
            f"- project ÷ PyTorch throughput (same-round ratio, median): "
            f"**{ratio:.2f}×** (target ≥ 1.00)"
        )
    lines += [
        "",
        "## 2. Time to accuracy",
        "",
        "| config | training s | wall s | epochs | test rmse_ratio | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, record in (("configs/best.yaml", best), ("configs/default.yaml", reference)):
        if record is None:
            continue
        lines.append(
            f"| {name} | {record['train_seconds']:.1f} | {record['wall_seconds']:.1f} "
            f"| {record['epochs_run']} | {record['rmse_ratio']:.3f} | "
            f"{record['peak_mb']:.0f} |"
        )
    lines += ["", "## 3. Latency (end to end, median)", "", "| command | seconds |", "|---|---:|"]
    lines += [f"| `python main.py {name}` | {seconds:.2f} |" for name, seconds in latencies.items()]
    lines += ["", "## 4. Targets", "", "| target | measured | reached |", "|---|---|---|"]
    if "torch" in per_engine:
        ratio = statistics.median(t / p for t, p in zip(per_engine["torch"], per_engine["project"]))
        lines.append(
            f"| training throughput ≥ PyTorch | {ratio:.2f}× | {'yes' if ratio >= 1 else 'no'} |"
        )
    reached = best["rmse_ratio"] <= 1.0 and best["train_seconds"] <= 45
    lines.append(
        f"| rmse_ratio ≤ 1.00 within 45 s of training | {best['rmse_ratio']:.3f} in "
        f"{best['train_seconds']:.1f} s | {'yes' if reached else 'no'} |"
    )
    help_seconds = latencies["--help"]
    lines.append(
        f"| `--help` < 0.5 s | {help_seconds:.2f} s | {'yes' if help_seconds < 0.5 else 'no'} |"
    )
    forecast_seconds = latencies["forecast --days 30 --samples 100"]
    lines.append(
        f"| forecast 30 days × 100 samples < 10 s | {forecast_seconds:.2f} s | "
        f"{'yes' if forecast_seconds < 10 else 'no'} |"
    )
    if reference is not None:
        lines.append(
            f"| default train peak memory < 1.2 GB | {reference['peak_mb']:.0f} MB | "
            f"{'yes' if reference['peak_mb'] < 1229 else 'no'} |"
        )
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    preamble, sections = split_sections("\n".join(lines) + "\n")
    update_results(sections, preamble)  # the other scripts' sections stay as they are
    print("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
