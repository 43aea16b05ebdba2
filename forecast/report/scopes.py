"""The global model beside one network per ticker (``compare --tickers``): each ticker's
rmse_ratio under both scopes (below 1 is closer than naive, which alone is no evidence), and
the long–short books after costs, the two scopes' beside reversal's and momentum's on the
same dates. ``figure`` returns a matplotlib Figure, ``interactive`` its Plotly twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure

from forecast.report.interactive import TEMPLATE, text

COLOURS = {"global": "#1f77b4", "local": "#9467bd", "reversal": "#ff7f0e", "momentum": "#2ca02c"}
TITLE = "Global model beside one network per ticker"


def _ratios(table: pd.DataFrame) -> pd.DataFrame:
    """ticker × scope: the rmse_ratio of each ticker tested."""
    tested = table[table["status"] == "ok"]
    return tested.pivot(index="ticker", columns="scope", values="rmse_ratio").astype("float64")


def figure(table: pd.DataFrame, books: dict[str, pd.Series]) -> Figure:
    """Top: each ticker's rmse_ratio, global and local side by side; bottom (with three or
    more tickers): each book's cumulative return after costs (sum per bar)."""
    ratios = _ratios(table)
    result = Figure(figsize=(11, 7.5 if books else 4.5), layout="constrained")
    top, bottom = result.subplots(2, 1) if books else (result.subplots(), None)
    positions = np.arange(len(ratios))
    width = 0.8 / max(1, len(ratios.columns))
    for index, scope in enumerate(ratios.columns):
        top.bar(
            positions + (index - (len(ratios.columns) - 1) / 2) * width,
            ratios[scope],
            width,
            color=COLOURS.get(scope, "gray"),
            label=scope,
        )
    top.axhline(1.0, color="black", linewidth=0.8, linestyle="--", label="naive (1.0)")
    top.set_xticks(positions, [str(ticker).replace("$", r"\$") for ticker in ratios.index])
    top.set_ylabel("rmse_ratio (model / naive)")
    top.set_title(TITLE)
    top.legend(loc="best", fontsize=8)
    top.grid(alpha=0.3, axis="y")
    if bottom is not None:
        for name, returns in books.items():
            bottom.plot(
                pd.DatetimeIndex(returns.index),
                returns.fillna(0).cumsum(),
                color=COLOURS.get(name, "gray"),
                label=f"{name}, after costs",
            )
        bottom.axhline(0.0, color="gray", linewidth=0.8)
        bottom.set_ylabel("cumulative return (sum per bar)")
        bottom.set_xlabel("date")
        bottom.set_title("Long–short books (top/bottom of the predicted or signal ranks)")
        bottom.legend(loc="upper left", fontsize=8, ncol=4)
        bottom.grid(alpha=0.3)
    return result


def interactive(table: pd.DataFrame, books: dict[str, pd.Series]) -> go.Figure:
    """The same panels, with hover values and zoom."""
    from plotly.subplots import make_subplots

    ratios = _ratios(table)
    rows = 2 if books else 1
    result = make_subplots(rows=rows, cols=1, vertical_spacing=0.14)
    tickers = [text(ticker) for ticker in ratios.index]
    for scope in ratios.columns:
        result.add_trace(
            go.Bar(
                x=tickers,
                y=ratios[scope].to_numpy(),
                name=text(scope),
                marker_color=COLOURS.get(scope, "gray"),
                hovertemplate="%{x}: %{y:.4f}<extra>" + text(scope) + "</extra>",
            ),
            1,
            1,
        )
    result.add_hline(y=1.0, line_dash="dash", line_color="black", row=1, col=1)
    for name, returns in books.items():
        result.add_trace(
            go.Scatter(
                x=[stamp.strftime("%Y-%m-%d") for stamp in pd.DatetimeIndex(returns.index)],
                y=np.cumsum(returns.fillna(0).to_numpy()),
                name=f"{text(name)} book, after costs",
                line={"color": COLOURS.get(name, "gray")},
                hovertemplate="%{y:.4f}",
            ),
            rows,
            1,
        )
    result.update_layout(
        title={"text": TITLE, "x": 0.01},
        template=TEMPLATE,
        height=640 if books else 420,
        barmode="group",
        legend={"orientation": "h", "y": -0.12},
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
    )
    result.update_yaxes(title_text="rmse_ratio (model / naive)", row=1, col=1)
    if books:
        result.update_yaxes(title_text="cumulative return", row=2, col=1)
    return result
