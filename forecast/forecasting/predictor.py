"""A fitted network with the scaler of its training rows and its window settings: the price
paths they give from any origins, any number of steps ahead.

Forecasts past a bar are recursive: each prediction becomes the next input. With close-only
inputs the scaled prediction is appended to the window; a direct model (``model.horizon``
H > 1) gives H steps per call and recurses H at a time. With input features beside the
close, each step recomputes them along every path from its own predicted closes (log
returns, volatility, RSI, MACD) and from the future timestamps (calendar features); inputs the
model does not predict (volume, range, open, …) are known for one call only, so such a model
forecasts at most H bars (``max_steps``).

The network is the NumPy forward pass read from the run folder (no TensorFlow), or a Keras
model (``model.keras_network.KerasNetwork``) where Monte-Carlo dropout needs one: S sample
paths per origin, each step one batched call with dropout active, the spread of the paths
giving the bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecast.data.features import feature_matrix, recursable
from forecast.data.interval import count_words
from forecast.data.scaling import Scaling
from forecast.data.windows import SpecFields, WindowSpec, as_bars, scaled_to_prices
from forecast.errors import UserError, named
from forecast.model.recursion import recursive_outputs, shares_prefixes

QUANTILES = {"median": 0.5, "lo80": 0.1, "hi80": 0.9, "lo95": 0.025, "hi95": 0.975}
# Rows of history kept for recomputing indicators along the paths: an EMA's weight on
# anything older is below 1e-30, so the windows match the training features.
HISTORY_ROWS = 1000
RECOMPUTABLE = "close, log_return, volatility_N, rsi_N, macd, day_of_week, hour, month"


@dataclass(frozen=True)
class Predictor(SpecFields):
    """A trained network with the scaler fitted on its training rows and the window settings
    it was trained with: everything a forecast needs."""

    network: Any  # model.reference.Network, or KerasNetwork: predict(windows) -> (n, H)
    scaler: Scaling
    spec: WindowSpec

    @property
    def horizon(self) -> int:
        """H: the bars one call of the network gives (``model.horizon``)."""
        return self.network.outputs

    @property
    def close_only(self) -> bool:
        return self.features == ("close",)

    @property
    def column(self) -> int:
        """The forecast series' column among the inputs (and in the scaler)."""
        return self.spec.close_column

    @property
    def max_steps(self) -> int | None:
        """How many bars ahead this model can forecast; None: as many as asked.

        Close-only inputs recurse on the predictions; other inputs recurse only when every
        one can be recomputed along a path (one output per call). Otherwise the model knows
        its inputs for one call: H bars.
        """
        if self.close_only or (self.horizon == 1 and all(map(recursable, self.features))):
            return None
        return self.horizon

    @property
    def batched_steps(self) -> int | None:
        """How many bars ahead one batch over many origins computes (None: any): beside the
        close, steps past one call recompute the features origin by origin."""
        return None if self.close_only else self.horizon

    def check_steps(self, steps: int) -> None:
        """Refuse a forecast further ahead than ``max_steps``, saying why and what works."""
        limit = self.max_steps
        if limit is None or steps <= limit:
            return
        fixed = [name for name in self.features if not recursable(name)]
        past = f"cannot forecast past {count_words(limit, 'bar')}"
        why = (
            f"the model reads {', '.join(fixed)}, which it does not predict, so it {past} "
            f"(each later step would need their future values)"
            if fixed
            else f"a model.horizon {limit} model with inputs beside the close {past} (one call "
            f"of the network; it does not recurse)"
        )
        raise UserError(
            f"{named('steps', steps)}: {why}; use {named('steps', limit)}, train with "
            f"model.horizon {steps} (direct multi-step), or with features it can "
            f"recompute ({RECOMPUTABLE})"
        )

    def rows(self, bars: pd.DataFrame) -> np.ndarray:
        """Every bar's scaled inputs, as the network reads them.  Returns (N, F) float32."""
        scaled = self.scaler.transform(feature_matrix(self.features, bars, self.target))
        return scaled.astype("float32")

    def windows(self, bars: pd.DataFrame, origins: Any) -> np.ndarray:
        """The scaled input windows of the ``lookback`` rows before each origin, as the network
        reads them.  Returns (n, L, F) float32."""
        rows = self.rows(bars)  # (N, F)
        return np.stack([rows[origin - self.lookback : origin] for origin in origins])

    def paths(
        self,
        bars: pd.Series | pd.DataFrame,
        origins: Any,
        steps: int,
        samples: int = 1,
        dropout: bool = False,
        future_index: pd.DatetimeIndex | None = None,
    ) -> np.ndarray:
        """Price paths ``steps`` bars ahead from each origin (the first row forecast; each
        reads rows before it only).  Returns (n_origins, samples, steps).

        ``dropout``: sample with Monte-Carlo dropout (a ``KerasNetwork``); otherwise every
        sample is the deterministic path. ``future_index``: the timestamps after the last bar
        (calendar features of an origin at len(bars)); steps past the known timestamps are
        NaN.
        """
        bars = as_bars(bars)
        origins = np.asarray(origins, dtype="int64")  # (n,)
        prices = bars["price"].to_numpy(dtype="float64")
        batched = self.batched_steps
        if samples == 1 and not dropout and shares_prefixes(self.network, len(origins), steps):
            outputs = recursive_outputs(self.network, self.rows(bars), origins, steps)
            paths = self._prices(outputs, prices[origins - 1])  # (n, steps)
            return paths[:, np.newaxis, :]
        if batched is None or steps <= batched:
            windows = np.repeat(self.windows(bars, origins), samples, axis=0)  # (n·S, L, F)
            previous = np.repeat(prices[origins - 1], samples)  # (n·S,) each path's last close
            paths = self._recurse(windows, previous, steps, dropout)  # (n·S, steps)
            return paths.reshape(len(origins), samples, steps)
        index = pd.DatetimeIndex(bars.index)
        if future_index is not None:
            index = index.append(pd.DatetimeIndex(future_index))
        paths = np.full((len(origins), samples, steps), np.nan)
        for row, origin in enumerate(origins):
            ahead = min(steps, len(index) - origin)  # calendar features need each step's stamp
            paths[row, :, :ahead] = self._feature_paths(
                bars.iloc[:origin], ahead, samples, dropout, index[origin : origin + ahead]
            )
        return paths

    def _predict(self, windows: np.ndarray, dropout: bool) -> np.ndarray:
        if dropout:
            return self.network.predict(windows, dropout=True)
        return self.network.predict(windows)

    def _recurse(
        self, windows: np.ndarray, previous: np.ndarray, steps: int, dropout: bool
    ) -> np.ndarray:
        """Forecast ``steps`` bars from each scaled window, H per call of the network,
        feeding close-only predictions back in.  windows: (n, L, F); previous: (n,) each
        window's last close.  Returns (n, steps) prices."""
        outputs = []  # each (n, used) scaled
        step = 0
        while step < steps:
            output = self._predict(windows, dropout)  # (n, H) scaled
            used = min(output.shape[1], steps - step)
            outputs.append(output[:, :used])
            step += used
            if step < steps:
                if not self.close_only:  # a bug guard: paths() recomputes features instead
                    raise ValueError("inputs beside the close allow one call (H steps) only")
                windows = np.concatenate([windows, output[:, :used, np.newaxis]], axis=1)[
                    :, -self.lookback :
                ]  # (n, L, 1)
        return self._prices(np.concatenate(outputs, axis=1), previous)

    def _prices(self, outputs: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """Scaled outputs 1 .. steps bars ahead as prices, each step from the one before.
        outputs: (n, steps); previous: (n,) the last close before each.  Returns (n, steps)."""
        paths = np.empty(outputs.shape)  # (n, steps)
        previous = np.asarray(previous, dtype="float64")
        for step in range(outputs.shape[1]):
            previous = scaled_to_prices(
                self.scaler, outputs[:, step], previous, self.target, self.column
            )
            paths[:, step] = previous
        return paths

    def _feature_paths(
        self,
        history: pd.DataFrame,
        steps: int,
        samples: int,
        dropout: bool,
        future_index: pd.DatetimeIndex,
    ) -> np.ndarray:
        """One origin's paths with every input recomputed at every step from each path's own
        predicted closes and the future timestamps.  Returns (samples, steps)."""
        bars = history.iloc[-(self.lookback + HISTORY_ROWS) :]
        index = pd.DatetimeIndex(bars.index).append(pd.DatetimeIndex(future_index))
        known = bars["price"].to_numpy(dtype="float64")  # (T,)
        closes = np.empty((len(known) + steps, samples))  # (T + steps, S) closes per path
        closes[: len(known)] = known[:, np.newaxis]
        window = np.repeat(
            feature_matrix(self.features, bars, self.target)[np.newaxis, -self.lookback :],
            samples,
            axis=0,
        )  # (S, L, F) before step 0
        for step in range(steps):
            rows = len(known) + step
            if step > 0:
                frame = pd.DataFrame({"price": closes[:rows, 0]}, index=index[:rows])
                values = feature_matrix(
                    self.features, frame, self.target, paths=closes[:rows]
                )  # (rows, S, F)
                window = values[-self.lookback :].transpose(1, 0, 2)  # (S, L, F)
            scaled = self.scaler.transform(window).astype("float32")  # (S, L, F)
            output = self._predict(scaled, dropout)  # (S, H)
            closes[rows] = scaled_to_prices(
                self.scaler, output[:, 0], closes[rows - 1], self.target, self.column
            )
        return closes[len(known) :].T  # (S, steps)

    def sample_quantiles(
        self,
        bars: pd.Series | pd.DataFrame,
        origins: Any,
        steps: int,
        samples: int,
        seed: int,
        future_index: pd.DatetimeIndex | None = None,
    ) -> dict[str, np.ndarray]:
        """Monte-Carlo dropout: the median and the 80 %/95 % quantiles of ``samples`` paths
        per origin and step (dropout masks reset from ``seed``: the same run and seed give the
        same bands).  Returns {median, lo80, hi80, lo95, hi95: (n_origins, steps)}."""
        self.network.reseed(seed)
        paths = self.paths(
            bars, origins, steps, samples=samples, dropout=True, future_index=future_index
        )  # (n, S, steps)
        return {name: np.quantile(paths, q, axis=1) for name, q in QUANTILES.items()}
