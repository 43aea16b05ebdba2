"""Band calibration: conformal, MC dropout and the random walk's band on the same test bars.

    python bench/bands.py [--folds 5] [--samples 50]

configs/best.yaml backtested (walk-forward, each fold calibrated on its own validation
block) on
  1. the MSFT sample,
  2. a seeded synthetic series with i.i.d. daily log returns,
  3. a seeded GARCH(1,1)-like series (volatility clusters), with and without
     ``forecast.adaptive`` (adaptive conformal inference);
and reports, per horizon (1, 5, 20) and method, pooled coverage at 80 % and 95 %, mean
width relative to the random walk's band, the interval (Winkler) score, and whether the
model's band beats the random walk's. Writes bench/BANDS.md. The goal (issue #13): pooled
coverage within ±3 points of nominal at 80 % and 95 %, at h = 1 and h = 5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def iid_series(n_rows: int, seed: int) -> pd.Series:
    generator = np.random.default_rng(seed)
    returns = generator.normal(0.0003, 0.012, n_rows)  # (n,) daily log returns
    return pd.Series(
        50.0 * np.exp(np.cumsum(returns)),
        index=pd.bdate_range("2000-01-03", periods=n_rows, name="date"),
        name="price",
    )


def garch_series(
    n_rows: int, seed: int, omega: float = 2e-6, alpha: float = 0.08, beta: float = 0.9
) -> pd.Series:
    """r_t = σ_t ε_t, σ²_t = ω + α r²_{t-1} + β σ²_{t-1}: calm and wild spells."""
    generator = np.random.default_rng(seed)
    variance = omega / (1 - alpha - beta)
    returns = np.empty(n_rows)
    for t in range(n_rows):
        returns[t] = np.sqrt(variance) * generator.standard_normal()
        variance = omega + alpha * returns[t] ** 2 + beta * variance
    return pd.Series(
        50.0 * np.exp(np.cumsum(returns + 0.0002)),
        index=pd.bdate_range("2000-01-03", periods=n_rows, name="date"),
        name="price",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    from forecast.commands.common import load_data
    from forecast.config import load_config
    from forecast.evaluation.backtest import walk_forward

    config = load_config(ROOT / "configs" / "best.yaml", ["train.progress=none"])
    config, market = load_data(config)
    adaptive = replace(config, forecast=replace(config.forecast, adaptive=True))
    cases = [
        ("MSFT sample", config, market.bars),
        ("i.i.d. returns", config, iid_series(4000, seed=1)),
        ("GARCH-like", config, garch_series(4000, seed=2)),
        ("GARCH-like, adaptive", adaptive, garch_series(4000, seed=2)),
    ]
    tables = []
    for name, case_config, bars in cases:
        started = time.perf_counter()
        result = walk_forward(
            case_config, bars, folds=args.folds, samples=args.samples, echo=lambda line: None
        )
        table = result.bands.assign(series=name)
        tables.append(table)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4f}"), flush=True)
    write_report(pd.concat(tables, ignore_index=True), args.folds, args.samples)


def write_report(table: pd.DataFrame, folds: int, samples: int) -> None:
    lines = [
        "# Bands vs the random walk's band (bench/bands.py)",
        "",
        f"{dt.date.today()}, `configs/best.yaml`, {folds} walk-forward folds, each "
        f"calibrated on its own validation block (the last tenth of its training "
        f"windows); MC dropout with {samples} samples (one bar ahead only). Coverage "
        f"pooled over the folds' test bars; width: mean band width over the random "
        f"walk's on the same bars; score: mean interval (Winkler) score, lower is better. "
        f"Goal: coverage within ±3 points of nominal at h = 1 and h = 5.",
        "",
        "| series | h | band | n | cov. 80 % | cov. 95 % | width 80 / rw | width 95 / rw "
        "| score 80 | score 95 | beats rw |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, row in table.iterrows():
        beats = (
            "—"
            if pd.isna(row["beats_random_walk"])
            else ("yes" if row["beats_random_walk"] else "no")
        )
        lines.append(
            f"| {row['series']} | {row['horizon']} | {row['method']} | {row['n']} | "
            f"{row['coverage80']:.1%} | {row['coverage95']:.1%} | "
            f"{row['width80_vs_rw']:.3f} | {row['width95_vs_rw']:.3f} | "
            f"{row['winkler80']:.3f} | {row['winkler95']:.3f} | {beats} |"
        )
    goal = table[table["horizon"].isin([1, 5])]
    met = ((goal["coverage80"] - 0.8).abs() <= 0.03) & ((goal["coverage95"] - 0.95).abs() <= 0.03)
    lines += [
        "",
        "Within ±3 points at both levels (h = 1 and 5): "
        + "; ".join(
            f"{row['series']} h={row['horizon']} {row['method']}: {'yes' if ok else 'NO'}"
            for (_, row), ok in zip(goal.iterrows(), met)
        )
        + ".",
    ]
    (ROOT / "bench" / "BANDS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
