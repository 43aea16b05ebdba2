"""report.html: one self-contained page (images embedded) that opens offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base import atomic
from forecast.base.values import read_json
from forecast.config import Config, config_to_dict

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "img{max-width:100%}.scroll{overflow-x:auto;max-width:100%}"
    ".table{border-collapse:collapse}.table td,.table th{padding:4px 10px;"
    "border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    ".warnings li,.messages li{color:#8a4b00}.folder{color:#666}"
    "pre{background:#f6f6f6;padding:1em;overflow:auto;white-space:pre-wrap}"
)
IMAGES = (
    ("true_vs_predicted.png", "True vs predicted (test set)"),
    ("loss.png", "Loss"),
    ("forecast.png", "Forecast"),
    ("backtest.png", "Walk-forward backtest"),
    ("compare.png", "Model comparison"),
    ("live.png", "Live record: forecasts issued and what came"),
)


def page_title(subject: str, finished: str | None = None) -> str:
    """One clear title: what and whose, and when (``finished``, a run's ISO finish time,
    else now): 'MSFT run · 2026-12-02 05:10'."""
    import datetime as dt

    stamp = dt.datetime.fromisoformat(finished) if finished else dt.datetime.now()
    return f"{subject} · {stamp:%Y-%m-%d %H:%M}"


def _text_file(path: Path, heading: str) -> str:
    """A YAML file shown as it is, under its heading ('' when there is none)."""
    if not path.exists():
        return ""
    return f"<h2>{heading}</h2><pre>{html.escape(path.read_text())}</pre>"


def _write_page(folder: Path, title: str, parts: list[str]) -> Path:
    """FOLDER/report.html, written atomically."""
    path = folder / "report.html"
    atomic.write_text(path, _page(title, folder, [part for part in parts if part]))
    return path


def _page(title: str, folder: Path, parts: list[str]) -> str:
    heading = (
        f"<h1>{html.escape(title)}</h1><p class='folder'>folder {html.escape(str(folder.name))}</p>"
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{heading}{''.join(parts)}</body></html>\n"
    )


def _image(path: Path, alt: str) -> str:
    """A PNG embedded in the page, so report.html opens offline on its own."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _table(frame: pd.DataFrame, escape: bool = True) -> str:
    """A table that scrolls inside its own box when it is wider than the page."""
    table = frame.to_html(
        index=False,
        float_format=lambda value: f"{value:.4g}",
        na_rep="–",
        border=0,
        classes="table",
        escape=escape,
    )
    return f"<div class='scroll'>{table}</div>"


def _test_words(config: Config | None, count: object) -> str:
    """'N trading days' / 'N hourly bars' in the config's unit, or 'N bars' without one."""
    from forecast.data.interval import unit_words

    if config is None:
        return f"{count} bars"
    return unit_words(config.data.interval, config.data.calendar, int(count))


def _config_section(config: Config | None) -> str:
    """The resolved config, as config.yaml holds it."""
    if config is None:
        return ""
    import yaml

    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    return f"<h2>Config</h2><pre>{html.escape(text)}</pre>"


def _warnings_section(lines: list[str] | tuple[str, ...]) -> str:
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return f"<h2>Data checks</h2><ul class='warnings'>{items}</ul>"


def _metrics_section(metrics: dict, words: str) -> str:
    if not metrics.get("n_test"):
        from forecast.evaluation.metrics import PRODUCTION

        return (
            f"<h2>Production fit</h2><p>This run is {html.escape(PRODUCTION)} (with "
            f"RUN the folder of this page).</p>"
        )
    frame = pd.DataFrame(
        {
            "": ["RMSE", "MAE", "MAPE %"],
            "model": [metrics["rmse"], metrics["mae"], metrics["mape"]],
            "naive (previous close)": [
                metrics["naive_rmse"],
                metrics["naive_mae"],
                metrics["naive_mape"],
            ],
        }
    )
    from forecast.evaluation.metrics import metrics_verdict

    return (
        f"<h2>Test metrics</h2>{_table(frame)}<p>On the same {words}: "
        f"<b>{html.escape(metrics_verdict(metrics))}</b> The Diebold–Mariano test (one-sided, "
        f"squared error) says whether a lower RMSE is more than noise.</p>"
        + _baselines_section(metrics)
    )


