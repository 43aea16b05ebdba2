"""Error metrics in price units, always beside the naive last-value forecast on the same bars,
and always with the test that says whether a difference is more than noise
(``evaluation.significance``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from forecast.base.names import program_name
from forecast.base.values import number, optional
from forecast.evaluation.significance import diebold_mariano, p_text, verdict_word

METRIC_KEYS = (
    "rmse",
    "mae",
    "mape",
    "naive_rmse",
    "naive_mae",
    "naive_mape",
    "rmse_ratio",
    "dm_statistic",
    "dm_p_value",
    "dm_p_value_abs",
    "dm_p_value_drift",
)
NAIVE = "the naive last-value forecast"


def rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error."""
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return float(np.sqrt(np.mean(error**2)))


def mae(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute error."""
    error = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return float(np.mean(np.abs(error)))


def mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Mean absolute percentage error, in percent (prices are > 0, so it is defined)."""
    actual = np.asarray(actual, dtype="float64")
    error = np.asarray(predicted, dtype="float64") - actual
    return float(np.mean(np.abs(error / actual)) * 100.0)


def rmse_ratio(actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray) -> float:
    """RMSE over the naive forecast's RMSE on the same bars (Theil's U2): < 1 is a lower
    RMSE, which alone says nothing about noise (see ``dm_p_value``)."""
    naive_error = rmse(actual, naive)
    return rmse(actual, predicted) / naive_error if naive_error > 0 else math.inf


def forecast_metrics(
    actual: np.ndarray, predicted: np.ndarray, naive: np.ndarray, horizon: int = 1
) -> dict[str, Any]:
    """Model and naive errors on exactly the same bars, and the Diebold–Mariano test of the
    model against naive: one-sided p on squared error (the RMSE claim, ``dm_p_value``) and on
    absolute error (the MAE claim, ``dm_p_value_abs``); None where untestable."""
    if not len(actual) == len(predicted) == len(naive):
        raise ValueError("actual, predicted and naive must cover the same days")
    squared = diebold_mariano(actual, predicted, naive, horizon, "squared")
    absolute = diebold_mariano(actual, predicted, naive, horizon, "absolute")
    return {
        "rmse": rmse(actual, predicted),
        "mae": mae(actual, predicted),
        "mape": mape(actual, predicted),
        "naive_rmse": rmse(actual, naive),
        "naive_mae": mae(actual, naive),
        "naive_mape": mape(actual, naive),
        "rmse_ratio": rmse_ratio(actual, predicted, naive),
        "dm_statistic": optional(squared.statistic),
        "dm_p_value": optional(squared.p_value),
        "dm_p_value_abs": optional(absolute.p_value),
    }


def point_verdict(
    ratio: float,
    p_value: float | None,
    subject: str = "the model",
    other: str = NAIVE,
    n: int | None = None,
    reason: str = "",
) -> str:
    """'the model beats the naive last-value forecast (rmse_ratio 0.981, DM p 0.003 over
    429 bars)', or 'is worse than …', or 'is no better than … (…: within noise)'."""
    p_value = number(p_value)
    if math.isfinite(p_value):
        numbers = f"rmse_ratio {ratio:.3f}, DM {p_text(p_value)}{f' over {n} bars' if n else ''}"
    else:
        numbers = f"rmse_ratio {ratio:.3f}; no DM test: {reason or 'untestable'}"
    word = verdict_word(p_value)
    if word == "beats":
        return f"{subject} beats {other} ({numbers})"
    if word == "worse than":
        return f"{subject} is worse than {other} ({numbers})"
    return f"{subject} is no better than {other} ({numbers}: within noise)"


def metrics_verdict(metrics: dict[str, Any]) -> str:
    """The verdict of a run's test metrics (metrics.json), in words: against naive, where
    absolute error disagrees, and against the drift forecast (whose average step is all an
    edge over naive may be)."""

    def word(key: str) -> str:
        return verdict_word(number(metrics.get(key)))

    line = point_verdict(metrics["rmse_ratio"], metrics.get("dm_p_value"), n=metrics.get("n_test"))
    absolute = metrics.get("dm_p_value_abs")
    if absolute is not None and word("dm_p_value_abs") != word("dm_p_value"):
        phrase = {
            "beats": "beats it",
            "worse than": "is worse than it",
            "no better than": "is no better than it",
        }[word("dm_p_value_abs")]
        line += f"; on absolute error (MAE) it {phrase} (DM {p_text(absolute)})"
    drift = metrics.get("dm_p_value_drift")
    if "dm_p_value_drift" in metrics:
        test = f"DM {p_text(drift)}" if drift is not None else "untestable"
        beats_naive = word("dm_p_value") == "beats"
        if word("dm_p_value_drift") == "beats":
            line += f"; it beats the drift forecast{' too' if beats_naive else ''} ({test})"
        else:
            line += f"; it is {word('dm_p_value_drift')} the drift forecast ({test})" + (
                ", so its edge over naive is the average drift" if beats_naive else ""
            )
    strongest = strongest_verdict(metrics)
    if strongest:  # a "beats" above is qualified in the same breath when this is not one
        qualified = word("dm_p_value") == "beats" and word("dm_p_value_strongest") != "beats"
        line += f"{', but' if qualified else ';'} {strongest}"
    return line[0].upper() + line[1:] + "."


def strongest_verdict(metrics: dict[str, Any], subject: str = "it") -> str:
    """'' when the strongest baseline is naive or drift (the verdict already tests both);
    else the model against it (``versus_strongest``)."""
    name = metrics.get("strongest_baseline")
    if name in (None, "naive", "drift") or name not in metrics.get("baselines", {}):
        return ""
    row = metrics["baselines"][name]
    return versus_strongest(
        row["label"], row["model_rmse_ratio"], metrics.get("dm_p_value_strongest"), subject
    )


def versus_strongest(label: str, ratio: float, p_value: float | None, subject: str) -> str:
    """'it is no better than ETS(A,N,N), the strongest baseline here (RMSE 1.002× its, DM p
    0.41: within noise)', or 'beats …', or 'is worse than …'; ``ratio``: the model's RMSE
    over the baseline's, ``p_value``: the model's one-sided DM p against it."""
    p_value = number(p_value)
    word = verdict_word(p_value)
    test = f"DM {p_text(p_value)}" if math.isfinite(p_value) else "untestable"
    numbers = f"RMSE {ratio:.3f}× its, {test}"
    label = f"{label}, the strongest baseline here"
    if word == "beats":
        return f"{subject} beats {label} ({numbers})"
    if word == "worse than":
        return f"{subject} is worse than {label} ({numbers})"
    return f"{subject} is no better than {label} ({numbers}: within noise)"


def tested(metrics: dict) -> bool:
    """Whether a metrics.json scored test rows; a production fit's has none (the config's
    ``data.production_fit`` says the same before anything is scored)."""
    return bool(metrics.get("n_test"))


def production_text() -> str:
    """What a production fit is, with the commands that score one (as the user calls them)."""
    return (
        "a production fit on every bar (data.test_fraction 0): no test rows, so "
        "nothing to score here; its forecasts start from the newest bar. The "
        f"procedure's out-of-sample score: {program_name()} backtest --config "
        "RUN/config.yaml --set data.test_fraction=0.2; the live record: forecast, then "
        "score when the bars come"
    )


# --- backtest diagnostics -------------------------------------------------------------------


def mase(actual: np.ndarray, predicted: np.ndarray, training_prices: np.ndarray) -> float:
    """MAE scaled by the in-sample one-step naive MAE on the training prices (< 1: better
    than the naive forecast was in-sample)."""
    scale = float(np.mean(np.abs(np.diff(np.asarray(training_prices, dtype="float64")))))
    return mae(actual, predicted) / scale if scale > 0 else float("inf")


def directional_accuracy(
    actual: np.ndarray, predicted: np.ndarray, previous: np.ndarray
) -> tuple[float, int, int]:
    """(share, hits, days): days where the predicted move from today's close has the sign
    of the actual move. Days with no actual or no predicted move are left out (a forecast
    of "no change", like the naive one, has no direction). Whether that share is skill is
    the Pesaran–Timmermann test's question (``significance.pesaran_timmermann``)."""
    actual_move = np.sign(np.asarray(actual, dtype="float64") - previous)
    predicted_move = np.sign(np.asarray(predicted, dtype="float64") - previous)
    counted = (actual_move != 0) & (predicted_move != 0)
    days = int(counted.sum())
    hits = int((actual_move[counted] == predicted_move[counted]).sum())
    return (hits / days if days else float("nan")), hits, days


def best_lag(actual: np.ndarray, predicted: np.ndarray, max_lag: int = 5) -> int:
    """The lag k (−max_lag..max_lag) where the predicted daily changes correlate best with
    the actual changes k days earlier. +1 means the model mostly repeats yesterday's move."""
    actual_change = np.diff(np.asarray(actual, dtype="float64"))
    predicted_change = np.diff(np.asarray(predicted, dtype="float64"))
    best, best_correlation = 0, -np.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            a, p = actual_change[: len(actual_change) - lag], predicted_change[lag:]
        else:
            a, p = actual_change[-lag:], predicted_change[: len(predicted_change) + lag]
        if len(a) < 3 or np.std(a) == 0 or np.std(p) == 0:
            continue
        correlation = float(np.corrcoef(a, p)[0, 1])
        if correlation > best_correlation:
            best, best_correlation = lag, correlation
    return best
