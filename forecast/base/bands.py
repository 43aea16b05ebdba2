"""The names of the bands: how a forecast gets them, their levels, and their columns.

Every band comes beside the random walk's band from the same calibration block and rule
(forecast/forecasting/conformal.py); its columns carry the prefix ``rw_``.
"""

from __future__ import annotations

# forecast.band_method and --band-method: conformal (calibrated), mc_dropout (uncalibrated
# Monte-Carlo dropout), none (the point forecast alone)
BAND_METHODS = ("conformal", "mc_dropout", "none")
LEVELS = {"80": 0.80, "95": 0.95}  # band name -> nominal coverage
BAND_COLUMNS = ("lo80", "hi80", "lo95", "hi95")
RANDOM_WALK_PREFIX = "rw_"
RANDOM_WALK_COLUMNS = tuple(f"{RANDOM_WALK_PREFIX}{name}" for name in BAND_COLUMNS)
