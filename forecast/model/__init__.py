"""Model: build the recurrent stack from config, then train it (TensorFlow imported here)."""

from forecast.model.build import build_model, layer_parameter_formula
from forecast.model.train import TrainingResult, fit_model, seed_everything

__all__ = ["TrainingResult", "build_model", "fit_model", "layer_parameter_formula",
           "seed_everything"]
