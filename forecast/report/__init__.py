"""Report: inverse-scaled predictions scored beside the naive forecast, and plots."""

from forecast.report.metrics import (METRIC_KEYS, forecast_metrics, format_metrics_table,
                                     mae, mape, predictions_frame, rmse)
from forecast.report.plots import (plot_loss, plot_price_history, plot_scaled_training,
                                   plot_true_vs_predicted)

__all__ = ["METRIC_KEYS", "forecast_metrics", "format_metrics_table", "mae", "mape",
           "plot_loss", "plot_price_history", "plot_scaled_training", "plot_true_vs_predicted",
           "predictions_frame", "rmse"]
