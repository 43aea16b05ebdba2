"""The benchmark suite: one command, results in bench/RESULTS.md.

    pip install -r requirements-bench.txt    # PyTorch, for the side-by-side comparison
    python bench/run.py [--rounds 2] [--skip-reference]

Absolute times drift on shared machines, so engines run interleaved (A B C A B C …), each
in a fresh process, and results are reported as medians and as ratios measured within the
same round. Measures (on the shipped sample data):

1. training throughput of the reference stack and of a global model's stack (bench/
   throughput.py) at batch 64, 256 and 1024: this project's path vs plain Keras vs the
   same network in PyTorch; FLOPs per window and the share of this machine's measured
   float32 matrix-multiply peak (the better of NumPy's and PyTorch's);
2. time to accuracy: `train --config configs/best.yaml` until its test rmse_ratio, beside the
   reference config (`configs/default.yaml`);
3. latency: `--help`, `forecast --steps 30`, `evaluate`;
4. peak resident memory of a default `train`;
and the targets. The CPU's model and the flags that decide its kernels (avx512f,
avx512_bf16, amx_bf16) head the file; every other script's sections are kept.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import split_sections, update_results  # noqa: E402

PYTHON = sys.executable
ENGINES = ("project", "keras", "torch", "torch-bf16")  # torch-bf16: PyTorch's autocast


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


def matmul_peak_gflops(size: int = 2048, repeats: int = 7) -> dict[str, float]:
    """This machine's matrix-multiply rates in GFLOP/s, best of ``repeats``: float32 with
    NumPy (OpenBLAS) and, where PyTorch is installed, float32 and bfloat16 with PyTorch."""
    generator = np.random.default_rng(0)
    a = generator.standard_normal((size, size), dtype=np.float32)
    b = generator.standard_normal((size, size), dtype=np.float32)
    a @ b
    rates = {"numpy float32": 2 * size**3 / min(_timed(lambda: a @ b) for _ in range(repeats))}
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        for name, dtype in (("torch float32", torch.float32), ("torch bfloat16", torch.bfloat16)):
            left, right = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
            left @ right  # warm-up
            timings = [_timed(lambda x=left, y=right: x @ y) for _ in range(repeats)]
            rates[name] = 2 * size**3 / min(timings)
    return {name: rate / 1e9 for name, rate in rates.items()}


def float32_peak(rates: dict[str, float]) -> float:
    return max(rate for name, rate in rates.items() if "float32" in name)


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


STACKS = ("reference", "global")
SECTION_THROUGHPUT = "## 1. Training throughput"
BATCHES = (64, 256, 1024)


ENGINE_ARGUMENTS = {  # bench/throughput.py's arguments for each engine these scripts time
    "project": ["--engine", "project"],
    "project-bf16": ["--engine", "project", "--precision", "bfloat16"],
    "keras": ["--engine", "keras"],
    "torch": ["--engine", "torch"],
    "torch-bf16": ["--engine", "torch", "--precision", "bfloat16"],
}


def timed_epochs(engine: str, stack: str, batch: int) -> dict:
    """One fresh ``bench/throughput.py`` process (2 timed epochs): its JSON record, with
    ``seconds`` the median epoch."""
    command = [PYTHON, "bench/throughput.py", *ENGINE_ARGUMENTS[engine]]
    command += ["--stack", stack, "--batch", str(batch), "--epochs", "2"]
    record = json.loads(run_child(command).strip().splitlines()[-1])
    return {**record, "seconds": statistics.median(record["epoch_seconds"])}


def throughput(rounds: int, engines: tuple[str, ...]) -> dict:
    """{(stack, batch): {"engines": {engine: [median s/epoch per round]}, "windows",
    "flops_per_window"}}, every (stack, batch, engine) once per round, interleaved."""
    results: dict[tuple[str, int], dict] = {}
    for round_number in range(rounds):
        for stack in STACKS:
            for batch in BATCHES:
                cell = results.setdefault(
                    (stack, batch), {"engines": {engine: [] for engine in engines}}
                )
                for engine in engines:
                    record = timed_epochs(engine, stack, batch)
                    seconds = record["seconds"]
                    cell["engines"][engine].append(seconds)
                    cell["windows"] = record["windows"]
                    cell["flops_per_window"] = record["flops_per_window"]
                    print(
                        f"round {round_number + 1} {stack} batch {batch} {engine}: "
                        f"{seconds:.2f} s/epoch",
                        flush=True,
                    )
    return results


def same_round_ratio(cell: dict, slower: str, faster: str = "project") -> float:
    """Median over rounds of slower's s/epoch ÷ faster's: faster's throughput multiple."""
    engines = cell["engines"]
    return statistics.median(a / b for a, b in zip(engines[slower], engines[faster]))


def _flags() -> set[str]:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cpu_flags() -> str:
    """The flags that decide which kernels run here, present or absent."""
    flags = _flags()
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
    return ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in wanted)


