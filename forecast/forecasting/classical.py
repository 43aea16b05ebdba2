"""Classical statistical baselines the LSTM is judged beside: ARIMA, ETS and Theta,
fitted by statsmodels on the training rows alone, then run over later bars with those
parameters fixed, so that each later bar's forecast reads only the bars before it (as the
LSTM's does). Forecasting needs only the parameters (``Fitted.state``, plain numbers) and
NumPy: the models' own recursions, checked against statsmodels' forecasts in the tests.

Each is fitted on the log of the training prices (prices span orders of magnitude; a log
model's errors scale with the price) and forecasts the price exp(log forecast), the median.

- **ARIMA(p,d,q)**: d from the KPSS test at 5 % on the training log prices (d = 1 when it
  rejects a stationary level, else 0; never more); the constant (the drift when d = 1) kept
  when it lowers the AICc of ARIMA(0,d,0); then p, q ∈ {0, 1, 2} by AICc (nine fits). On
  prices the search often lands on ARIMA(0,1,0): the naive forecast itself.
- **ETS**: additive error, no seasonality; trend none or additive damped, by AICc.
- **Theta**: Assimakopoulos & Nikolopoulos' method as Hyndman & Billah (2003) write it:
  simple exponential smoothing plus half the training trend line's slope (statsmodels'
  ``ThetaModel``, θ = 2, no deseasonalizing).

A series too short for a model, or a fit that fails or does not converge, leaves that model
out with a one-line note; nothing here raises for the data it is handed.

ARIMA's recursion starts its innovations at zero before the first bar (the conditional
form); statsmodels' Kalman filter starts from the stationary distribution. The two agree to
machine precision once the MA part has forgotten its start (tens of bars for an invertible
MA; the tests compare from bar 200).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from forecast.base.bands import LEVELS
from forecast.base.baselines import CLASSICAL

MIN_TRAINING_ROWS = {"arima": 30, "ets": 20, "theta": 10}  # below: left out, with a note
ORDERS = [(p, q) for p in range(3) for q in range(3)]  # ARIMA's p, q search


@dataclass
class Fitted:
    """One fitted baseline: its name, its label ("ARIMA(0,1,0) with drift"), what was fitted
    (metrics.json), the seconds its fit took, and ``state``: the numbers its forecasts need
    (``forecast_paths``)."""

    name: str
    label: str
    details: dict[str, Any]
    fit_seconds: float
    state: dict[str, Any]

    def paths(self, prices: np.ndarray, origins: np.ndarray, steps: int) -> np.ndarray:
        """Price forecasts 1..steps bars ahead from each origin o (bars before o known):
        (n_origins, steps)."""
        return forecast_paths(self.state, prices, origins, steps)

    def one_step(self, prices: np.ndarray, start: int) -> np.ndarray:
        """Forecasts of bars start..N-1 of ``prices`` (the training rows first, as fitted),
        each from the bars before it: (N - start,) prices."""
        origins = np.arange(start, len(prices))
        return self.paths(prices, origins, 1)[:, 0]

    def forecast(
        self, prices: np.ndarray, origins: np.ndarray, steps: int
    ) -> dict[str, np.ndarray]:
        """The forecast 1..steps bars ahead from each origin with the model's own prediction
        intervals: median, lo80, hi80, lo95, hi95, each (n_origins, steps) prices; the bands
        are its log forecast ± z times the h-step forecast error's standard deviation
        (``forecast_std``)."""
        median = self.paths(prices, origins, steps)  # (n, steps)
        log_paths = np.log(median)
        spread = forecast_std(self.state, steps)[None, :]  # (1, steps)
        result = {"median": median}
        for name, level in LEVELS.items():
            z = NormalDist().inv_cdf(0.5 + level / 2)
            result[f"lo{name}"] = np.exp(log_paths - z * spread)
            result[f"hi{name}"] = np.exp(log_paths + z * spread)
        return result

    def to_dict(self) -> dict[str, Any]:
        """What baselines.json holds of it: plain numbers and names."""
        return {
            "name": self.name,
            "label": self.label,
            "details": self.details,
            "fit_seconds": self.fit_seconds,
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Fitted:
        if values["state"]["model"] not in PATHS or values["name"] not in CLASSICAL:
            raise ValueError(f"unknown baseline model {values['state']['model']!r}")
        return cls(
            name=str(values["name"]),
            label=str(values["label"]),
            details=dict(values["details"]),
            fit_seconds=float(values["fit_seconds"]),
            state=dict(values["state"]),
        )


@dataclass(frozen=True)
class Baselines:
    """The baselines fitted on one block of training rows, and a note for each left out."""

    fitted: tuple[Fitted, ...]
    notes: tuple[str, ...] = ()
    rows: int = 0  # the training rows they were fitted on

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "fitted": [model.to_dict() for model in self.fitted],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Baselines:
        return cls(
            tuple(Fitted.from_dict(model) for model in values["fitted"]),
            tuple(str(note) for note in values["notes"]),
            int(values["rows"]),
        )


def fit_baselines(training_prices: np.ndarray, names: tuple[str, ...] = CLASSICAL) -> Baselines:
    """Fit each named model on ``training_prices`` (the training rows, in time order)."""
    prices = np.asarray(training_prices, dtype="float64")  # (n_train,)
    if not names:
        return Baselines((), (), len(prices))
    import statsmodels.tsa.api  # noqa: F401  (its import adds warning filters: before ours)

    fitted, notes = [], []
    for name in names:
        if len(prices) < MIN_TRAINING_ROWS[name]:
            notes.append(
                f"{name} left out: {len(prices)} training bars, it needs at least "
                f"{MIN_TRAINING_ROWS[name]}"
            )
            continue
        if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
            notes.append(f"{name} left out: the training prices are not all finite and > 0")
            continue
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # each fit's convergence is checked below
                model = FITTERS[name](np.log(prices))
        except FitFailed as failure:
            notes.append(f"{name} left out: {failure}")
            continue
        except (ValueError, np.linalg.LinAlgError, OverflowError) as error:
            notes.append(f"{name} left out: its fit failed ({type(error).__name__}: {error})")
            continue
        model.fit_seconds = time.perf_counter() - started
        fitted.append(model)
    return Baselines(tuple(fitted), tuple(notes), len(prices))


class FitFailed(Exception):
    """A model none of whose fits converged (the note says which)."""


def _converged(result: Any) -> bool:
    """Whether a statsmodels fit's optimizer says it converged, with finite parameters."""
    returns = getattr(result, "mle_retvals", None) or {}
    finite = np.all(np.isfinite(np.asarray(result.params, dtype="float64")))
    return bool(returns.get("converged", True)) and bool(finite)


