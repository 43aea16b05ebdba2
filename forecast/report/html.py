"""report.html, one page per folder that opens offline: what a run's, a batch's and a
sweep's page hold, top-down, each table with its chart under one heading (the building
blocks are in page.py)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base.values import read_json
from forecast.config import Config, config_to_dict
from forecast.report import page
from forecast.report.page import page_title


def _text_file(path: Path, heading: str) -> str:
    """A YAML file shown as it is, under its heading ('' when there is none)."""
    if not path.exists():
        return ""
    return f"<h2>{heading}</h2><pre>{html.escape(path.read_text())}</pre>"


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


def _metrics_section(metrics: dict, words: str, chart: str = "") -> str:
    from forecast.evaluation.metrics import production_text, tested

    if not tested(metrics):
        return (
            f"<h2>Production fit</h2><p>This run is {html.escape(production_text())} (with "
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
        f"<h2>Test metrics</h2>{page.table(frame)}<p>On the same {words}: "
        f"<b>{html.escape(metrics_verdict(metrics))}</b> The Diebold–Mariano test (one-sided, "
        f"squared error) says whether a lower RMSE is more than noise.</p>{chart}"
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
        + (page.table(pd.DataFrame(rows)) if rows else "")
        + (f"<ul class='warnings'>{items}</ul>" if items else "")
    )


def _live_section(summary: dict, chart: str = "") -> str:
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
    table = page.table(pd.DataFrame(rows)) if rows else ""
    return (
        f"<h2>Live record</h2><p><b>{html.escape(summary['verdict'])}</b></p>"
        f"<p>Every forecast in journal.csv matched with the bar that came at its target "
        f"(live.csv, live.json); {summary['pending']} are still pending.</p>{table}{chart}"
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
    # Top-down, each table with its chart under one heading.
    parts = [_warnings_section(data_warnings or ())]
    if (folder / "metrics.json").exists():
        metrics = read_json(folder / "metrics.json")
        chart = page.chart(folder, "true_vs_predicted.png", "True vs predicted (test set)")
        words = _test_words(config, metrics.get("n_test", 0))
        parts.append(_metrics_section(metrics, words, chart))
    if (folder / "loss.png").exists():
        parts.append(f"<h2>Loss</h2>{page.chart(folder, 'loss.png', 'Loss per epoch')}")
    if (folder / "backtest.csv").exists():
        parts.extend(_backtest_sections(folder))
    if (folder / "compare.csv").exists():
        parts.append(
            f"<h2>Model comparison</h2>{page.table(pd.read_csv(folder / 'compare.csv'))}"
            + page.chart(folder, "compare.png", "Model comparison")
        )
    if (folder / "forecast.csv").exists():
        parts.append(
            "<h2>Forecast</h2>"
            + page.chart(folder, "forecast.png", "Forecast")
            + page.table(pd.read_csv(folder / "forecast.csv"))
        )
    if (folder / "live.json").exists():
        chart = page.chart(folder, "live.png", "Live record: forecasts issued and what came")
        parts.append(_live_section(read_json(folder / "live.json"), chart))
    parts.append(_config_section(config))
    return page.write_page(folder, page_title(subject, record.get("finished")), parts)


def _backtest_sections(folder: Path) -> list[str]:
    """The backtest's verdict and pooled rows (per fold folded away), then its bands."""
    from forecast.evaluation.scoring import backtest_verdict

    table = pd.read_csv(folder / "backtest.csv")
    summary = read_json(folder / "backtest.json")
    parts = [
        f"<h2>Backtest</h2><p><b>{html.escape(backtest_verdict(summary))}</b></p>"
        f"{page.table(table[table['fold'].astype(str) == 'all'])}"
        f"<details><summary>per fold</summary>"
        f"{page.table(table[table['fold'].astype(str) != 'all'])}</details>"
        + page.chart(folder, "backtest.png", "Walk-forward backtest: error per fold")
    ]
    if (folder / "bands.csv").exists():
        parts.append(
            "<h2>Bands vs the random walk's band</h2><p>Coverage of the 80 % and "
            "95 % bands, mean width relative to the random walk's band and the "
            "interval (Winkler) score, lower is better, on the same test bars "
            "(pooled over folds); the random walk's band is calibrated on the same "
            "block with the same rule.</p>"
            f"{page.table(pd.read_csv(folder / 'bands.csv'))}"
        )
    return parts


