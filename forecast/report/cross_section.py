"""The cross-section seen, not only computed: the daily rank IC with its running mean, and
the long–short books' cumulative returns before and after costs, the model's beside the
reversal and momentum books on the same dates (``evaluation.cross_section.panel_series``).
``figure`` returns a matplotlib Figure, ``interactive`` its Plotly twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from forecast.report.interactive import TEMPLATE

BOOKS = (("model", "#1f77b4"), ("reversal", "#ff7f0e"), ("momentum", "#2ca02c"))
TITLE = "Across the cross-section: rank IC and long–short books"


def figure(series: pd.DataFrame) -> Figure:
    """Top: the daily rank IC (bars) and its running mean; bottom: each book's cumulative
    return per bar summed, solid after costs, dotted before."""
    result = Figure(figsize=(11, 7), layout="constrained")
    top, bottom = result.subplots(2, 1, sharex=True)
    dates = pd.DatetimeIndex(series.index)
    top.bar(dates, series["ic"], color="#9ecae1", label="daily rank IC")
    top.plot(dates, series["ic_running_mean"], color="black", label="running mean")
    top.axhline(0.0, color="gray", linewidth=0.8)
    top.set_ylabel("Spearman IC")
    top.set_title(TITLE)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    for name, colour in BOOKS:
        if series[name].notna().any():
            bottom.plot(
                dates,
                series[f"{name}_net"].fillna(0).cumsum(),
                color=colour,
                label=f"{name}, after costs",
            )
            bottom.plot(
                dates,
                series[name].fillna(0).cumsum(),
                color=colour,
                linestyle=":",
                label=f"{name}, before costs",
            )
    bottom.axhline(0.0, color="gray", linewidth=0.8)
    bottom.set_ylabel("cumulative return (sum per bar)")
    bottom.set_xlabel("date")
    bottom.legend(loc="upper left", fontsize=8, ncol=3)
    bottom.grid(alpha=0.3)
    return result


def interactive(series: pd.DataFrame) -> go.Figure:
    """The same two panels, with hover values and zoom."""
    from plotly.subplots import make_subplots

    dates = [stamp.strftime("%Y-%m-%d") for stamp in pd.DatetimeIndex(series.index)]
    result = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    result.add_trace(
        go.Bar(x=dates, y=series["ic"], name="daily rank IC", marker_color="#9ecae1"), 1, 1
    )
    result.add_trace(
        go.Scatter(
            x=dates,
            y=series["ic_running_mean"],
            name="running mean",
            line={"color": "black"},
            hovertemplate="%{y:.3f}",
        ),
        1,
        1,
    )
    for name, colour in BOOKS:
        if not series[name].notna().any():
            continue
        for suffix, label, dash in (("_net", "after costs", "solid"), ("", "before costs", "dot")):
            result.add_trace(
                go.Scatter(
                    x=dates,
                    y=np.cumsum(series[f"{name}{suffix}"].fillna(0).to_numpy()),
                    name=f"{name}, {label}",
                    line={"color": colour, "dash": dash},
                    hovertemplate="%{y:.4f}",
                ),
                2,
                1,
            )
    result.update_layout(
        title={"text": TITLE, "x": 0.01},
        template=TEMPLATE,
        height=620,
        hovermode="x unified",
        legend={"orientation": "h", "y": -0.12},
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    result.update_yaxes(title_text="Spearman IC", row=1, col=1)
    result.update_yaxes(title_text="cumulative return", row=2, col=1)
    return result
