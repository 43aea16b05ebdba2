"""The scalers, in NumPy: scikit-learn's ``MinMaxScaler`` and ``StandardScaler`` contracts
and attribute names (``data.scaling``: minmax | standard).

A scaler is fitted on the training rows only, saved by name in the run folder
(``scaler.json``, whose ``type`` says which) and applied by every command. Written here
rather than imported from scikit-learn so that forecasting from a run folder loads neither
scikit-learn nor the SciPy it pulls in (about 1.5 s): the arithmetic is scikit-learn's, to the
bit for MinMaxScaler and within 1e-13 for StandardScaler, whose variance scikit-learn sums in
another order (tests/test_windows.py compares them),

    MinMaxScaler:   scale_ = (high - low) / (data_max_ - data_min_)   (1 where the range is ~0)
                    min_   = low - data_min_ * scale_
                    transform(x) = x * scale_ + min_
    StandardScaler: scale_ = sqrt(var_)   (population variance; 1 where it is ~0)
                    transform(x) = (x - mean_) / scale_

A standardized log return is in units of its ticker's training volatility, so the tickers of
a global model see comparable inputs whatever their volatility, and one extreme training day
does not squeeze every other day into a sliver of the range as it does under min-max.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forecast.errors import RunError

FEATURE_RANGE = (0.0, 1.0)
_STATE_ARRAYS = ("data_min_", "data_max_", "scale_", "min_")
_STANDARD_ARRAYS = ("mean_", "var_", "scale_", "data_min_", "data_max_")


class MinMaxScaling:
    """Per-feature min-max scaling to ``feature_range``, fitted on the rows it is given."""

    def __init__(self, feature_range: tuple[float, float] = FEATURE_RANGE) -> None:
        self.feature_range = (float(feature_range[0]), float(feature_range[1]))

    def fit(self, values: np.ndarray) -> MinMaxScaling:
        """Learn each feature's range.  values: (n_rows,) or (n_rows, n_features)"""
        values = np.asarray(values, dtype="float64")
        values = values.reshape(len(values), -1)  # (n, F)
        low, high = self.feature_range
        self.data_min_ = np.nanmin(values, axis=0)  # (F,)
        self.data_max_ = np.nanmax(values, axis=0)
        self.data_range_ = self.data_max_ - self.data_min_
        safe_range = np.where(
            self.data_range_ < 10 * np.finfo("float64").eps, 1.0, self.data_range_
        )  # a constant feature: no division by ~0
        self.scale_ = (high - low) / safe_range
        self.min_ = low - self.data_min_ * self.scale_
        self.n_features_in_ = values.shape[1]
        self.n_samples_seen_ = values.shape[0]
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled values.  (..., F) -> (..., F)"""
        return np.asarray(values, dtype="float64") * self.scale_ + self.min_

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Back to the features' own units.  (..., F) -> (..., F)"""
        return (np.asarray(scaled, dtype="float64") - self.min_) / self.scale_

    def inverse_column(self, scaled: np.ndarray, column: int = 0) -> np.ndarray:
        """One feature's scaled values back to its units.  (n,) -> (n,)"""
        scaled = np.asarray(scaled, dtype="float64").reshape(-1)  # (n,)
        return (scaled - self.min_[column]) / self.scale_[column]

    def to_dict(self, features: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The fitted state under scikit-learn's attribute names (JSON, never a pickle); entry
        i of each array belongs to ``feature_names_in_[i]``."""
        state: dict[str, Any] = {
            "type": "MinMaxScaler",
            "feature_range": list(self.feature_range),
            "data_min_": self.data_min_.tolist(),
            "data_max_": self.data_max_.tolist(),
            "data_range_": self.data_range_.tolist(),
            "scale_": self.scale_.tolist(),
            "min_": self.min_.tolist(),
            "n_samples_seen_": int(self.n_samples_seen_),
            "n_features_in_": int(self.n_features_in_),
        }
        if features is not None and tuple(features) != ("close",):  # one close: layout unchanged
            state["feature_names_in_"] = [str(name) for name in features]
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any], source: str = "scaler.json") -> MinMaxScaling:
        """Rebuild a fitted scaler from ``to_dict`` output, checking its shapes."""
        try:
            scaler = cls(feature_range=tuple(float(v) for v in state["feature_range"]))
            arrays = {name: np.asarray(state[name], dtype="float64") for name in _STATE_ARRAYS}
            arrays["data_range_"] = np.asarray(
                state.get("data_range_", arrays["data_max_"] - arrays["data_min_"]), dtype="float64"
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RunError(
                f"{source}: not a MinMaxScaler state ({type(error).__name__}: "
                f"{error}); retrain the run"
            ) from None
        return _restored(scaler, arrays, state, source)


class StandardScaling:
    """Per-feature standardization: (x - mean) / standard deviation of the rows it is fitted
    on. Also keeps each feature's training range (``data_min_``, ``data_max_``; not
    scikit-learn's) so that ``update`` can say where new bars leave it."""

    def fit(self, values: np.ndarray) -> StandardScaling:
        """Learn each feature's mean and variance.  values: (n_rows,) or (n_rows, n_features)"""
        values = np.asarray(values, dtype="float64")
        values = values.reshape(len(values), -1)  # (n, F)
        self.n_samples_seen_ = values.shape[0]
        self.mean_ = np.nanmean(values, axis=0)  # (F,)
        self.var_ = np.nanvar(values, axis=0)  # population variance, as scikit-learn's
        eps = np.finfo("float64").eps
        n = self.n_samples_seen_
        constant = self.var_ <= n * eps * self.var_ + (n * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))  # no division by ~0
        self.data_min_ = np.nanmin(values, axis=0)
        self.data_max_ = np.nanmax(values, axis=0)
        self.n_features_in_ = values.shape[1]
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardized values.  (..., F) -> (..., F)"""
        return (np.asarray(values, dtype="float64") - self.mean_) / self.scale_

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        """Back to the features' own units.  (..., F) -> (..., F)"""
        return np.asarray(scaled, dtype="float64") * self.scale_ + self.mean_

    def inverse_column(self, scaled: np.ndarray, column: int = 0) -> np.ndarray:
        """One feature's scaled values back to its units.  (n,) -> (n,)"""
        scaled = np.asarray(scaled, dtype="float64").reshape(-1)  # (n,)
        return scaled * self.scale_[column] + self.mean_[column]

    def to_dict(self, features: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The fitted state under scikit-learn's attribute names (JSON, never a pickle)."""
        state: dict[str, Any] = {"type": "StandardScaler"}
        state.update({name: getattr(self, name).tolist() for name in _STANDARD_ARRAYS})
        state["n_samples_seen_"] = int(self.n_samples_seen_)
        state["n_features_in_"] = int(self.n_features_in_)
        if features is not None and tuple(features) != ("close",):
            state["feature_names_in_"] = [str(name) for name in features]
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any], source: str = "scaler.json") -> StandardScaling:
        """Rebuild a fitted scaler from ``to_dict`` output, checking its shapes."""
        try:
            arrays = {name: np.asarray(state[name], dtype="float64") for name in _STANDARD_ARRAYS}
        except (KeyError, TypeError, ValueError) as error:
            raise RunError(
                f"{source}: not a StandardScaler state ({type(error).__name__}: "
                f"{error}); retrain the run"
            ) from None
        return _restored(cls(), arrays, state, source)


