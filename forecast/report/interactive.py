"""Interactive twins of the figures in plots.py: each function returns a Plotly Figure of the
same data (hover values, zoom, a range selector on dates); ``save`` writes its spec beside
the PNG (``NAME.plotly.json``) and the report page draws it offline with the folder's one
copy of plotly.js.

Text that comes from input (a ticker, a method name) is HTML-escaped: Plotly reads a subset
of HTML in labels.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from forecast.base import atomic
from forecast.base.baselines import CLASSICAL, SIMPLE
from forecast.data.interval import parse_timestamps
from forecast.report import HISTORY_BARS

SUFFIX = ".plotly.json"
TEMPLATE = "plotly_white"
BLUE, GRAY, BLACK, GREEN = "#1f77b4", "#7f7f7f", "#111111", "#2ca02c"
RANGES = (  # the range selector's buttons on a date axis
    {"count": 1, "label": "1m", "step": "month", "stepmode": "backward"},
    {"count": 6, "label": "6m", "step": "month", "stepmode": "backward"},
    {"count": 1, "label": "1y", "step": "year", "stepmode": "backward"},
    {"step": "all", "label": "all"},
)


def save(png_path: str | Path, figure: go.Figure) -> Path:
    """Write ``figure``'s spec as NAME.plotly.json beside NAME.png (atomically)."""
    path = spec_path(png_path)
    atomic.write_text(path, figure.to_json())
    return path


def spec_path(png_path: str | Path) -> Path:
    """NAME.plotly.json for NAME.png."""
    path = Path(png_path)
    return path.with_name(path.stem + SUFFIX)


def text(value: object) -> str:
    """Input text shown as it is written (Plotly would read tags in it)."""
    return html.escape(str(value), quote=False)


def _figure(title: str, yaxis: str, xaxis: str = "", height: int = 460) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title={"text": text(title), "x": 0.01},
        template=TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.18},
        yaxis_title=yaxis,
        xaxis_title=xaxis,
    )
    return figure


def _time_axis(figure: go.Figure, stamps: pd.DatetimeIndex) -> list[str]:
    """x values for bars: dates on a date axis with a range selector for daily and longer
    bars; intraday bars as labelled categories, so nights and weekends leave no gap."""
    stamps = pd.DatetimeIndex(stamps)
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)  # the exchange's wall clock, as the PNG shows
    if (stamps == stamps.normalize()).all():
        figure.update_xaxes(type="date", rangeselector={"buttons": list(RANGES)})
        return [stamp.strftime("%Y-%m-%d") for stamp in stamps]
    figure.update_xaxes(type="category", nticks=10)
    return [stamp.strftime("%Y-%m-%d %H:%M") for stamp in stamps]


def _line(x, y, name: str, colour: str, **style) -> go.Scatter:
    return go.Scatter(
        x=x,
        y=np.asarray(y, dtype="float64"),
        name=text(name),
        mode="lines",
        line={"color": colour, "width": style.pop("width", 1.4), **style.pop("line", {})},
        hovertemplate="%{y:.2f}",
        **style,
    )


def true_vs_predicted(predictions: pd.DataFrame, title: str) -> go.Figure:
    """Actual, the model's and the naive forecast's closes over the test bars."""
    figure = _figure(title, "price")
    x = _time_axis(figure, pd.DatetimeIndex(parse_timestamps(predictions["date"])))
    figure.add_trace(_line(x, predictions["actual"], "actual", BLACK))
    figure.add_trace(_line(x, predictions["predicted"], "model", BLUE))
    if "naive" in predictions:
        figure.add_trace(
            _line(x, predictions["naive"], "naive (previous close)", GRAY, line={"dash": "dot"})
        )
    return figure


def loss(history: dict[str, list[float]]) -> go.Figure:
    """Training and validation loss per epoch, log scale, whole-number epochs."""
    figure = _figure("Loss", "loss (scaled units)", "epoch", height=380)
    epochs = 0
    for key, label, colour in (("loss", "training", BLUE), ("val_loss", "validation", "#ff7f0e")):
        if history.get(key):
            values = history[key]
            epochs = max(epochs, len(values))
            figure.add_trace(
                go.Scatter(
                    x=np.arange(1, len(values) + 1),
                    y=np.asarray(values, dtype="float64"),
                    name=label,
                    mode="lines+markers",
                    marker={"size": 4},
                    line={"color": colour},
                    hovertemplate="%{y:.4g}",
                )
            )
    figure.update_yaxes(type="log")
    figure.update_xaxes(tick0=1, dtick=max(1, int(np.ceil(epochs / 12))), tickformat="d")
    return figure