def aicc(result: Any) -> float:
    value = float(result.aicc)
    return value if math.isfinite(value) else math.inf


def fit_arima(log_prices: np.ndarray) -> Fitted:
    """ARIMA(p,d,q) by AICc with d from KPSS (the module's docstring says how). With d = 1
    the ARMA part is fitted to the log returns by exact maximum likelihood (statsmodels'
    innovations MLE: the same model as ARIMA(p,1,q), several times faster to fit)."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.stattools import kpss

    _, kpss_p_value, *_ = kpss(log_prices, regression="c", nlags="auto")
    d = 1 if kpss_p_value < 0.05 else 0
    series = np.diff(log_prices) if d else log_prices  # (n_train - d,)

    def fit(p: int, q: int, trend: str) -> Any:
        return ARIMA(series, order=(p, 0, q), trend=trend).fit(method="innovations_mle")

    plain, with_constant = fit(0, 0, "n"), fit(0, 0, "c")
    trend = "c" if aicc(with_constant) < aicc(plain) else "n"
    candidates = {(0, 0): with_constant if trend == "c" else plain}
    for p, q in ORDERS[1:]:
        candidates[(p, q)] = fit(p, q, trend)
    usable = {order: result for order, result in candidates.items() if _converged(result)}
    if not usable:
        raise FitFailed(f"no ARIMA(p,{d},q) fit with p, q <= 2 converged")
    (p, q), best = min(usable.items(), key=lambda item: aicc(item[1]))
    words = {"n": "", "c": " with drift" if d else " with mean"}[trend]
    params = dict(zip(best.param_names, map(float, best.params)))
    return Fitted(
        name="arima",
        label=f"ARIMA({p},{d},{q}){words}",
        details={
            "order": [p, d, q],
            "trend": {"n": "none", "c": "drift" if d else "mean"}[trend],
            "kpss_p_value": float(kpss_p_value),
            "aicc": aicc(best),
            "params": params,
            "standard_errors": dict(zip(best.param_names, map(float, best.bse))),
            "candidates": len(candidates),
            "converged": len(usable),
        },
        fit_seconds=0.0,
        state={
            "model": "arima",
            "d": d,
            "mean": params.get("const", 0.0),  # statsmodels: the mean of the ARMA part
            "ar": [params[f"ar.L{lag}"] for lag in range(1, p + 1)],
            "ma": [params[f"ma.L{lag}"] for lag in range(1, q + 1)],
            "sigma2": params["sigma2"],
        },
    )


def fit_ets(log_prices: np.ndarray) -> Fitted:
    """ETS(A,N,N) or ETS(A,Ad,N), by AICc."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    results = {}
    for trend in ("N", "Ad"):
        damped = {"trend": "add", "damped_trend": True} if trend == "Ad" else {}
        result = ETSModel(log_prices, error="add", **damped).fit(disp=False)
        if _converged(result):
            results[trend] = result
    if not results:
        raise FitFailed("neither ETS(A,N,N) nor ETS(A,Ad,N) converged")
    trend, best = min(results.items(), key=lambda item: aicc(item[1]))
    return ets_fitted(best, trend)


