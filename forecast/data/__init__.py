"""Data: load prices (sample, CSV, Yahoo Finance) → split in time order → scale → windows."""

from forecast.data.sources import data_fingerprint, load_prices, sample_path
from forecast.data.windows import Dataset, inverse_scale, make_windows, prepare_dataset

__all__ = ["Dataset", "data_fingerprint", "inverse_scale", "load_prices", "make_windows",
           "prepare_dataset", "sample_path"]