def write_batch_report(
    folder: str | Path,
    table: pd.DataFrame,
    verdict: str,
    subject: str = "Batch",
    charts: tuple[tuple[str, str], ...] = (),
) -> Path:
    """DIR/report.html for a batch (or a global run, ``subject``): the verdict, batch.png,
    the leaderboard with a link to each ticker's own report, then ``charts`` (file name,
    caption)."""
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
    title = page_title(f"{subject} of {len(table)} tickers")
    parts = [
        f"<p><b>{html.escape(verdict)}</b></p>",
        ""
        if "dm_p_value" not in table.columns
        else "<p>dm_p_value: the one-sided Diebold–Mariano test of each ticker's test "
        "forecasts against the naive forecast on the same bars (squared error); "
        "timing_p_value: the Pesaran–Timmermann test of its directional timing, which "
        "conditions on the market's up-rate; each *_q_value: Benjamini–Hochberg over "
        "the tickers that ran; "
        + (
            "live_*: the record of the forecasts issued since (batch --update). "
            if any(str(column).startswith("live_") for column in table.columns)
            else ""
        )
        + "rmse_ratio &lt; 1 alone is no evidence.</p>",
    ]
    parts.append(page.chart(folder, "batch.png", "rmse_ratio per ticker"))
    parts.append(page.table(linked.drop(columns=["run_folder"]), escape=False))
    for name, caption in charts:
        parts.append(f"<h2>{html.escape(caption)}</h2>" + page.chart(folder, name, caption))
    if messages:
        parts.append(
            "<h2>Messages</h2><ul class='messages'>"
            + "".join(
                f"<li><b>{html.escape(str(ticker))}</b>: {html.escape(text)}</li>"
                for ticker, text in messages
            )
            + "</ul>"
        )
    return page.write_page(folder, title, parts)


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
    parts.append(page.chart(folder, "sweep.png", "objective per trial"))
    parts.append(f"<h2>Trials</h2>{page.table(table)}")
    parts.append(_text_file(folder / "best.yaml", "best.yaml"))
    return page.write_page(folder, title, parts)


def write_scopes_report(
    folder: str | Path,
    table: pd.DataFrame,
    scopes: pd.DataFrame,
    verdict: str,
    config: Config | None = None,
) -> Path:
    """DIR/report.html for compare --tickers: the verdict, the chart, the scopes and the
    classic signals side by side, then the leaderboard per (ticker, scope)."""
    folder = Path(folder)
    tickers = int(table.loc[table["status"] == "ok", "ticker"].nunique())
    parts = [
        f"<p><b>{html.escape(verdict)}</b></p>",
        page.chart(folder, "scopes.png", "rmse_ratio per ticker and scope; the books"),
        "<h2>Scopes and signals</h2><p>Both scopes are the same config fitted on the same "
        "tickers, cut at the same dates: one network on all of them (global) or one each "
        "(local). beat_naive_bh: tickers whose one-sided Diebold–Mariano test against naive "
        "holds after Benjamini–Hochberg; pooled_dm_p_value: the same test on the daily mean "
        "loss differential across tickers; ic: the daily rank IC of predicted vs realized "
        "returns; book_net_bp: the long–short book's mean return a bar after costs. "
        "Reversal and momentum trade the same dates by the same rule.</p>",
        page.table(scopes),
        "<h2>Per ticker</h2><p>head_to_head_p_value: the one-sided DM test of this scope "
        "against the other on the ticker's test bars (small: this scope's error is lower); "
        "each *_q_value: Benjamini–Hochberg over the tickers. rmse_ratio &lt; 1 alone is no "
        "evidence.</p>",
        page.table(table),
        _config_section(config),
    ]
    title = page_title(f"Global vs local on {tickers} tickers")
    return page.write_page(folder, title, parts)
