"""Evaluation: metrics beside the naive forecast, walk-forward backtests, model comparison,
band scores."""