def forecast(
    history: pd.Series, frame: pd.DataFrame, title: str, history_bars: int = HISTORY_BARS
) -> go.Figure:
    """Recent closes, the median forecast inside its 80 % and 95 % bands, and the random
    walk's 95 % band (the band to beat) where the forecast has one."""
    figure = _figure(title, "price")
    recent = history.iloc[-history_bars:]
    dates = parse_timestamps(frame["date"], pd.DatetimeIndex(history.index).tz)
    x = _time_axis(figure, pd.DatetimeIndex([*recent.index, *dates]))
    figure.add_trace(_line(x[: len(recent)], recent.to_numpy(), "history", BLACK))
    joined, last = x[len(recent) - 1 :], float(recent.iloc[-1])

    def band(column: str) -> np.ndarray:  # (steps + 1,): the fan starts at the last close
        return np.concatenate([[last], frame[column].to_numpy(dtype="float64")])

    for level, opacity in (("95", 0.15), ("80", 0.3)):
        if f"lo{level}" not in frame or not np.isfinite(band(f"lo{level}")[1:]).any():
            continue
        group = f"band{level}"
        figure.add_trace(
            _line(joined, band(f"lo{level}"), f"{level} % band (low)", BLUE, width=0).update(
                legendgroup=group, showlegend=False
            )
        )
        figure.add_trace(
            _line(joined, band(f"hi{level}"), f"{level} % band", BLUE, width=0).update(
                legendgroup=group,
                fill="tonexty",
                fillcolor=f"rgba(31,119,180,{opacity})",
            )
        )
    figure.add_trace(_line(joined, band("median"), "median", BLUE, width=2))
    if "rw_lo95" in frame and np.isfinite(band("rw_lo95")[1:]).any():
        for column, name, shown in (
            ("rw_lo95", "random walk's 95 % band", True),
            ("rw_hi95", "random walk's 95 % band (high)", False),
        ):
            figure.add_trace(
                _line(joined, band(column), name, GRAY, width=1, line={"dash": "dash"}).update(
                    legendgroup="random walk", showlegend=shown
                )
            )
    return figure


def live(history: pd.Series, journal: pd.DataFrame, title: str, issues: int = 12) -> go.Figure:
    """The closes that came, and each of the last ``issues`` forecasts issued: its median
    from its origin, one legend entry per issue, inside its 95 % band where it had one."""
    figure = _figure(title, "price")
    zone = pd.DatetimeIndex(history.index).tz
    targets = pd.DatetimeIndex(parse_timestamps(journal["target"], zone))
    origins = pd.DatetimeIndex(parse_timestamps(journal["origin"], zone))
    start = min(origins.min(), targets.min())
    shown = history[history.index >= start - (targets.max() - start) * 0.2]
    groups = list(
        journal.assign(_origin=origins, _target=targets).groupby(
            ["issued_utc", "origin", "model_sha256", "method"], sort=False
        )
    )[-issues:]
    every = pd.DatetimeIndex(sorted({*shown.index, *targets}))
    x = dict(zip(every, _time_axis(figure, every)))
    figure.add_trace(_line([x[stamp] for stamp in shown.index], shown.to_numpy(), "actual", BLACK))
    for number, ((_, origin, _, method), part) in enumerate(groups):
        part = part.sort_values("step")
        where = [x[stamp] for stamp in part["_target"]]
        shade = 0.25 + 0.65 * number / max(len(groups) - 1, 1)  # older darker, newer lighter
        colour = f"rgba(31,119,180,{shade:.2f})"
        name = f"issued at {origin} ({method})"
        if part["lo95"].notna().all():
            figure.add_trace(
                _line(where, part["lo95"], f"{name}: 95 % low", colour, width=0).update(
                    legendgroup=name, showlegend=False
                )
            )
            figure.add_trace(
                _line(where, part["hi95"], f"{name}: 95 % high", colour, width=0).update(
                    legendgroup=name,
                    showlegend=False,
                    fill="tonexty",
                    fillcolor=f"rgba(31,119,180,{shade * 0.15:.3f})",
                )
            )
        figure.add_trace(
            _line(where, part["median"], name, colour, width=1.2).update(
                legendgroup=name, mode="lines+markers", marker={"size": 4}
            )
        )
    return figure