def ets_fitted(result: Any, trend: str) -> Fitted:
    """The Fitted of a statsmodels ETS fit (``trend``: "N" or "Ad")."""
    params = dict(zip(result.param_names, map(float, result.params)))
    return Fitted(
        name="ets",
        label=f"ETS(A,{trend},N)",
        details={
            "trend": "none" if trend == "N" else "additive damped",
            "aicc": aicc(result),
            "params": params,
        },
        fit_seconds=0.0,
        state={
            "model": "ets",
            "alpha": params["smoothing_level"],
            "beta": params.get("smoothing_trend", 0.0),
            "phi": params.get("damping_trend", 0.0),
            "level": params["initial_level"],
            "trend": params.get("initial_trend", 0.0),
            "sigma2": float(result.mse),  # the one-step errors' mean square
        },
    )


def fit_theta(log_prices: np.ndarray) -> Fitted:
    """The Theta method (θ = 2): SES with α fitted, plus half the trend line's slope b0."""
    from statsmodels.tsa.forecasting.theta import ThetaModel

    result = ThetaModel(log_prices, deseasonalize=False).fit()
    b0, alpha = (float(value) for value in result.params)
    if not (math.isfinite(b0) and 0 < alpha <= 1):
        raise FitFailed(f"Theta's smoothing weight alpha {alpha} is outside (0, 1]")
    state = {"model": "theta", "alpha": alpha, "b0": b0}
    origins = np.arange(1, len(log_prices))
    errors = log_prices[1:] - _theta_paths(state, log_prices, origins, 1)[:, 0]  # (n - 1,)
    state["sigma2"] = float(np.mean(errors**2))
    return Fitted(
        name="theta",
        label="Theta",
        details={"b0": b0, "alpha": alpha},
        fit_seconds=0.0,
        state=state,
    )


FITTERS = {"arima": fit_arima, "ets": fit_ets, "theta": fit_theta}


# --- forecasting from the parameters (NumPy) ------------------------------------------------


def forecast_paths(
    state: dict[str, Any], prices: np.ndarray, origins: np.ndarray, steps: int
) -> np.ndarray:
    """Price forecasts 1..steps bars ahead from each origin o (bars before o known) of the
    model ``state`` describes: (n_origins, steps). Origins run from 1 to len(prices)."""
    log_prices = np.log(np.asarray(prices, dtype="float64"))  # (N,)
    origins = np.asarray(origins, dtype="int64")  # (n,)
    paths = PATHS[state["model"]](state, log_prices, origins, steps)  # (n, steps) log prices
    return np.exp(paths)


def _arima_paths(
    state: dict[str, Any], log_prices: np.ndarray, origins: np.ndarray, steps: int
) -> np.ndarray:
    """ARMA(p,q) with mean μ on u = s - μ, s the log returns (d = 1) or log prices (d = 0):
    u_k = Σ φ_i u_(k-i) + e_k + Σ θ_j e_(k-j). Innovations from the conditional recursion;
    forecasts with future innovations 0."""
    d, mean = int(state["d"]), float(state["mean"])
    ar, ma = np.asarray(state["ar"], "float64"), np.asarray(state["ma"], "float64")
    p, q = len(ar), len(ma)
    series = np.diff(log_prices) if d else log_prices  # (M,), M = N - d
    centered = series - mean
    innovations = np.zeros_like(centered)  # (M,)
    for k in range(len(centered)):
        value = centered[k]
        for lag in range(1, min(p, k) + 1):
            value -= ar[lag - 1] * centered[k - lag]
        for lag in range(1, min(q, k) + 1):
            value -= ma[lag - 1] * innovations[k - lag]
        innovations[k] = value
    # From origin o the first unknown element of ``series`` is k0 = o - d.
    first = origins - d  # (n,)
    width = max(p, q, 1)
    padded_u = np.concatenate([np.zeros(width), centered])  # index + width
    padded_e = np.concatenate([np.zeros(width), innovations])
    history_u = np.stack([padded_u[first + width - lag] for lag in range(1, width + 1)], 1)
    history_e = np.stack([padded_e[first + width - lag] for lag in range(1, width + 1)], 1)
    known = first[:, None] - np.arange(1, width + 1)[None, :] >= 0  # (n, width)
    history_u, history_e = history_u * known, history_e * known  # (n, width): lag 1 first
    forecasts = np.empty((len(origins), steps))  # (n, steps) of u
    for step in range(steps):
        value = history_u[:, :p] @ ar + history_e[:, :q] @ ma  # (n,)
        forecasts[:, step] = value
        history_u = np.concatenate([value[:, None], history_u[:, :-1]], 1)
        history_e = np.concatenate([np.zeros((len(origins), 1)), history_e[:, :-1]], 1)
    modelled = forecasts + mean  # (n, steps) of s
    if not d:
        return modelled
    return log_prices[origins - 1][:, None] + np.cumsum(modelled, axis=1)


