"""The sweep seen: each trial's objective in the order the search ran them, with the best so
far and the naive forecast's level, and each searched parameter against the objective.
``figure`` returns a matplotlib Figure, ``interactive`` its Plotly twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from forecast.report.interactive import BLACK, GRAY, TEMPLATE, text

COLOURS = {  # a trial's status; the same in both figures
    "completed": "#1f77b4",
    "stopped early": "#ff7f0e",
    "failed": "#d62728",
    "not finished": GRAY,
}


def figure(table: pd.DataFrame, space, objective: str, objective_name: str) -> Figure:
    """Top: each trial's objective in the order the search ran them, the best-so-far line
    over finished trials, and the naive forecast's score on the same rows. Below: each
    searched parameter against the objective (failed trials marked at the bottom)."""
    from forecast.base.values import cell_text

    parameters = list(space.parameters)
    columns = min(3, max(1, len(parameters)))
    rows = 1 + -(-len(parameters) // columns)
    figure = Figure(figsize=(4 * columns + 1, 3.2 * rows), layout="constrained")
    grid = figure.add_gridspec(rows, columns)
    top = figure.add_subplot(grid[0, :])
    trials = table["trial"].to_numpy()
    scores = table[objective].to_numpy(dtype="float64")
    finite = np.isfinite(scores)
    floor = np.nanmin(scores[finite]) if finite.any() else 0.0
    for status, colour in COLOURS.items():
        chosen = (table["status"] == status).to_numpy()
        if not chosen.any():
            continue
        shown = np.where(finite[chosen], scores[chosen], floor)
        top.scatter(
            trials[chosen],
            shown,
            color=colour,
            label=status,
            zorder=3,
            marker="x" if status == "failed" else "o",
        )
    counted = (table["status"] == "completed").to_numpy() & finite
    best_so_far = np.fmin.accumulate(np.where(counted, scores, np.nan))
    top.step(trials, best_so_far, where="post", color=BLACK, label="best so far (completed)")
    naive = table["naive_objective"].to_numpy(dtype="float64")
    if np.isfinite(naive).any():
        top.axhline(float(np.nanmedian(naive)), color=GRAY, linestyle="--", label="naive forecast")
    top.set_xlabel("trial")
    top.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel(objective_name.split(" (")[0])
    top.set_title(f"Sweep: {objective_name}; lower is better")
    top.grid(alpha=0.3)
    top.legend(fontsize=8)
    for index, parameter in enumerate(parameters):
        axes = figure.add_subplot(grid[1 + index // columns, index % columns])
        values = table[parameter.key]
        ran = finite
        if parameter.kind == "choice":  # the space's own order; CSV cells are text
            labels = [str(cell_text(value)) for value in parameter.values]
            positions = np.array(
                [labels.index(str(value)) if str(value) in labels else -1 for value in values],
                dtype="float64",
            )
            axes.set_xticks(range(len(labels)), labels, fontsize=8)
        else:
            positions = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
            if parameter.kind == "loguniform" or parameter.log:
                axes.set_xscale("log")
                axes.xaxis.set_minor_formatter(NullFormatter())
        if index % columns == 0:
            axes.set_ylabel("objective")
        colours = [COLOURS.get(status, GRAY) for status in table["status"]]
        axes.scatter(positions[ran], scores[ran], c=np.array(colours, dtype=object)[ran], s=18)
        axes.set_xlabel(parameter.key, fontsize=8)
        axes.grid(alpha=0.3)
    return figure


def interactive(table: pd.DataFrame, space, objective: str, objective_name: str) -> go.Figure:
    """Top: each trial's objective in the order the search ran them, the best so far over
    completed trials, and the naive forecast's score on the same rows. Below: each searched
    parameter against the objective (a trial without a score marked at the lowest one)."""
    from plotly.subplots import make_subplots

    parameters = list(space.parameters)
    columns = min(3, max(1, len(parameters)))
    rows = 1 + -(-len(parameters) // columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        specs=[[{"colspan": columns}, *[None] * (columns - 1)]]
        + [[{} for _ in range(columns)] for _ in range(rows - 1)],
        subplot_titles=[
            f"objective per trial ({text(objective_name)}); lower is better",
            *[text(parameter.key) for parameter in parameters],
        ],
        vertical_spacing=0.12 if rows > 1 else 0.0,
    )
    figure.update_layout(
        title={"text": "Sweep", "x": 0.01},
        template=TEMPLATE,
        height=380 + 280 * (rows - 1),
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        hovermode="closest",
        legend={"orientation": "h", "y": -0.08},
    )
    scores = table[objective].to_numpy(dtype="float64")
    _trials(figure, table, scores)
    for index, parameter in enumerate(parameters):
        _parameter(figure, table, scores, parameter, 2 + index // columns, 1 + index % columns)
    return figure


def _trials(figure: go.Figure, table: pd.DataFrame, scores: np.ndarray) -> None:
    """The top panel: each trial's objective by status, the best so far, the naive level."""
    trials = table["trial"].to_numpy()
    finite = np.isfinite(scores)
    shown = np.where(finite, scores, np.nanmin(scores[finite]) if finite.any() else 0.0)
    statuses = table["status"].to_numpy()
    for status, colour in COLOURS.items():
        chosen = statuses == status
        if chosen.any():
            figure.add_trace(
                go.Scatter(
                    x=trials[chosen],
                    y=shown[chosen],
                    mode="markers",
                    name=status,
                    legendgroup=status,
                    marker={
                        "color": colour,
                        "size": 8,
                        "symbol": "x" if status == "failed" else "circle",
                    },
                    hovertemplate=f"trial %{{x}} ({status}): %{{y:.4f}}<extra></extra>",
                ),
                row=1,
                col=1,
            )
    counted = (statuses == "completed") & finite
    figure.add_trace(
        go.Scatter(
            x=trials,
            y=np.fmin.accumulate(np.where(counted, scores, np.nan)),
            mode="lines",
            line={"shape": "hv", "color": BLACK},
            name="best so far (completed)",
            hovertemplate="best so far %{y:.4f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    naive = table["naive_objective"].to_numpy(dtype="float64")
    if np.isfinite(naive).any():
        level = float(np.nanmedian(naive))
        figure.add_trace(
            go.Scatter(
                x=[trials.min(), trials.max()],
                y=[level, level],
                mode="lines",
                line={"dash": "dash", "color": GRAY},
                name="naive forecast",
                hovertemplate="naive %{y:.4f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    figure.update_xaxes(title_text="trial", tickformat="d", row=1, col=1)


def _parameter(
    figure: go.Figure, table: pd.DataFrame, scores: np.ndarray, parameter, row: int, col: int
) -> None:
    """One searched parameter against the objective, coloured by the trial's status."""
    from forecast.base.values import cell_text

    finite = np.isfinite(scores)
    colours = [COLOURS.get(status, GRAY) for status in table["status"].to_numpy()]
    values = table[parameter.key]
    if parameter.kind == "choice":  # the space's own order; CSV cells are text
        labels = [str(cell_text(value)) for value in parameter.values]
        x = [text(value) for value in values.astype(str)]
        figure.update_xaxes(
            type="category",
            categoryorder="array",
            categoryarray=[text(label) for label in labels],
            row=row,
            col=col,
        )
    else:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        if parameter.kind == "loguniform" or parameter.log:
            figure.update_xaxes(type="log", row=row, col=col)
    figure.add_trace(
        go.Scatter(
            x=np.asarray(x, dtype=object)[finite],
            y=scores[finite],
            mode="markers",
            marker={"color": np.asarray(colours, dtype=object)[finite], "size": 7},
            customdata=table["trial"].to_numpy()[finite],
            name=text(parameter.key),
            showlegend=False,
            hovertemplate="trial %{customdata}: %{x} → %{y:.4f}<extra></extra>",
        ),
        row=row,
        col=col,
    )
    if col == 1:
        figure.update_yaxes(title_text="objective", row=row, col=col)