def _baselines_section(metrics: dict) -> str:
    """The statistical baselines fitted on the training rows, each beside naive and the
    model tested against it; the models left out and why."""
    rows = [
        {
            "baseline": row["label"],
            "rmse": row["rmse"],
            "rmse_ratio (to naive)": row["rmse_ratio"],
            "DM p vs naive": row["dm_p_value"],
            "model's RMSE / its": row["model_rmse_ratio"],
            "model's DM p vs it": row["model_dm_p_value"],
        }
        for row in metrics.get("baselines", {}).values()
    ]
    notes = metrics.get("baseline_notes") or []
    if not rows and not notes:
        return ""
    items = "".join(f"<li>{html.escape(note)}</li>" for note in notes)
    return (
        "<h2>Statistical baselines</h2><p>Fitted on the training rows alone (log prices), "
        "then run over the test bars with their parameters fixed, each bar's forecast from "
        "the bars before it.</p>"
        + (_table(pd.DataFrame(rows)) if rows else "")
        + (f"<ul class='warnings'>{items}</ul>" if items else "")
    )


def _live_section(summary: dict) -> str:
    """The live record: the verdict and, per horizon, the point forecasts beside the naive
    forecast issued with them and the bands' coverage beside the random walk's."""
    rows = [
        {
            "h": part["horizon"],
            "n": part["n"],
            "rmse": part["rmse"],
            "naive rmse": part["naive_rmse"],
            "rmse_ratio": part["rmse_ratio"],
            "DM p": part["dm_p_value"],
            "coverage 80 %": part.get("coverage80"),
            "coverage 95 %": part.get("coverage95"),
            "random walk's 95 %": part.get("rw_coverage95"),
            "verdict": part["verdict"],
        }
        for part in summary["horizons"]
    ]
    table = _table(pd.DataFrame(rows)) if rows else ""
    return (
        f"<h2>Live record</h2><p><b>{html.escape(summary['verdict'])}</b></p>"
        f"<p>Every forecast in journal.csv matched with the bar that came at its target "
        f"(live.csv, live.json); {summary['pending']} are still pending.</p>{table}"
    )


def write_report(
    folder: str | Path,
    subject: str,
    config: Config | None = None,
    record: dict[str, Any] | None = None,
    data_warnings: list[str] | tuple[str, ...] | None = None,
) -> Path:
    """(Re)write folder/report.html from whatever results the folder holds, titled
    ``subject`` (ticker and kind: 'MSFT run') and the date.

    ``config``: the run's resolved config (counts in its unit, shown at the end);
    ``record``: its run.json (an update's or a production fit's title, the finish time);
    ``data_warnings``: the data checks' lines (default: the record's).
    """
    folder, record = Path(folder), record or {}
    if subject.endswith(" run") and record.get("update"):
        subject = subject.replace(" run", " updated run")
    elif subject.endswith(" run") and config is not None and config.data.production_fit:
        subject = subject.replace(" run", " production run")
    if data_warnings is None:
        data_warnings = record.get("data_warnings")
    parts = [_warnings_section(data_warnings or ())]
    if (folder / "metrics.json").exists():
        metrics = read_json(folder / "metrics.json")
        parts.append(_metrics_section(metrics, _test_words(config, metrics.get("n_test", 0))))
    if (folder / "backtest.csv").exists():
        parts.extend(_backtest_sections(folder))
    if (folder / "compare.csv").exists():
        parts.append(f"<h2>Model comparison</h2>{_table(pd.read_csv(folder / 'compare.csv'))}")
    if (folder / "forecast.csv").exists():
        parts.append(f"<h2>Forecast</h2>{_table(pd.read_csv(folder / 'forecast.csv'))}")
    if (folder / "live.json").exists():
        parts.append(_live_section(read_json(folder / "live.json")))
    for name, caption in IMAGES:
        if (folder / name).exists():
            parts.append(f"<h2>{caption}</h2>{_image(folder / name, caption)}")
    parts.append(_config_section(config))
    return _write_page(folder, page_title(subject, record.get("finished")), parts)


