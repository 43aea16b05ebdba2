"""Data: load bars (sample, CSV, Yahoo Finance) at any interval → check them → features →
split in time order → scale → windows."""
