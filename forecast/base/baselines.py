"""The names of the simple baselines, of the statistical baselines every verdict can carry
(``evaluation.baselines``; fitted in forecast/forecasting/classical.py), and how sentences
name them."""

SIMPLE = ("naive", "drift", "moving_average")  # every backtest scores these
CLASSICAL = ("arima", "ets", "theta")
WORDS = {"arima": "ARIMA", "ets": "ETS", "theta": "Theta"}
