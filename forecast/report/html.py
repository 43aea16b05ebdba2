"""report.html: one self-contained page (images embedded) that opens offline."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from forecast import atomic

IMAGES = (("true_vs_predicted.png", "True vs predicted (test days)"),
          ("loss.png", "Loss"), ("forecast.png", "Forecast"),
          ("backtest.png", "Walk-forward backtest"), ("compare.png", "Model comparison"))


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda value: f"{value:.4g}",
                         na_rep="–", border=0, classes="table")


def _metrics_section(metrics: dict) -> str:
    frame = pd.DataFrame({
        "": ["RMSE", "MAE", "MAPE %"],
        "model": [metrics["rmse"], metrics["mae"], metrics["mape"]],
        "naive (previous close)": [metrics["naive_rmse"], metrics["naive_mae"],
                                   metrics["naive_mape"]]})
    ratio = metrics["rmse_ratio"]
    verdict = "beats" if ratio < 1 else "does not beat"
    return (f"<h2>Test metrics</h2>{_table(frame)}<p>rmse_ratio <b>{ratio:.3f}</b>: the model "
            f"{verdict} the naive last-value forecast on the same {metrics.get('n_test', '')} "
            f"days.</p>")


def write_report(folder: str | Path, title: str) -> Path:
    """(Re)write folder/report.html from whatever artifacts the folder holds."""
    folder = Path(folder)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if (folder / "metrics.json").exists():
        parts.append(_metrics_section(json.loads((folder / "metrics.json").read_text())))
    if (folder / "backtest.csv").exists():
        table = pd.read_csv(folder / "backtest.csv")
        summary = json.loads((folder / "backtest.json").read_text())
        from forecast.backtest import verdict

        parts.append(f"<h2>Backtest</h2><p><b>{html.escape(verdict(summary))}</b></p>"
                     f"{_table(table[table['fold'].astype(str) == 'all'])}"
                     f"<details><summary>per fold</summary>"
                     f"{_table(table[table['fold'].astype(str) != 'all'])}</details>")
    if (folder / "compare.csv").exists():
        parts.append(f"<h2>Model comparison</h2>{_table(pd.read_csv(folder / 'compare.csv'))}")
    if (folder / "forecast.csv").exists():
        parts.append(f"<h2>Forecast</h2>{_table(pd.read_csv(folder / 'forecast.csv'))}")
    for name, caption in IMAGES:
        if (folder / name).exists():
            data = base64.b64encode((folder / name).read_bytes()).decode("ascii")
            parts.append(f"<h2>{caption}</h2><img alt='{caption}' "
                         f"src='data:image/png;base64,{data}'>")
    if (folder / "config.yaml").exists():
        parts.append(f"<h2>Config</h2><pre>{html.escape((folder / 'config.yaml').read_text())}"
                     f"</pre>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "img{max-width:100%}.table{border-collapse:collapse}"
             ".table td,.table th{padding:4px 10px;border-bottom:1px solid #ddd;"
             "text-align:right}pre{background:#f6f6f6;padding:1em;overflow:auto}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    path = folder / "report.html"
    atomic.write_text(path, page)
    return path