def _ets_paths(
    state: dict[str, Any], log_prices: np.ndarray, origins: np.ndarray, steps: int
) -> np.ndarray:
    """ETS with additive error and an additive damped trend (none: β = φ = b = 0):
    ŷ_t = l + φb; l ← l + φb + αe; b ← φb + βe. h bars ahead: l + (φ + … + φ^h) b."""
    alpha, beta, phi = (float(state[key]) for key in ("alpha", "beta", "phi"))
    level, trend = float(state["level"]), float(state["trend"])
    levels = np.empty(len(log_prices) + 1)  # (N + 1,): the states before bar t, t = 0..N
    trends = np.empty(len(log_prices) + 1)
    levels[0], trends[0] = level, trend
    for t, value in enumerate(log_prices):
        error = value - (level + phi * trend)
        level, trend = level + phi * trend + alpha * error, phi * trend + beta * error
        levels[t + 1], trends[t + 1] = level, trend
    damping = np.cumsum(phi ** np.arange(1, steps + 1))  # (steps,)
    return levels[origins][:, None] + trends[origins][:, None] * damping[None, :]


def _theta_paths(
    state: dict[str, Any], log_prices: np.ndarray, origins: np.ndarray, steps: int
) -> np.ndarray:
    """Theta (θ = 2) as statsmodels forecasts it: the SES level started at the first bar,
    plus half of b0 (h - 1 + 1/α - (1 - α)^T / α) for T bars seen."""
    alpha, b0 = float(state["alpha"]), float(state["b0"])
    levels = np.empty(len(log_prices) + 1)  # (N + 1,): the SES forecast of bar t
    levels[0] = log_prices[0]
    for t, value in enumerate(log_prices):
        levels[t + 1] = alpha * value + (1 - alpha) * levels[t]
    seen = origins.astype("float64")[:, None]  # (n, 1)
    ahead = np.arange(steps, dtype="float64")[None, :]  # (1, steps): h - 1
    trend = b0 * (ahead + 1 / alpha - (1 - alpha) ** seen / alpha)
    return levels[origins][:, None] + 0.5 * trend


PATHS = {"arima": _arima_paths, "ets": _ets_paths, "theta": _theta_paths}


def forecast_std(state: dict[str, Any], steps: int) -> np.ndarray:
    """The standard deviation of the log forecast's error 1..steps bars ahead, (steps,):
    σ² Σ ψ_j² over the first h weights of the model's MA(∞) form (Hyndman & Athanasopoulos,
    "Forecasting: Principles and Practice", 3rd ed., §9.8 and §8.7): for ARIMA the ψ-weights
    (summed once more when d = 1); for ETS(A,Ad,N) 1, then α + β(φ + … + φ^j); for Theta
    its SES in ARIMA(0,1,1) form, 1 then α (the drift adds no variance)."""
    sigma2 = float(state["sigma2"])
    lags = np.arange(steps)  # j = 0 … steps - 1
    if state["model"] == "arima":
        ar, ma = state["ar"], state["ma"]
        weights = np.zeros(steps)  # ψ_j of the ARMA part
        for j in range(steps):
            value = 1.0 if j == 0 else (ma[j - 1] if j <= len(ma) else 0.0)
            for i in range(1, min(j, len(ar)) + 1):
                value += ar[i - 1] * weights[j - i]
            weights[j] = value
        if int(state["d"]):
            weights = np.cumsum(weights)  # the level integrates the returns
    elif state["model"] == "ets":
        alpha, beta, phi = (float(state[key]) for key in ("alpha", "beta", "phi"))
        damped = np.cumsum(phi ** np.arange(1, steps + 1))  # φ + … + φ^j
        weights = np.concatenate([[1.0], alpha + beta * damped[: steps - 1]])
    else:
        weights = np.where(lags == 0, 1.0, float(state["alpha"]))
    return np.sqrt(sigma2 * np.cumsum(weights**2))  # (steps,)
