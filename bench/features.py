"""Do OHLCV features help? Close alone vs close + volume / range / volatility inputs, on the
same walk-forward folds of the shipped MSFT sample, beside the naive forecast.

    python bench/features.py [--config configs/best.yaml] [--folds 5]

Every feature set runs the same backtest (the config's model, the same folds, the same
seed); the table in bench/FEATURES.md gives each set's pooled Theil's U (RMSE / naive RMSE),
MASE, directional accuracy with its binomial p-value, and how many folds beat naive. No
statistic here is tuned: the sets are fixed in advance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FEATURE_SETS = (
    ("close",),
    ("close", "log_volume"),
    ("close", "range"),
    ("close", "volatility_20"),
    ("close", "log_volume", "range", "volatility_20"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "best.yaml"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "FEATURES.md"))
    args = parser.parse_args()

    from forecast.config import load_config
    from forecast.data.sources import load_market
    from forecast.evaluation.backtest import walk_forward

    rows = []
    for features in FEATURE_SETS:
        config = load_config(
            args.config, [f"data.features=[{', '.join(features)}]", "train.progress=none"]
        )
        market = load_market(config.data)
        started = time.perf_counter()
        result = walk_forward(config, market.bars, folds=args.folds, echo=lambda line: None)
        seconds = time.perf_counter() - started
        overall = result.summary["overall"]
        model, naive = overall["model"], overall["naive"]
        rows.append((features, model, naive, result.summary["folds_beat_naive"], seconds))
        print(
            f"{', '.join(features):<40} rmse_ratio {model['rmse_ratio']:.4f}  "
            f"MASE {model['mase']:.4f}  dir {model['directional_accuracy']:.3f} "
            f"(timing p {model['timing_p_value'] or float('nan'):.3f})"
            f"  {seconds:.0f} s",
            flush=True,
        )

    lines = [
        "# Do OHLCV features help? (bench/features.py)",
        "",
        f"{dt.date.today()}, `{Path(args.config).relative_to(ROOT)}` on the shipped MSFT "
        f"sample, {args.folds} walk-forward folds over the last "
        f"{load_config(args.config).data.test_fraction:.0%} of the rows (the same folds and "
        f"seed for every set). rmse_ratio is the model's RMSE over the naive forecast's on "
        f"the same days (< 1 alone is not evidence: see the DM test); timing p is "
        f"Pesaran–Timmermann's; folds beating naive count DM p < 0.05.",
        "",
        "| features | rmse_ratio | MASE | naive MASE | directional accuracy (timing p) "
        "| folds beating naive | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for features, model, naive, beat, seconds in rows:
        lines.append(
            f"| {', '.join(features)} | {model['rmse_ratio']:.4f} | {model['mase']:.4f} "
            f"| {naive['mase']:.4f} | {model['directional_accuracy']:.3f} "
            f"({model['timing_p_value'] or float('nan'):.3f}) | {beat} of {args.folds} "
            f"| {seconds:.0f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
