"""ARIMA, ETS and Theta beside the model: fitted on the training rows alone, right on series
whose answer is known, named in the verdict when strongest, left out in one line when they
cannot be fitted."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_prices, tiny_config

from forecast.config import load_config
from forecast.errors import ConfigError
from forecast.evaluation.baselines import fit_and_predict, versus_baselines
from forecast.evaluation.metrics import metrics_verdict
from forecast.forecasting import classical
from forecast.forecasting.classical import fit_baselines

PHI = 0.6


def ar1_prices(rows: int = 900, seed: int = 3) -> np.ndarray:
    """Log prices following a seeded AR(1) around log 50: a mean-reverting price, which an
    AR(1) forecast beats the last close on."""
    generator = np.random.default_rng(seed)
    log_price = np.empty(rows)
    log_price[0] = np.log(50.0)
    for t in range(1, rows):
        log_price[t] = np.log(50.0) + PHI * (log_price[t - 1] - np.log(50.0))
        log_price[t] += generator.normal(0, 0.02)
    return np.exp(log_price)


@pytest.fixture(scope="module")
def ar1_fit():
    prices = ar1_prices()
    cutoff = 700
    return prices, cutoff, fit_and_predict(prices, cutoff, ("arima", "ets", "theta"))


def test_arima_recovers_an_ar1_coefficient_and_beats_naive(ar1_fit):
    prices, cutoff, (forecasts, described, notes, _) = ar1_fit
    arima = described["arima"]
    assert notes == []
    assert arima["order"] == [1, 0, 0] and arima["trend"] == "mean"
    estimate, error = arima["params"]["ar.L1"], arima["standard_errors"]["ar.L1"]
    assert abs(estimate - PHI) < error, (estimate, error)
    actual, naive = prices[cutoff:], prices[cutoff - 1 : -1]
    scored = versus_baselines(actual, naive, naive, naive, forecasts, described, notes)
    assert scored["baselines"]["arima"]["rmse_ratio"] < 0.95
    assert scored["baselines"]["arima"]["dm_p_value"] < 0.01  # beats naive, significantly
    assert scored["strongest_baseline"] == "arima"


def test_on_a_random_walk_arima_is_the_naive_forecast_or_no_better(prices):
    values = synthetic_prices(600, seed=11).to_numpy()
    forecasts, described, _, _ = fit_and_predict(values, 450, ("arima",))
    naive = values[449:-1]
    scored = versus_baselines(values[450:], naive, naive, naive, forecasts, described, [])
    arima = scored["baselines"]["arima"]
    assert arima["order"] == [0, 1, 0] or arima["dm_p_value"] > 0.05, arima


def test_one_step_forecasts_at_the_cutoff_are_the_fits_own_forecasts(ar1_fit):
    """Running a fitted model over later bars with its parameters fixed gives, at the first
    test bar, exactly the forecast statsmodels makes from the training rows."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.forecasting.theta import ThetaModel

    prices, cutoff, (forecasts, described, _, _) = ar1_fit
    log_train = np.log(prices[:cutoff])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theta = ThetaModel(log_train, deseasonalize=False).fit().forecast(1)
        trend = described["ets"]["trend"] != "none"
        ets = ETSModel(log_train, error="add", trend="add" if trend else None, damped_trend=trend)
        ets_forecast = ets.fit(disp=False).forecast(1)
    assert forecasts["theta"][0] == pytest.approx(np.exp(float(theta.iloc[0])), rel=1e-9)
    assert forecasts["ets"][0] == pytest.approx(np.exp(float(ets_forecast[0])), rel=1e-6)
    # Each later forecast reads only earlier bars: changing the last bar changes no forecast.
    changed = prices.copy()
    changed[-1] *= 3
    again = fit_and_predict(changed, cutoff, ("arima", "ets", "theta")).forecasts
    for name in forecasts:
        np.testing.assert_allclose(again[name], forecasts[name], rtol=1e-9)


def test_each_baseline_is_handed_the_training_rows_alone(tmp_path, monkeypatch):
    """The leakage test: every array a fit sees is the log of the first n_train prices."""
    handed: dict[str, np.ndarray] = {}
    for name, fitter in dict(classical.FITTERS).items():

        def capture(log_prices, name=name, fitter=fitter):
            handed[name] = np.array(log_prices)
            return fitter(log_prices)

        monkeypatch.setitem(classical.FITTERS, name, capture)
    path = tmp_path / "prices.csv"
    values = synthetic_prices(260, seed=5)
    values.rename_axis("Date").rename("Close").to_frame().to_csv(path)
    from forecast.commands.train import train

    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "evaluation.baselines=[arima,ets,theta]",
        "forecast.band_method=none",
    )
    result = train(config, echo=lambda line: None)
    metrics = json.loads((result.folder / "metrics.json").read_text())
    n_train = metrics["n_train"]
    assert set(handed) == {"arima", "ets", "theta"}
    for log_prices in handed.values():
        np.testing.assert_array_equal(log_prices, np.log(values.to_numpy()[:n_train]))
    assert set(metrics["baselines"]) == {"arima", "ets", "theta"}
    assert metrics["strongest_baseline"] in {"naive", "drift", "arima", "ets", "theta"}
    assert metrics["baselines"]["arima"]["label"].startswith("ARIMA(")


