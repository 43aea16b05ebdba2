"""The daily loop, replayed: walk bar by bar through the end of a series as if each bar had
just arrived, and compare three update policies on the live record they build.

    python bench/replay.py [--days 450] [--every 20]

For each series (the MSFT sample; a seeded GARCH-like series) and each policy, starting from
a production fit of ``configs/best.yaml`` (adaptive conformal bands on) on every bar before
the last ``--days``:

- each bar: the CSV grows by one bar, ``forecast --refresh --steps 5`` (journalled: 1 … 5
  bars ahead), then ``score`` (which also moves the adaptive bands' α);
- every ``--every`` bars: ``update`` (warm start, ``train.update_epochs``), ``update
  --refit`` (from scratch), or nothing.

Reports the live record at h = 1 and 5 (rmse_ratio with its DM p against naive, coverage of
the 80 % / 95 % bands) and the compute each policy spent updating, with an update's cost
beside a full train's. Writes bench/REPLAY.md and the "Daily loop" section of
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import update_results  # noqa: E402
from forecast.commands.forecast import forecast  # noqa: E402
from forecast.commands.score import score  # noqa: E402
from forecast.commands.train import train  # noqa: E402
from forecast.commands.update import update  # noqa: E402
from forecast.config import load_config  # noqa: E402

POLICIES = ("none", "update", "refit")


def garch_bars(rows: int = 4000, seed: int = 8) -> pd.DataFrame:
    """Daily closes whose volatility clusters (GARCH(1,1)-like), on business days."""
    generator = np.random.default_rng(seed)
    variance, returns = 1e-4, np.empty(rows)
    for index in range(rows):
        variance = 2e-6 + 0.08 * (returns[index - 1] ** 2 if index else 1e-4) + 0.9 * variance
        returns[index] = 0.0003 + np.sqrt(variance) * generator.standard_normal()
    index = pd.bdate_range("2008-01-01", periods=rows, name="Date")
    return pd.DataFrame({"Close": 100 * np.exp(np.cumsum(returns))}, index=index)


def msft_bars() -> pd.DataFrame:
    frame = pd.read_csv(ROOT / "forecast" / "data" / "sample" / "MSFT.csv", parse_dates=["Date"])
    return frame.set_index("Date")[["Close"]]


def replay(bars: pd.DataFrame, policy: str, days: int, every: int, folder: Path) -> dict:
    """One policy's live record over the last ``days`` bars."""
    csv = folder / "bars.csv"
    start = len(bars) - days

    def write(rows: int) -> None:
        bars.iloc[:rows].reset_index().to_csv(csv, index=False, date_format="%Y-%m-%d")

    write(start)
    config = load_config(ROOT / "configs" / "best.yaml", [
        "data.source=csv", f"data.path={csv}", "data.ticker=REPLAY", "data.calendar=business",
        "data.test_fraction=0", "forecast.adaptive=true", "train.progress=none",
        f"output.runs_dir={folder / 'runs'}"])
    quiet = lambda line: None  # noqa: E731
    started = time.perf_counter()
    run = train(config, out=folder / "run-000", echo=quiet).run_dir
    full_train = time.perf_counter() - started
    spent, loop = [], 0.0
    for day in range(days):
        write(start + day + 1)
        began = time.perf_counter()
        if day:
            score(run)
        forecast(run, steps=5, refresh=True)
        loop += time.perf_counter() - began
        if policy != "none" and (day + 1) % every == 0 and day + 1 < days:
            began = time.perf_counter()
            run = update(run, refit=policy == "refit", out=folder / f"run-{day + 1:03d}",
                         echo=quiet).run_dir
            spent.append(time.perf_counter() - began)
    write(len(bars))
    record = score(run).summary
    horizons = {part["horizon"]: part for part in record["horizons"]}
    return {"policy": policy, "full_train_s": full_train, "updates": len(spent),
            "update_s": float(np.mean(spent)) if spent else 0.0,
            "updating_s": float(np.sum(spent)), "loop_s": loop, "resolved": record["resolved"],
            **{f"h{h}_{key}": horizons[h].get(key) for h in (1, 5)
               for key in ("n", "rmse_ratio", "dm_p_value", "coverage80", "coverage95",
                           "rw_coverage95")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=450)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--series", default="msft,garch")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the data checks repeat on every bar
    series = {"msft": ("MSFT sample", msft_bars), "garch": ("GARCH-like", garch_bars)}
    rows = []
    for key in args.series.split(","):
        name, make = series[key]
        bars = make()
        for policy in POLICIES:
            with tempfile.TemporaryDirectory() as scratch:
                result = {"series": name, **replay(bars, policy, args.days, args.every,
                                                   Path(scratch))}
            rows.append(result)
            print(json.dumps(result), flush=True)
    table = pd.DataFrame(rows)

    def cell(row: pd.Series, h: int) -> str:
        p_value = row[f"h{h}_dm_p_value"]
        test = "-" if p_value is None or pd.isna(p_value) else f"{p_value:.2g}"
        return (f"{row[f'h{h}_rmse_ratio']:.3f} (p {test}) | {row[f'h{h}_coverage80']:.1%} / "
                f"{row[f'h{h}_coverage95']:.1%}")

    lines = [f"Generated by `python bench/replay.py` on {dt.date.today().isoformat()}: the last "
             f"{args.days} bars of each series replayed one by one with `configs/best.yaml` "
             f"(production fit, adaptive conformal bands): each bar `score`, then `forecast "
             f"--refresh --steps 5`; every {args.every} bars `update` (warm start, 5 epochs), "
             f"`update --refit`, or nothing. Live record at the end, and compute.", "",
             "| series | policy | h=1 rmse_ratio (DM p) | h=1 cov. 80 / 95 | h=5 rmse_ratio (DM p)"
             " | h=5 cov. 80 / 95 | updates | s per update | full train s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['series']} | {row['policy']} | {cell(row, 1)} | {cell(row, 5)} | "
                     f"{row['updates']} | {row['update_s']:.1f} | {row['full_train_s']:.1f} |")
    updates = table[table["policy"] == "update"]
    refits = table[table["policy"] == "refit"]
    ratio = float(updates["update_s"].mean() / refits["update_s"].mean())
    h1 = table["h1_coverage95"].astype(float)
    lines += ["", f"- An update ({args.every} new bars, warm start) costs **{ratio:.0%}** of a "
                  f"refit from scratch (goal ≤ 25 %).",
              f"- Live 95 % coverage at h = 1 over {int(table['h1_n'].min())}+ live bars: "
              f"{h1.min():.1%}–{h1.max():.1%} (goal 92–98 %, adaptive bands); 80 %: "
              f"{table['h1_coverage80'].min():.1%}–{table['h1_coverage80'].max():.1%} "
              f"(goal 77–83 %)."]
    text = "\n".join(lines)
    (ROOT / "bench" / "REPLAY.md").write_text("# The daily loop, replayed (bench/replay.py)\n\n"
                                              + text + "\n")
    update_results({"## Daily loop replayed (bench/replay.py, bench/REPLAY.md)": text})
    print(text)


if __name__ == "__main__":
    main()
