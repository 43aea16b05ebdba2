"""Figures for a run. Each function returns a matplotlib Figure; callers save or show it.

Figures are created without pyplot, so no global state builds up and no GUI is needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from forecast.base.baselines import CLASSICAL, SIMPLE
from forecast.data.interval import parse_timestamps
from forecast.data.windows import Dataset
from forecast.report import HISTORY_BARS


def time_axis(axes, stamps: pd.DatetimeIndex) -> np.ndarray | pd.DatetimeIndex:
    """x positions for bars: their dates for daily and longer bars; for intraday bars, the
    bar number, labelled with its timestamp, so nights and weekends leave no empty stretch."""
    stamps = pd.DatetimeIndex(stamps)
    if (stamps == stamps.normalize()).all():
        return stamps
    labels = [stamp.strftime("%Y-%m-%d\n%H:%M") for stamp in stamps]

    def label(position: float, _: object) -> str:
        index = int(round(position))
        return labels[index] if 0 <= index < len(labels) and abs(position - index) < 1e-6 else ""

    axes.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    axes.xaxis.set_major_formatter(FuncFormatter(label))
    return np.arange(len(stamps))


def plain(text: object) -> str:
    """Text as it is written: a ``$`` in a ticker or file name is not mathtext (an odd one
    would make matplotlib fail to draw the figure)."""
    return str(text).replace("$", r"\$")


def finish_axes(
    axes, title: str, xlabel: str = "date", ylabel: str = "price", legend: str | None = "best"
) -> None:
    """The labels, grid and legend every line plot here shares."""
    axes.set_title(plain(title))
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if legend is not None:
        axes.legend(loc=legend)


def plot_true_vs_predicted(
    predictions: pd.DataFrame, show_naive: bool = True, title: str = "True vs predicted close"
) -> Figure:
    """Actual and predicted closes over the test dates (the naive line optional)."""
    figure = Figure(figsize=(11, 5), layout="constrained")
    axes = figure.subplots()
    dates = time_axis(axes, pd.DatetimeIndex(parse_timestamps(predictions["date"])))
    axes.plot(dates, predictions["actual"], color="black", linewidth=1.2, label="actual")
    axes.plot(dates, predictions["predicted"], color="tab:blue", linewidth=1.2, label="model")
    if show_naive:
        axes.plot(
            dates,
            predictions["naive"],
            color="tab:orange",
            linewidth=0.8,
            alpha=0.8,
            linestyle="--",
            label="naive (previous close)",
        )
    finish_axes(axes, title)
    return figure


def plot_loss(history: dict[str, list[float]]) -> Figure:
    """Training and validation loss per epoch (log scale: MSE spans decades)."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        if history.get(key):
            epochs = np.arange(1, len(history[key]) + 1)
            axes.plot(epochs, history[key], marker="o", markersize=3, label=label)
    axes.set_yscale("log")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    finish_axes(axes, "Loss", "epoch", "loss (scaled units)")
    return figure


def plot_price_history(dataset: Dataset) -> Figure:
    """The whole close series, the training and test parts in different colours."""
    figure = Figure(figsize=(11, 4), layout="constrained")
    axes = figure.subplots()
    prices = dataset.prices
    axes.plot(
        prices.index[: dataset.n_train],
        prices.iloc[: dataset.n_train],
        color="tab:blue",
        label=f"training ({dataset.n_train} bars)",
    )
    axes.plot(
        prices.index[dataset.n_train :],
        prices.iloc[dataset.n_train :],
        color="tab:red",
        label=f"test ({len(prices) - dataset.n_train} bars)",
    )
    finish_axes(axes, "Close price history")
    return figure