def _backtest_sections(folder: Path) -> list[str]:
    """The backtest's verdict and pooled rows (per fold folded away), then its bands."""
    from forecast.evaluation.scoring import backtest_verdict

    table = pd.read_csv(folder / "backtest.csv")
    summary = read_json(folder / "backtest.json")
    parts = [
        f"<h2>Backtest</h2><p><b>{html.escape(backtest_verdict(summary))}</b></p>"
        f"{_table(table[table['fold'].astype(str) == 'all'])}"
        f"<details><summary>per fold</summary>"
        f"{_table(table[table['fold'].astype(str) != 'all'])}</details>"
    ]
    if (folder / "bands.csv").exists():
        parts.append(
            "<h2>Bands vs the random walk's band</h2><p>Coverage of the 80 % and "
            "95 % bands, mean width relative to the random walk's band and the "
            "interval (Winkler) score, lower is better, on the same test bars "
            "(pooled over folds); the random walk's band is calibrated on the same "
            "block with the same rule.</p>"
            f"{_table(pd.read_csv(folder / 'bands.csv'))}"
        )
    return parts


def write_batch_report(folder: str | Path, table: pd.DataFrame, verdict: str) -> Path:
    """DIR/report.html for a batch: the verdict, batch.png, the leaderboard with a link to
    each ticker's own report."""
    folder = Path(folder)
    linked = table.copy()
    for column in linked.columns:  # the table goes out unescaped for its links: escape here
        if linked[column].dtype == object or pd.api.types.is_string_dtype(linked[column]):
            linked[column] = [
                html.escape(value) if isinstance(value, str) else value for value in linked[column]
            ]
    linked["report"] = [
        f"<a href='{html.escape(str(run))}/report.html'>report</a>"
        if isinstance(run, str) and (folder / run / "report.html").exists()
        else "–"
        for run in table["run_folder"]
    ]
    messages = [
        (ticker, text)
        for ticker, text in zip(table["ticker"], table["message"])
        if isinstance(text, str) and text
    ]
    linked["message"] = [
        "see below" if isinstance(text, str) and text else "–" for text in table["message"]
    ]
    title = page_title(f"Batch of {len(table)} tickers")
    parts = [
        f"<p><b>{html.escape(verdict)}</b></p>",
        "<p>dm_p_value: the one-sided Diebold–Mariano test of each ticker's test "
        "forecasts against the naive forecast on the same bars (squared error); "
        "timing_p_value: the Pesaran–Timmermann test of its directional timing, which "
        "conditions on the market's up-rate; each *_q_value: Benjamini–Hochberg over "
        "the tickers that ran; live_*: the record of the forecasts issued since "
        "(batch --update). rmse_ratio &lt; 1 alone is no evidence.</p>",
    ]
    if (folder / "batch.png").exists():
        parts.append(_image(folder / "batch.png", "rmse_ratio per ticker"))
    parts.append(_table(linked.drop(columns=["run_folder"]), escape=False))
    if messages:
        parts.append(
            "<h2>Messages</h2><ul class='messages'>"
            + "".join(
                f"<li><b>{html.escape(str(ticker))}</b>: {html.escape(text)}</li>"
                for ticker, text in messages
            )
            + "</ul>"
        )
    return _write_page(folder, title, parts)


def write_sweep_report(
    folder: str | Path, table: pd.DataFrame, summary: dict, config: Config
) -> Path:
    """DIR/report.html for a sweep: the closing lines, sweep.png, the trials, the best run's
    test metrics beside naive, a link to best/report.html."""
    folder = Path(folder)
    title = page_title(f"{config.data.ticker} sweep of {summary['trials']} trials")
    parts = [
        "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in summary["lines"]) + "</ul>",
        f"<p>Objective: {html.escape(summary['objective'])}; lower is better, and "
        f"naive_objective is the naive forecast's score on the same rows. Trials never "
        f"received a test row. {summary['completed']} trials completed, "
        f"{summary['stopped_early']} were stopped early by ASHA, {summary['failed']} "
        f"failed.</p>",
    ]
    if (folder / "best" / "report.html").exists():
        parts.append(
            "<p><a href='best/report.html'>the best config's run (best/)</a>, "
            "retrained on all training rows and scored once on the test rows.</p>"
        )
    if (folder / "best" / "metrics.json").exists():
        metrics = read_json(folder / "best" / "metrics.json")
        parts.append(_metrics_section(metrics, _test_words(config, metrics.get("n_test", 0))))
    if (folder / "sweep.png").exists():
        parts.append(_image(folder / "sweep.png", "objective per trial"))
    parts.append(f"<h2>Trials</h2>{_table(table)}")
    parts.append(_text_file(folder / "best.yaml", "best.yaml"))
    return _write_page(folder, title, parts)
