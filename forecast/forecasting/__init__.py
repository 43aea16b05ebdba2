"""Forecasting: the Forecaster (fit, predict, save, load), the price paths of a fitted network
(recursive and direct), one forecast with its bands, conformal calibration, and the files a
forecaster is saved as."""
