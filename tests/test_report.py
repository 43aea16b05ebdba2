"""Metrics against hand-computed values, and figures returned (never shown)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from forecast.evaluation.metrics import forecast_metrics
from forecast.forecasting.forecast import predictions_frame
from forecast.report.plots import plot_loss, plot_true_vs_predicted
from forecast.report.text import format_metrics_table


def test_metrics_by_hand():
    actual = np.array([100.0, 102.0, 101.0])
    predicted = np.array([101.0, 100.0, 101.0])  # errors +1, -2, 0
    naive = np.array([99.0, 100.0, 102.0])  # errors -1, -2, +1
    metrics = forecast_metrics(actual, predicted, naive)
    assert metrics["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert metrics["mae"] == pytest.approx(1.0)
    assert metrics["mape"] == pytest.approx((1 / 100 + 2 / 102) / 3 * 100)
    assert metrics["naive_rmse"] == pytest.approx(np.sqrt(6 / 3))
    assert metrics["naive_mae"] == pytest.approx(4 / 3)
    assert metrics["rmse_ratio"] == pytest.approx(np.sqrt(5 / 6))
    table = format_metrics_table({**metrics, "n_test": 3})
    # three bars prove nothing: the verdict carries the DM test and says so
    assert "model" in table and "naive" in table
    assert table.splitlines()[-1].startswith(
        "The model is no better than the naive last-value forecast (rmse_ratio 0.913, DM p "
    )
    assert table.endswith("over 3 bars: within noise).")


def test_metrics_need_the_same_days():
    with pytest.raises(ValueError):
        forecast_metrics(np.ones(3), np.ones(3), np.ones(2))


def test_figures_are_returned():
    dates = pd.bdate_range("2024-01-01", periods=5)
    frame = predictions_frame(dates, np.arange(5.0) + 1, np.arange(5.0) + 1.5, np.arange(5.0))
    assert list(frame.columns) == ["date", "actual", "predicted", "naive"]
    figure = plot_true_vs_predicted(frame)
    assert isinstance(figure, Figure)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["actual", "model", "naive (previous close)"]
    assert len(plot_true_vs_predicted(frame, show_naive=False).axes[0].get_lines()) == 2
    loss = plot_loss({"loss": [1.0, 0.5], "val_loss": [1.2, 0.6]})
    assert len(loss.axes[0].get_lines()) == 2


def test_backtest_metrics_by_hand():
    from forecast.evaluation.bands import coverage
    from forecast.evaluation.metrics import directional_accuracy, mase, rmse_ratio

    training = np.array([10.0, 11.0, 13.0, 12.0])  # in-sample naive MAE = (1+2+1)/3 = 4/3
    actual = np.array([12.0, 14.0])
    predicted = np.array([13.0, 13.0])  # MAE 1
    assert mase(actual, predicted, training) == pytest.approx(1 / (4 / 3))
    naive = np.array([12.0, 12.0])  # RMSE sqrt((0 + 4) / 2)
    assert rmse_ratio(actual, predicted, naive) == pytest.approx(1.0 / np.sqrt(2))
    previous = np.array([10.0, 12.0, 12.0, 12.0, 12.0])
    moves_actual = np.array([11.0, 11.0, 13.0, 12.0, 14.0])  # up, down, up, flat, up
    moves_model = np.array([10.5, 12.5, 13.0, 13.0, 12.0])  # up, up, up, up, flat
    share, hits, days = directional_accuracy(moves_actual, moves_model, previous)
    assert (hits, days) == (2, 3) and share == pytest.approx(2 / 3)
    assert coverage(
        np.array([1.0, 2.0, 3.0, 4.0]), np.full(4, 1.5), np.full(4, 3.0)
    ) == pytest.approx(0.5)


def test_lag_diagnostic_finds_a_copy_of_yesterday():
    from forecast.evaluation.metrics import best_lag

    actual = 100 + np.cumsum(np.random.default_rng(5).normal(0, 1, 300))
    shifted = np.concatenate([[actual[0]], actual[:-1]])  # predicted = yesterday's actual
    assert best_lag(actual, shifted) == 1
    assert best_lag(actual, actual) == 0