def test_the_verdict_names_the_strongest_baseline(ar1_fit):
    prices, cutoff, (forecasts, described, notes, _) = ar1_fit
    actual, naive = prices[cutoff:], prices[cutoff - 1 : -1]
    model = naive + 0.3 * (forecasts["arima"] - naive)  # between naive and ARIMA
    metrics = {
        "rmse_ratio": float(
            np.sqrt(np.mean((model - actual) ** 2) / np.mean((naive - actual) ** 2))
        ),
        "dm_p_value": 0.01,
        "n_test": len(actual),
        **versus_baselines(actual, model, naive, naive, forecasts, described, notes),
    }
    verdict = metrics_verdict(metrics)
    assert "beats the naive last-value forecast" in verdict
    label = described["arima"]["label"]
    assert f", but it is worse than {label}, the strongest baseline here" in verdict, verdict


def test_a_short_series_leaves_models_out_with_a_note():
    fitted = fit_baselines(synthetic_prices(15).to_numpy())
    assert [model.name for model in fitted.fitted] == ["theta"]
    assert fitted.notes == (
        "arima left out: 15 training bars, it needs at least 30",
        "ets left out: 15 training bars, it needs at least 20",
    )


def test_a_fit_that_does_not_converge_is_named_and_skipped(monkeypatch):
    monkeypatch.setattr(classical, "_converged", lambda result: False)
    fitted = fit_baselines(synthetic_prices(200).to_numpy(), ("arima", "ets", "theta"))
    assert [model.name for model in fitted.fitted] == ["theta"]
    assert fitted.notes[0].startswith("arima left out: no ARIMA(p,")
    assert fitted.notes[1] == "ets left out: neither ETS(A,N,N) nor ETS(A,Ad,N) converged"

    def broken(log_prices):
        raise np.linalg.LinAlgError("Schur decomposition solver error")

    monkeypatch.setitem(classical.FITTERS, "theta", broken)
    fitted = fit_baselines(synthetic_prices(200).to_numpy(), ("theta",))
    assert fitted.notes == (
        "theta left out: its fit failed (LinAlgError: Schur decomposition solver error)",
    )


def test_baseline_names_are_checked():
    with pytest.raises(ConfigError, match=r"evaluation\.baselines\.1.*'arma'.*arima"):
        load_config(None, ["evaluation.baselines=[ets,arma]"])
    with pytest.raises(ConfigError, match="names a model twice"):
        load_config(None, ["evaluation.baselines=[ets,ets]"])
    assert load_config(None, ["evaluation.baselines=[]"]).evaluation.baselines == ()
    assert load_config(None).evaluation.baselines == ("arima", "ets", "theta")


def test_a_frame_of_baseline_forecasts_lines_up_with_the_test_bars(ar1_fit):
    prices, cutoff, (forecasts, _, _, _) = ar1_fit
    for forecast in forecasts.values():
        assert forecast.shape == (len(prices) - cutoff,)
        assert np.all(np.isfinite(forecast))
    assert isinstance(pd.Series(forecasts["arima"]).mean(), float)


