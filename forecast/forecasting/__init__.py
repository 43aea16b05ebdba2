"""Forecasting past the last bar: recursive and direct sample paths, conformal calibration."""
