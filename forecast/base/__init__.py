"""The plumbing every layer may import: atomic writes, the user's cache folder, JSON and
missing values, closest-name hints, and the names of the bands. Nothing here imports pandas,
TensorFlow or another forecast package."""