def plot_scaled_training(dataset: Dataset) -> Figure:
    """What the network sees: training closes scaled by the training-only scaler (to [0, 1]
    under min-max)."""
    figure = Figure(figsize=(11, 3.5), layout="constrained")
    axes = figure.subplots()
    training = dataset.prices.iloc[: dataset.n_train]
    scaled = dataset.scaler.transform(training.to_numpy().reshape(-1, 1))[:, 0]  # (n_train,)
    axes.plot(training.index, scaled, color="tab:blue", label="scaled training closes")
    kind = dataset.scaler.to_dict()["type"]  # MinMaxScaler | StandardScaler
    if kind == "MinMaxScaler":
        axes.set_ylim(-0.05, 1.05)
    finish_axes(
        axes,
        f"Scaled training series ({kind} fitted on these rows only)",
        ylabel="scaled close",
        legend="upper left",
    )
    return figure


def plot_forecast(
    history: pd.Series,
    forecast: pd.DataFrame,
    history_days: int = HISTORY_BARS,
    title: str = "Forecast",
) -> Figure:
    """A fan chart: recent closes, then the median forecast inside its 80% and 95% bands,
    and the random walk's 95% band as a dashed outline where the forecast has one."""
    figure = Figure(figsize=(11, 5), layout="constrained")
    axes = figure.subplots()
    recent = history.iloc[-history_days:]
    dates = parse_timestamps(forecast["date"], pd.DatetimeIndex(history.index).tz)
    positions = time_axis(axes, pd.DatetimeIndex([*recent.index, *dates]))
    axes.plot(
        positions[: len(recent)], recent.to_numpy(), color="black", linewidth=1.2, label="history"
    )
    # Join the fan to the last close so the chart reads as one line.
    joined = positions[len(recent) - 1 :]
    last = float(recent.iloc[-1])

    def band(column: str) -> np.ndarray:
        return np.concatenate([[last], forecast[column].to_numpy()])

    axes.fill_between(
        joined, band("lo95"), band("hi95"), color="tab:blue", alpha=0.15, label="95% band"
    )
    axes.fill_between(
        joined, band("lo80"), band("hi80"), color="tab:blue", alpha=0.3, label="80% band"
    )
    axes.plot(joined, band("median"), color="tab:blue", linewidth=1.5, label="median")
    if "rw_lo95" in forecast:  # the band to beat: the naive forecast's, same rule and block
        for column, label in (("rw_lo95", "random walk's 95% band"), ("rw_hi95", None)):
            axes.plot(
                joined, band(column), color="dimgray", linestyle="--", linewidth=1, label=label
            )
    finish_axes(axes, title, legend="upper left")
    return figure


def plot_live(
    history: pd.Series, journal: pd.DataFrame, issues: int = 12, title: str = "Live record"
) -> Figure:
    """The realized closes over the forecasts issued, by issue: each of the last ``issues``
    forecasts' median from its origin, inside its 95 % band where it had one."""
    figure = Figure(figsize=(11, 5), layout="constrained")
    axes = figure.subplots()
    zone = pd.DatetimeIndex(history.index).tz
    targets = pd.DatetimeIndex(parse_timestamps(journal["target"], zone))
    origins = pd.DatetimeIndex(parse_timestamps(journal["origin"], zone))
    start = min(origins.min(), targets.min())
    shown = history[history.index >= start - (targets.max() - start) * 0.2]
    axes.plot(shown.index, shown.to_numpy(), color="black", linewidth=1.2, label="actual")
    groups = list(
        journal.assign(_origin=origins, _target=targets).groupby(
            ["issued_utc", "origin", "model_sha256", "method"], sort=False
        )
    )[-issues:]
    colours = sequential_colours(len(groups))
    banded = False
    for number, (colour, (_, part)) in enumerate(zip(colours, groups)):
        part = part.sort_values("step")
        axes.plot(
            part["_target"],
            part["median"].astype(float),
            color=colour,
            linewidth=1,
            marker=".",
            markersize=3,
            label=f"forecasts issued, median ({len(groups)}: dark older, light newer)"
            if number == 0
            else None,
        )
        if part["lo95"].notna().all():
            axes.fill_between(
                part["_target"],
                part["lo95"].astype(float),
                part["hi95"].astype(float),
                color=colour,
                alpha=0.12,
                label=None if banded else "their 95 % bands",
            )
            banded = True
    finish_axes(axes, title, legend="upper left")
    return figure