def backtest(table: pd.DataFrame) -> go.Figure:
    """Per-fold RMSE of the model and each baseline, as grouped bars."""
    figure = _figure("Walk-forward backtest: error per fold", "RMSE (price units)", height=420)
    folds = table[table["fold"].astype(str) != "all"]
    for method in dict.fromkeys(folds["method"]):
        rows = folds[folds["method"] == method]
        figure.add_trace(
            go.Bar(
                x=[f"fold {fold}" for fold in rows["fold"]],
                y=rows["rmse"].astype("float64"),
                name=text(method),
                hovertemplate="%{y:.4f}",
            )
        )
    figure.update_layout(barmode="group")
    return figure


BASELINE_METHODS = (*SIMPLE, *CLASSICAL)


def compare(table: pd.DataFrame) -> go.Figure:
    """Pooled RMSE of each model family and baseline on the same folds, with the ratio to
    naive and the Diebold–Mariano p-value on hover."""
    figure = _figure(
        "Model families vs baselines (same folds, same test bars)",
        "RMSE over all folds",
        height=420,
    )
    for kind, chosen, colour in (
        ("model families", ~table["method"].isin(BASELINE_METHODS), BLUE),
        ("baselines", table["method"].isin(BASELINE_METHODS), GRAY),
    ):
        if not chosen.any():
            continue
        rows = table[chosen]
        figure.add_trace(
            go.Bar(
                x=[text(method) for method in rows["method"]],
                y=rows["rmse"].astype("float64"),
                name=kind,
                marker_color=colour,
                customdata=np.column_stack(
                    [rows["rmse_ratio"].astype("float64"), rows["dm_p_value"].astype("float64")]
                ),
                hovertemplate="RMSE %{y:.4f}, ratio to naive %{customdata[0]:.4f}, "
                "DM p %{customdata[1]:.4f}<extra></extra>",
            )
        )
    figure.update_layout(hovermode="closest")
    return figure


def batch(table: pd.DataFrame, significance: float = 0.05) -> go.Figure:
    """rmse_ratio per ticker that ran, sorted, a line at 1.0 (the naive forecast); green
    where the model beats naive after Benjamini–Hochberg."""
    ran = table[table["status"] == "ok"].sort_values("rmse_ratio", kind="stable")
    figure = _figure(
        f"{len(ran)} tickers: rmse_ratio (model RMSE / naive RMSE on the same test bars)",
        "",
        "rmse_ratio",
        height=160 + 22 * max(len(ran), 1),
    )
    beats = (ran["dm_q_value"].astype("float64") < significance).to_numpy()
    for name, chosen, colour in (
        (f"beats naive (DM q < {significance:g})", beats, GREEN),
        ("no better than naive", ~beats, GRAY),
    ):
        if not chosen.any():
            continue
        rows = ran[chosen]
        figure.add_trace(
            go.Bar(
                x=rows["rmse_ratio"].astype("float64"),
                y=[text(ticker) for ticker in rows["ticker"]],
                orientation="h",
                name=name,
                marker_color=colour,
                customdata=np.column_stack(
                    [rows["dm_p_value"].astype("float64"), rows["dm_q_value"].astype("float64")]
                ),
                hovertemplate="%{y}: rmse_ratio %{x:.4f}, DM p %{customdata[0]:.4f}, "
                "q %{customdata[1]:.4f}<extra></extra>",
            )
        )
    figure.add_vline(x=1.0, line_dash="dash", line_color=BLACK)
    figure.add_trace(  # the naive line's legend entry
        go.Scatter(
            x=[None],
            y=[None],
            mode="lines",
            name="naive (1.0)",
            line={"dash": "dash", "color": BLACK},
        )
    )
    order = [text(ticker) for ticker in ran["ticker"]]
    figure.update_yaxes(categoryorder="array", categoryarray=order[::-1])
    figure.update_layout(hovermode="closest")
    return figure