def has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    return bool(_flags() & {"avx512_bf16", "amx_bf16"})


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
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--skip-reference",
        action="store_true",
        help="skip the ~2-minute default-config train (time and memory)",
    )
    args = parser.parse_args()
    try:
        import torch  # noqa: F401

        engines = ENGINES if has_bfloat16() else ENGINES[:3]
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
    peaks = matmul_peak_gflops()
    print(f"matmul peaks {peaks}", flush=True)
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
        run_folder = str(scratch_path / "best")
        forecast = [PYTHON, "main.py", "forecast", "--run", run_folder, "--steps", "30"]
        latency(forecast, 1)  # calibrates where the folder lacks it, as a first forecast does
        latencies = {
            "--help": latency([PYTHON, "main.py", "--help"], 5),
            "forecast --steps 30": latency(forecast, 5),
            "evaluate": latency([PYTHON, "main.py", "evaluate", "--run", run_folder], 3),
        }
    write_results(peaks, speed, best, reference, latencies, args.rounds)


def throughput_lines(peak: float, speed: dict) -> list[str]:
    """Section 1: a table per stack, a row per (batch, engine), and the same-round ratios."""
    lines = []
    for stack in STACKS:
        cells = {batch: speed[(stack, batch)] for stack_name, batch in speed if stack_name == stack}
        first = next(iter(cells.values()))
        windows, flops = first["windows"], first["flops_per_window"]
        lines += [
            f"### {stack} stack",
            "",
            f"{windows} windows of 60 bars per epoch; {flops / 1e6:.1f} MFLOP per window "
            f"(forward + backward ≈ 3 × forward), {windows * flops / 1e9:.0f} GFLOP per epoch.",
            "",
            "| batch | engine | s/epoch (median) | windows/s | GFLOP/s | share of fp32 peak "
            "| project ÷ engine (same round) |",
            "|---:|---|---:|---:|---:|---:|---:|",
        ]
        for batch, cell in cells.items():
            for engine, times in cell["engines"].items():
                seconds = statistics.median(times)
                rate = windows * flops / seconds / 1e9
                ratio = "" if engine == "project" else f"{same_round_ratio(cell, engine):.2f}×"
                lines.append(
                    f"| {batch} | {engine} | {seconds:.2f} | {windows / seconds:,.0f} | "
                    f"{rate:.1f} | {rate / peak:.1%} | {ratio} |"
                )
        lines.append("")
        if all("torch-bf16" in cell["engines"] for cell in cells.values()):
            bf16 = ", ".join(
                f"batch {batch}: {same_round_ratio(cell, 'torch', faster='torch-bf16'):.2f}×"
                for batch, cell in cells.items()
            )
            lines += [f"- PyTorch's bfloat16 autocast ÷ its float32 (same round): {bf16}", ""]
    return lines


def write_results(
    peaks: dict[str, float],
    speed: dict,
    best: dict,
    reference: dict | None,
    latencies: dict,
    rounds: int,
) -> None:
    peak = float32_peak(peaks)
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python bench/run.py` on {dt.date.today().isoformat()}.",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.machine()}, CPU only; {cpu_flags()}",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in versions().items()),
        "- matrix-multiply rates (2048², best of 7): "
        + ", ".join(f"{name} {rate:.0f} GFLOP/s" for name, rate in peaks.items())
        + f"; the float32 peak below is {peak:.0f} GFLOP/s",
        f"- {rounds} interleaved rounds (each engine in a fresh process, median of 2 timed "
        f"epochs after a warm-up epoch)",
        "",
        SECTION_THROUGHPUT,
        "",
        "The reference stack: LSTM(50) → Dropout(0.2) → LSTM(100) → Dropout(0.2) → Dense(1). "
        "A global model's stack: a 4-number ticker embedding (8 tickers) joined to every step, "
        "LSTM(64) → LSTM(64) → Dense(1). Both on the MSFT sample's training windows, RMSprop; "
        "`python bench/throughput.py --engine E --stack S --batch N` times one.",
        "",
        *throughput_lines(peak, speed),
    ]
    lines += [
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
    if "torch" in ENGINES and all("torch" in cell["engines"] for cell in speed.values()):
        ratios = {key: same_round_ratio(cell, "torch") for key, cell in speed.items()}
        worst = min(ratios.values())
        measured = ", ".join(
            f"{stack} {batch}: {ratio:.2f}×" for (stack, batch), ratio in ratios.items()
        )
        lines.append(
            f"| training ≥ 1.5× PyTorch fp32 at every stack and batch | {measured} | "
            f"{'yes' if worst >= 1.5 else 'no'} |"
        )
    shares = {
        key: cell["windows"]
        * cell["flops_per_window"]
        / statistics.median(cell["engines"]["project"])
        / 1e9
        / peak
        for key, cell in speed.items()
        if key[1] >= 256
    }
    lines.append(
        "| ≥ 60 % of the fp32 peak at batch ≥ 256 | "
        + ", ".join(f"{stack} {batch}: {share:.0%}" for (stack, batch), share in shares.items())
        + f" | {'yes' if min(shares.values()) >= 0.6 else 'no'} |"
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
    forecast_seconds = latencies["forecast --steps 30"]
    lines.append(
        f"| forecast 30 bars < 1 s | {forecast_seconds:.2f} s | "
        f"{'yes' if forecast_seconds < 1 else 'no'} |"
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
    update_results(  # the other scripts' sections stay as they are
        sections,
        preamble,
        renamed={"## 1. Training throughput — reference stack, batch 64": SECTION_THROUGHPUT},
    )
    print("wrote bench/RESULTS.md")


if __name__ == "__main__":
    main()