def sequential_colours(count: int) -> list:
    """``count`` colours along a perceptual colour map (one per forecast issued)."""
    from matplotlib import colormaps

    return [colormaps["viridis"](value) for value in np.linspace(0.1, 0.9, max(count, 1))]


def plot_backtest(table: pd.DataFrame) -> Figure:
    """Per-fold RMSE of the model and each baseline, as grouped bars."""
    folds = table[table["fold"] != "all"]
    methods = list(dict.fromkeys(folds["method"]))
    fold_numbers = sorted(set(folds["fold"]))
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(methods)
    for position, method in enumerate(methods):
        rows = folds[folds["method"] == method].set_index("fold").loc[fold_numbers]
        offsets = np.arange(len(fold_numbers)) + (position - (len(methods) - 1) / 2) * width
        axes.bar(offsets, rows["rmse"], width=width, label=method)
    axes.set_xticks(np.arange(len(fold_numbers)), [f"fold {n}" for n in fold_numbers])
    axes.set_ylabel("RMSE (price units)")
    axes.set_title("Walk-forward backtest: error per fold")
    axes.grid(alpha=0.3, axis="y")
    axes.legend()
    return figure


def plot_compare(table: pd.DataFrame) -> Figure:
    """Pooled RMSE of each model family and baseline on the same folds."""
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.subplots()
    baseline = table["method"].isin((*SIMPLE, *CLASSICAL)).to_numpy()
    positions = np.arange(len(table))
    for chosen, colour, label in (
        (~baseline, "tab:blue", "model families"),
        (baseline, "tab:gray", "baselines"),
    ):
        if chosen.any():
            axes.bar(positions[chosen], table["rmse"][chosen], color=colour, label=label)
    axes.set_xticks(positions, [plain(method) for method in table["method"]])
    axes.legend()
    for index, (ratio, p_value) in enumerate(zip(table["rmse_ratio"], table["dm_p_value"])):
        test = "" if pd.isna(p_value) else f"\nDM p {p_value:.2g}"
        axes.annotate(
            f"ratio {ratio:.3f}{test}",
            (index, table["rmse"].iloc[index]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axes.set_ylabel("RMSE over all folds")
    axes.set_title("Model families vs baselines (same folds, same test bars)")
    axes.grid(alpha=0.3, axis="y")
    return figure


def plot_batch(table: pd.DataFrame, significance: float = 0.05) -> Figure:
    """rmse_ratio per ticker that ran, sorted, a line at 1.0 (the naive forecast); green
    where the model beats naive by the Diebold–Mariano test after Benjamini–Hochberg, marked
    * where its directional timing survives Benjamini–Hochberg."""
    ran = table[table["status"] == "ok"].sort_values("rmse_ratio", kind="stable")
    figure = Figure(figsize=(9, 1.5 + 0.28 * max(len(ran), 1)), layout="constrained")
    axes = figure.subplots()
    ratios = ran["rmse_ratio"].astype("float64").to_numpy()
    beats = (ran["dm_q_value"].astype("float64") < significance).to_numpy()
    timing = (ran["timing_q_value"].astype("float64") < significance).to_numpy()
    positions = np.arange(len(ran))
    for chosen, colour, label in (
        (beats, "tab:green", "beats naive (DM, after Benjamini–Hochberg)"),
        (~beats, "tab:gray", "no better than naive"),
    ):
        if chosen.any():
            axes.barh(positions[chosen], ratios[chosen], color=colour, label=label)
    axes.set_yticks(
        positions,
        [plain(f"{ticker} *" if mark else ticker) for ticker, mark in zip(ran["ticker"], timing)],
    )
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linewidth=1, linestyle="--", label="naive (1.0)")
    axes.set_xlabel("rmse_ratio (model RMSE / naive RMSE on the same test bars)")
    axes.set_title(
        f"{len(ran)} tickers; green = beats naive (DM, Benjamini–Hochberg at "
        f"{significance:.0%}); * = directional timing after Benjamini–Hochberg"
    )
    axes.grid(alpha=0.3, axis="x")
    axes.legend(loc="lower right")
    return figure
