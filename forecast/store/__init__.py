"""Storage: run folders (what a trained forecaster needs to be used again) and atomic writes."""
