"""Data: load bars (sample, CSV, Yahoo Finance) at any interval → check them → features →
split in time order → scale → windows."""

from forecast.data.sources import (MarketData, data_fingerprint, load_market, load_prices,
                                   sample_path)
from forecast.data.windows import Dataset, inverse_scale, make_windows, prepare_dataset

__all__ = ["Dataset", "MarketData", "data_fingerprint", "inverse_scale", "load_market",
           "load_prices", "make_windows", "prepare_dataset", "sample_path"]
