"""The forecaster: an LSTM price model with scikit-learn's habits.

    forecaster = Forecaster("quick").fit(bars)    # a DataFrame of bars or a price Series
    forecast = forecaster.predict(steps=10)       # the next 10 bars, bands beside the walk's
    forecaster.save("runs/mine")                  # a run folder every command reads
    Forecaster.load("runs/mine").predict(steps=5)

Nothing is written until ``save``: ``fit`` cuts the bars by time, fits the scaler on the
training rows alone, trains the configured network and calibrates the conformal bands on the
validation block, all in memory; ``predict`` forecasts from the newest bar (or from newer
bars it is given). The train and forecast commands are thin writers around these. A loaded
forecaster forecasts with the NumPy network (no TensorFlow) unless MC dropout needs Keras.

Given several series at once (a mapping of ticker to bars), ``fit`` fits one network per
ticker, each split as a single series is, and ``predict`` forecasts every ticker (a
``ticker`` column); ``forecaster[ticker]`` is that ticker's own forecaster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from forecast.base import atomic
from forecast.base.bands import BAND_METHODS
from forecast.base.marker import MARKER, mark_complete, read_marker
from forecast.base.names import safe_name
from forecast.config import Config, config_hash, load_config
from forecast.data.bars import read_bars, write_bars
from forecast.data.scaling import Scaling
from forecast.data.sources import MarketData, data_fingerprint, market_from_frame, source_label
from forecast.data.windows import Dataset, WindowSpec, prepare_dataset
from forecast.errors import RunError, UserError, named
from forecast.forecasting import state
from forecast.forecasting.classical import Baselines, fit_baselines
from forecast.forecasting.conformal import Calibration, fit_calibration
from forecast.forecasting.forecast import (
    Forecast,
    calibration_steps,
    forecast_bars,
    predict_test_prices,
    predictions_frame,
)
from forecast.forecasting.members import each_frame, forecast_each
from forecast.forecasting.predictor import Predictor


class Forecaster:
    """One configured network for one series (or one per series of several), fitted in
    memory, saved as a run folder. ``config``: a Config, a shipped config's name, a YAML
    path, or None for the default."""

    def __init__(self, config: Config | str | Path | None = None) -> None:
        self.config = config if isinstance(config, Config) else load_config(config)
        self.bars_: pd.DataFrame | None = None  # the bars it was fitted on
        self.scaler_: Scaling | None = None  # fitted on the training rows alone
        self.calibration_: Calibration | None = None  # the bands' calibration
        self.baselines_: Baselines | None = None  # ARIMA, ETS, Theta on the training rows
        self.history_: dict[str, list[float]] = {}  # loss per epoch
        self.epochs_run_ = 0
        self.train_seconds_ = 0.0
        self.data_warnings_: tuple[str, ...] = ()
        self.model_: Any = None  # the Keras model (read from model.keras when asked)
        self.path_: Path | None = None  # the folder it was saved to or loaded from
        self.record_: dict[str, Any] = {}  # that folder's run.json
        self.members_: dict[str, Forecaster] = {}  # per ticker, when fitted on several
        self.panel_: Any = None  # model.scope global: the tickers' split (data.panel.Panel)
        self.ticker_index_: int | None = None  # a global member's row of the ticker embedding
        self._dataset: Dataset | None = None
        self._network: Any = None

    # --- state --------------------------------------------------------------------------

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec.from_config(self.config)

    @property
    def fitted(self) -> bool:
        return self.scaler_ is not None or bool(self.members_)

    @property
    def tickers(self) -> tuple[str, ...]:
        """The series it forecasts: the tickers it was fitted on."""
        return tuple(self.members_) if self.members_ else (self.config.data.ticker,)

    def __getitem__(self, ticker: str) -> Forecaster:
        if not self.members_ and ticker == self.config.data.ticker:
            return self
        if ticker not in self.members_:
            raise UserError(
                f"{named('ticker', ticker)}: not one of the fitted tickers "
                f"{', '.join(self.tickers)}"
            )
        return self.members_[ticker]

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise UserError("the forecaster is not fitted yet: call fit(bars) or load(folder)")

    def dataset(self) -> Dataset:
        """The bars it was fitted on, split and windowed with its fitted scaler."""
        self._require_fitted()
        if self._dataset is None:
            self._dataset = prepare_dataset(
                self.bars_, self.spec, scaler=self.scaler_, label=self.label
            )
        return self._dataset

    def network(self) -> Any:
        """The NumPy forward pass of the trained network (``model.reference.Network``)."""
        self._require_fitted()
        if self._network is None:
            from forecast.model.reference import Network

            if self.model_ is not None:
                self._network = Network.from_keras(self.model_)
            else:
                self._network = state.read_network(self.path_ / state.MODEL)
            self._network = self._for_ticker(self._network)
        return self._network

    def _for_ticker(self, network: Any) -> Any:
        """A global member's network with an embedding takes this ticker's windows."""
        if self.ticker_index_ is None:
            return network
        from forecast.model.embedding import TickerNetwork

        return TickerNetwork(network, self.ticker_index_)

    def keras_model(self) -> Any:
        """The trained Keras model, with the layers it was trained with (TensorFlow)."""
        self._require_fitted()
        if self.model_ is None:
            from forecast.model.saving import load_model

            self.model_ = load_model(self.path_ / state.MODEL, self.config)
        return self.model_

    def predictor(self, dropout: bool = False) -> Predictor:
        """Price paths from the fitted network: the NumPy one, or with ``dropout`` the Keras
        model (Monte-Carlo dropout needs TensorFlow)."""
        if dropout:
            from forecast.model.keras_network import KerasNetwork

            network = self._for_ticker(KerasNetwork(self.keras_model()))
            return Predictor(network, self.scaler_, self.spec)
        return Predictor(self.network(), self.scaler_, self.spec)

    @property
    def label(self) -> str:
        """Its bars as messages name them: the run's prices.csv, or the configured source."""
        if self.path_ is not None:
            return str(self.path_ / state.PRICES)
        return source_label(self.config.data)

    # --- fit ----------------------------------------------------------------------------

    def fit(
        self,
        bars: pd.DataFrame | pd.Series | MarketData | Mapping[str, Any],
        *,
        scaler: Scaling | Mapping[str, Scaling] | None = None,
        start: Path | None = None,
        checkpoints: Path | None = None,
        resume: bool = False,
        callbacks: Sequence[Any] = (),
        on_epoch: Callable[[int], None] | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> Forecaster:
        """Fit on ``bars``: split by time, scale on the training rows, train, calibrate.

        ``bars``: a frame of bars (``price``, or the config's date and price columns), a
        price Series, loaded ``MarketData``, or a mapping of ticker to any of these (one
        network per ticker). ``scaler``: a fitted scaler to keep instead (an update keeps its
        parent's; by ticker for a global fit). ``start``: a model file to warm-start from,
        weights and optimizer state.
        ``checkpoints``: a folder to keep the training state in after every epoch (the
        config's CSV log and TensorBoard files go there too); with ``resume``, continue from
        the state found there. ``callbacks``: Keras callback objects, after those the
        config names. ``on_epoch``: called with each finished epoch's number (after its
        checkpoint). ``echo``: where the summary and progress lines go (None: nowhere).
        """
        if isinstance(bars, Mapping) and self.config.model.scope == "global":
            from forecast.forecasting.global_fit import fit_global

            return fit_global(
                self,
                bars,
                callbacks=callbacks,
                on_epoch=on_epoch,
                echo=echo,
                scalers=scaler if isinstance(scaler, Mapping) else None,
                start=start,
            )
        if isinstance(bars, Mapping):  # one network each (at the config's cut dates, if any)
            from forecast.forecasting.global_fit import fit_local

            return fit_local(self, bars, callbacks=callbacks, echo=echo)
        if self.config.model.ticker_embedding:
            raise UserError(
                f"model.ticker_embedding {self.config.model.ticker_embedding}: tells several "
                f"tickers of one network apart; fit a mapping of tickers (train --tickers), or "
                f"set it to 0 for one series"
            )
        if not isinstance(bars, MarketData):  # bars given in Python: nothing to read again
            given = replace(self.config.data, source="frame", path=None)
            bars = market_from_frame(bars, given, source_label(given))
        market = bars
        config = replace(self.config, data=market.data)
        dataset = prepare_dataset(
            market.bars, WindowSpec.from_config(config), scaler=scaler, label=market.label
        )
        if checkpoints is not None and not resume:  # what resuming this fit starts from
            state.write_config(checkpoints, config)
            write_bars(checkpoints / state.PRICES, market.bars)
            state.write_scaler(checkpoints, dataset.scaler, config.data.features)
        from forecast.model.train import train_network

        started = time.perf_counter()
        model, result = train_network(
            config,
            dataset,
            checkpoints=checkpoints,
            resume=resume,
            start=start,
            callbacks=callbacks,
            on_epoch=on_epoch,
            echo=echo,
        )
        self.train_seconds_ = time.perf_counter() - started  # this session's (not a resume's)
        self.config, self.bars_, self.data_warnings_ = config, market.bars, market.warnings
        self.scaler_, self.model_, self._dataset = dataset.scaler, model, dataset
        self._network = None
        self.history_, self.epochs_run_ = result.history, result.epochs_run
        self.calibrate(dataset, echo)
        return self

    def calibrate(self, dataset: Dataset, echo: Callable | None = None) -> None:
        """The bands' calibration on the validation block and the statistical baselines on
        the training rows, after the network is trained."""
        predictor = self.predictor()
        say = echo or (lambda line: None)
        steps, started = calibration_steps(predictor), time.perf_counter()
        baselines = self.config.evaluation.baselines
        if len(dataset.y_val):
            say(
                f"calibrating the bands on the {len(dataset.y_val)} validation windows, "
                f"horizons 1-{steps} …"
            )
        self.calibration_ = fit_calibration(
            predictor, self.bars_.iloc[: dataset.n_train], len(dataset.y_val), steps
        )
        if baselines:
            say(
                f"fitting the baselines ({', '.join(baselines)}) on the {dataset.n_train} "
                f"training bars …"
            )
        self.baselines_ = fit_baselines(dataset.prices.to_numpy()[: dataset.n_train], baselines)
        if len(dataset.y_val) or baselines:
            say(f"calibrated and fitted in {time.perf_counter() - started:.0f} s")

    # --- predict ------------------------------------------------------------------------

    def predict_test(self) -> pd.DataFrame:
        """One row per test bar: date, actual, predicted (the Keras model, as training scored
        it), naive (the previous close). No rows for a production fit."""
        if self.members_:
            return each_frame(self.members_, lambda member: member.predict_test())
        dataset = self.dataset()
        predicted = (
            predict_test_prices(self.keras_model(), dataset, self.ticker_index_)
            if len(dataset.y_test)
            else []
        )
        return predictions_frame(
            dataset.test_dates, dataset.test_prices, predicted, dataset.previous_prices
        )

    def predict(
        self,
        steps: int = 30,
        bars: pd.DataFrame | pd.Series | MarketData | None = None,
        band_method: str | None = None,
        samples: int = 100,
        alphas: dict | None = None,
    ) -> Forecast:
        """The ``steps`` bars after the newest bar of ``bars`` (default: the bars it was
        fitted on), with bands as ``band_method`` says (default: forecast.band_method) beside
        the random walk's band from the same calibration block and rule. A level the block
        is too small for is left empty with a note; the point forecast is always there.
        ``samples``: Monte-Carlo dropout paths (band_method mc_dropout). ``alphas``: adaptive
        conformal miscoverage per method, level and horizon (a journal's, ``score``).
        Timestamps follow the series (its interval and calendar)."""
        self._require_fitted()
        if steps < 1 or samples < 1:
            raise UserError(
                f"{named('steps', steps)} {named('samples', samples)}: both must be at least 1"
            )
        if self.members_:
            return forecast_each(self.members_, steps, bars, band_method, samples)
        method = band_method or self.config.forecast.band_method
        if method not in BAND_METHODS:
            raise UserError(
                f"{named('band_method', method)}: choose one of {', '.join(BAND_METHODS)}"
            )
        predictor = self.predictor()
        predictor.check_steps(steps)
        label = self.label
        if isinstance(bars, MarketData):
            bars, label = bars.bars, bars.label
        elif isinstance(bars, pd.Series):
            bars = bars.rename("price").to_frame()
        bars = self.bars_ if bars is None else bars
        return forecast_bars(self, predictor, bars, label, steps, method, samples, alphas)

    def calibration_for(self, steps: int) -> Calibration:
        """The calibration for horizons 1 … ``steps``: the fitted one where it reaches that
        far, else calibrated again on the same training rows and block (the NumPy network,
        as the first one was), kept in its place."""
        stored = self.calibration_
        if stored is not None and stored.horizons >= steps:
            return stored
        if stored is not None:
            n_train, n_block = stored.training_rows, stored.block_rows
        else:  # a run from before calibration was stored when training
            dataset = self.dataset()
            n_train, n_block = dataset.n_train, len(dataset.y_val)
        predictor = self.predictor()
        self.calibration_ = fit_calibration(
            predictor, self.bars_.iloc[:n_train], n_block, calibration_steps(predictor, steps)
        )
        return self.calibration_

    # --- save and load ------------------------------------------------------------------

    def save(
        self,
        folder: str | Path,
        details: dict[str, Any] | None = None,
        finish: Callable[[], None] | None = None,
    ) -> Path:
        """Write the fitted forecaster into ``folder`` (made if missing): its config, bars,
        scaler, network, loss history and calibration, then run.json last with their
        fingerprints and ``details``. ``finish``: called before run.json (a command writes
        what it scored there). Returns the folder. Several tickers: one run folder each,
        ``folder/TICKER``."""
        self._require_fitted()
        folder = Path(folder)
        if self.members_:
            for ticker, member in self.members_.items():
                member.save(folder / safe_name(ticker), details)
            return folder
        folder.mkdir(parents=True, exist_ok=True)
        state.write_config(folder, self.config)
        write_bars(folder / state.PRICES, self.bars_)
        state.write_scaler(folder, self.scaler_, self.config.data.features)
        if self.model_ is not None:
            from forecast.model.saving import save_model

            save_model(self.model_, self.config, folder / state.MODEL)
        elif self.path_ is not None and self.path_.resolve() != folder.resolve():
            atomic.write_bytes(folder / state.MODEL, (self.path_ / state.MODEL).read_bytes())
        atomic.write_json(folder / state.HISTORY, self.history_)
        if self.calibration_ is not None:
            state.write_calibration(folder, self.calibration_)
        if self.baselines_ is not None:
            state.write_baselines(folder, self.baselines_)
        test_rows = len(self.dataset().y_test)
        if finish is not None:
            finish()
        mark_complete(
            folder,
            {
                "config_sha256": config_hash(self.config),
                "data_sha256": data_fingerprint(self.bars_),
                "data_rows": len(self.bars_),
                "test_rows": test_rows,
                "data_warnings": list(self.data_warnings_),
                "train_seconds": round(self.train_seconds_, 2),
                "files": sorted(path.name for path in folder.iterdir() if path.is_file()),
                **({} if self.ticker_index_ is None else {"ticker_index": self.ticker_index_}),
                **(details or {}),
            },
        )
        self.path_ = folder
        self.record_ = read_marker(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Forecaster:
        """A forecaster saved with ``save`` (or any run folder): its files are checked to
        agree; the network is read only when asked for, nothing is unpickled. A folder of
        per-ticker run folders loads every ticker."""
        folder = Path(folder)
        if not (folder / MARKER).exists() and folder.is_dir():
            members = sorted(path for path in folder.iterdir() if (path / MARKER).is_file())
            if members:
                loaded = [cls.load(path) for path in members]
                combined = cls(loaded[0].config)
                combined.members_ = {member.config.data.ticker: member for member in loaded}
                combined.path_ = folder
                return combined
        record = read_marker(folder)
        for name in state.STATE_FILES:
            if name == state.HISTORY:
                continue
            if not (folder / name).is_file():
                raise RunError(
                    f"{named('run_dir', folder)}: {name} is missing; the folder is damaged, "
                    f"train again"
                )
        config = state.read_config(folder)
        scaler = state.read_scaler(folder, config.data.features)
        state.check_model_shape(folder / state.MODEL, config)
        bars = read_bars(folder / state.PRICES, config.data.timezone)
        forecaster = cls(state.resolve_older(config, bars, folder))
        forecaster.bars_, forecaster.scaler_, forecaster.path_ = bars, scaler, folder
        forecaster.history_ = state.read_history(folder)
        forecaster.epochs_run_ = len(forecaster.history_.get("loss", []))
        forecaster.calibration_ = state.read_calibration(folder)
        forecaster.baselines_ = state.read_baselines(folder)
        forecaster.record_ = record
        forecaster.data_warnings_ = tuple(record.get("data_warnings") or ())
        forecaster.train_seconds_ = float(record.get("train_seconds") or 0.0)
        forecaster.ticker_index_ = record.get("ticker_index")
        return forecaster