Scaling = MinMaxScaling | StandardScaling


def _restored(
    scaler: Any, arrays: dict[str, np.ndarray], state: dict[str, Any], source: str
) -> Any:
    """``scaler`` with the saved arrays, once each is one finite value per named feature."""
    try:
        n_features = int(state.get("n_features_in_", arrays["scale_"].shape[0]))
        names = [str(name) for name in state.get("feature_names_in_", ["close"])]
    except (TypeError, ValueError) as error:
        raise RunError(
            f"{source}: not a scaler state ({type(error).__name__}: {error}); retrain the run"
        ) from None
    for name, array in arrays.items():
        if array.shape != (n_features,) or not np.isfinite(array).all():
            raise RunError(
                f"{source}: {name} has shape {array.shape}, expected "
                f"({n_features},) finite values; the file is damaged, retrain "
                f"the run"
            )
    if len(names) != n_features:
        raise RunError(
            f"{source}: names {len(names)} features for {n_features} columns; "
            f"the file is damaged, retrain the run"
        )
    for name, array in arrays.items():
        setattr(scaler, name, array)
    scaler.n_features_in_ = n_features
    scaler.n_samples_seen_ = int(state.get("n_samples_seen_", 0))
    return scaler


def new_scaler(scaling: str) -> Scaling:
    """An unfitted scaler of the kind ``data.scaling`` names (minmax | standard)."""
    return StandardScaling() if scaling == "standard" else MinMaxScaling(FEATURE_RANGE)


def scaler_from_dict(state: Any, source: str = "scaler.json") -> Scaling:
    """The fitted scaler a ``to_dict`` state describes, of the type it names (a state
    without one is a MinMaxScaler, as every run before ``data.scaling`` wrote)."""
    kind = state.get("type", "MinMaxScaler") if isinstance(state, dict) else "MinMaxScaler"
    if kind == "StandardScaler":
        return StandardScaling.from_dict(state, source)
    if kind != "MinMaxScaler":
        raise RunError(
            f"{source}: type {kind!r} is not a scaler this tool writes (MinMaxScaler, "
            f"StandardScaler); retrain the run"
        )
    return MinMaxScaling.from_dict(state, source)


def scaler_features(state: dict[str, Any]) -> tuple[str, ...]:
    """The feature names a saved scaler state was fitted on (older runs: the close alone)."""
    return tuple(state.get("feature_names_in_", ("close",)))
