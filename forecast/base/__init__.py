"""The plumbing every layer may import: atomic writes, run.json, the user's cache folder, JSON
and missing values, names (closest-name hints, file-safe names), and the names of the bands.
Nothing here imports pandas, TensorFlow or another forecast package but ``errors``."""