def test_forecasts_20_bars_ahead_are_the_fits_own(ar1_fit):
    """The NumPy recursions forecast from the saved parameters exactly what statsmodels
    forecasts from its fit (ARIMA with a mean here, ETS with a damped trend below)."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    prices, cutoff, _ = ar1_fit
    log_train = np.log(prices[:cutoff])
    fitted = {model.name: model for model in fit_baselines(prices[:cutoff]).fitted}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arima = ARIMA(log_train, order=(1, 0, 0), trend="c").fit(method="innovations_mle")
        damped = ETSModel(log_train, error="add", trend="add", damped_trend=True).fit(disp=False)
    np.testing.assert_allclose(
        fitted["arima"].paths(prices, np.array([cutoff]), 20)[0],
        np.exp(arima.forecast(20)),
        rtol=1e-12,
    )
    ets = classical.ets_fitted(damped, "Ad")
    assert ets.state["phi"] > 0 and ets.state["beta"] >= 0
    np.testing.assert_allclose(
        ets.paths(prices, np.array([cutoff]), 20)[0], np.exp(damped.forecast(20)), rtol=1e-12
    )
    np.testing.assert_allclose(  # and one step ahead at every training bar
        ets.one_step(prices[:cutoff], 0), np.exp(damped.fittedvalues), rtol=1e-12
    )


def test_the_live_record_scores_baselines_issued_with_each_forecast(tmp_path):
    """A production fit keeps its fitted baselines (baselines.json); each forecast journals
    their forecasts from the same origin, and score tests the model against each one on the
    targets that came."""
    import forecast as api
    from forecast.commands.score import score
    from forecast.store.journal import read_journal
    from tests.conftest import ohlcv_frame, write_bars

    bars = ohlcv_frame(pd.bdate_range("2022-01-03", periods=300), seed=4)
    csv = write_bars(tmp_path / "bars.csv", bars.iloc[:240])
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={csv}",
        "data.start=null",
        "data.calendar=business",
        "data.test_fraction=0",
        "evaluation.baselines=[arima,theta]",
    )
    run = api.train(config, out=tmp_path / "run", echo=lambda line: None).folder
    stored = json.loads((run / "baselines.json").read_text())
    assert stored["rows"] == 240 and [m["name"] for m in stored["fitted"]] == ["arima", "theta"]
    for day in range(25):
        write_bars(csv, bars.iloc[: 240 + day])
        api.forecast(run, steps=2, refresh=True)
    journal = read_journal(run)
    assert sorted(journal["method"].unique()) == ["arima", "conformal", "theta"]
    theta = journal[journal["method"] == "theta"].set_index(["origin", "step"])
    model = journal[journal["method"] == "conformal"].set_index(["origin", "step"])
    assert theta.index.equals(model.index) and (theta["naive"] == model["naive"]).all()
    # The journalled Theta forecast is the fitted model's, from the bars up to its origin.
    from forecast.forecasting.classical import Fitted

    fitted = Fitted.from_dict(stored["fitted"][1])
    closes = bars["Close"].to_numpy()[:250]
    assert theta.loc[(str(bars.index[249].date()), 2), "median"] == pytest.approx(
        fitted.paths(closes, [250], 2)[0, 1], rel=1e-9
    )
    write_bars(csv, bars.iloc[:270])
    record = score(run)
    first = next(part for part in record.summary["horizons"] if part["horizon"] == 1)
    assert first["n"] == 25 and set(first["baselines"]) == {"arima", "theta"}
    live = record.table
    assert set(live["method"]) == {"conformal"}  # live.csv: the model's forecasts
    ones = live[live["step"] == 1].sort_values("target")
    issued = theta.xs(1, level="step").loc[ones["origin"], "median"].to_numpy()
    actual = ones["actual"].to_numpy()
    expected = np.sqrt(np.mean((issued - actual) ** 2) / np.mean(ones["naive_error"] ** 2))
    assert first["baselines"]["theta"]["rmse_ratio"] == pytest.approx(expected)
    assert "issued with it" in record.verdict


def test_prediction_intervals_are_the_fits_own():
    """The h-step standard deviations behind the baselines' own bands equal statsmodels'
    (ARIMA(p,1,q) with the same parameters; ETS(A,Ad,N)), 1 to 20 bars ahead."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    prices = synthetic_prices(500, seed=7).to_numpy()
    log_prices = np.log(prices)
    state = {"model": "arima", "d": 1, "mean": 0.0004, "ar": [0.3, -0.2], "ma": [0.25]}
    state["sigma2"] = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ARIMA(log_prices, order=(2, 1, 1), trend="t")
        params = [state["mean"], *state["ar"], *state["ma"], state["sigma2"]]
        expected = np.sqrt(model.smooth(params).get_forecast(20).var_pred_mean)
        damped = ETSModel(pd.Series(log_prices), error="add", trend="add", damped_trend=True)
        ets = damped.fit(disp=False)
        frame = ets.get_prediction(start=500, end=519).summary_frame(alpha=0.05)
    np.testing.assert_allclose(classical.forecast_std(state, 20), expected, rtol=1e-9)
    ets_fitted = classical.ets_fitted(ets, "Ad")
    ets_std = (frame["pi_upper"] - frame["mean"]).to_numpy() / 1.959963984540054
    np.testing.assert_allclose(classical.forecast_std(ets_fitted.state, 20), ets_std, rtol=1e-6)
    bands = ets_fitted.forecast(prices, np.array([500]), 20)
    np.testing.assert_allclose(bands["hi95"][0], np.exp(frame["pi_upper"]), rtol=1e-6)
    assert np.all(np.diff(bands["hi95"][0] - bands["lo95"][0]) > 0)  # wider further ahead


def test_a_backtest_scores_the_baselines_own_bands_and_horizons(tmp_path):
    from forecast.evaluation.backtest import walk_forward

    config = tiny_config(tmp_path, "evaluation.baselines=[arima,ets,theta]")
    bars = synthetic_prices(400, seed=12).to_frame("price")
    result = walk_forward(config, bars, folds=2, echo=lambda line: None)
    methods = set(result.bands["method"])
    assert {"conformal", "random_walk", "arima", "ets", "theta"} <= methods
    assert {1, 5} <= set(result.bands["horizon"])  # 20 bars: longer folds than these
    assert {"arima_rmse_ratio", "dm_p_value_theta"} <= set(result.horizons.columns)
    assert set(result.table["method"]) >= {"arima", "ets", "theta"}
    assert result.summary["strongest_baseline"] in {"naive", "drift", "arima", "ets", "theta"}
    assert all("arima" in fit for fit in result.summary["baseline_fits"])
