"""The names of the statistical baselines every verdict can carry (``evaluation.baselines``;
fitted in forecast/forecasting/classical.py), and how sentences name them."""

CLASSICAL = ("arima", "ets", "theta")
WORDS = {"arima": "ARIMA", "ets": "ETS", "theta": "Theta"}
