"""Every command end to end on hourly, daily 24/7, weekly and monthly series with features:
seeded synthetic bars shaped like real ones, tiny models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

import forecast as api
from forecast.base.values import read_json
from forecast.errors import UserError
from tests.conftest import (
    ROOT,
    fx_hourly_index,
    ohlcv_frame,
    tiny_config,
    write_bars,
    xnys_hourly_index,
)

SERIES = {
    # name: (index, extra overrides, expected interval, calendar, a word of the unit)
    "xnys_hourly": (
        xnys_hourly_index(70),
        ["data.timezone=America/New_York", "data.features=[close, log_return, hour]"],
        "60m",
        "XNYS",
        "hourly bars",
    ),
    "fx_hourly": (
        fx_hourly_index(500),
        ["data.features=[close, volatility_5, day_of_week]"],
        "60m",
        "24/5",
        "hourly bars",
    ),
    "crypto_daily": (
        pd.date_range("2022-01-01", periods=300, freq="D"),
        ["data.features=[close, rsi_14]"],
        "1d",
        "24/7",
        "days",
    ),
    # too few validation bars for a conformal 95 % band 4 bars ahead: MC dropout
    "weekly": (
        pd.date_range("2018-01-05", periods=200, freq="W-FRI"),
        ["forecast.band_method=mc_dropout"],
        "1wk",
        "XNYS",
        "weeks",
    ),
    "monthly": (
        pd.date_range("2010-01-31", periods=120, freq="ME"),
        ["data.lookback=6", "forecast.band_method=mc_dropout"],
        "1mo",
        "24/7",
        "months",
    ),
}


def series_config(tmp_path, name: str, *overrides: str):
    index, extra, *_ = SERIES[name]
    path = write_bars(tmp_path / f"{name}.csv", ohlcv_frame(index, seed=len(name)))
    return tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        f"data.ticker={name}",
        *extra,
        *overrides,
    )


@pytest.mark.parametrize("name", list(SERIES))
def test_train_evaluate_forecast_follow_the_series(tmp_path, name):
    index, _, interval, calendar, word = SERIES[name]
    outcome = api.train(series_config(tmp_path, name), out=tmp_path / "run", echo=lambda line: None)
    run = tmp_path / "run"
    config = yaml.safe_load((run / "config.yaml").read_text())["data"]
    assert (config["interval"], config["calendar"]) == (interval, calendar)
    # Every timestamp survives the run folder: evaluate reproduces metrics.json exactly.
    evaluation = api.evaluate(run).summary
    stored = read_json(run / "metrics.json")
    assert all(evaluation[key] == stored[key] for key in ("rmse", "mae", "mape", "rmse_ratio"))
    predictions = pd.read_csv(run / "predictions.csv")
    assert list(predictions["date"]) == list(pd.Series(outcome.table["date"]))
    if interval == "60m":  # the time of day survives: XNYS bars open at 9:30, FX on the hour
        minutes = ":30:00" if name == "xnys_hourly" else ":00:00"
        assert predictions["date"].str[13:19].eq(minutes).all()
    frame = api.forecast(run, steps=4, samples=5).table
    assert list(frame.columns[:6]) == ["date", "median", "lo80", "hi80", "lo95", "hi95"]
    assert np.isfinite(frame[["median", "lo95", "hi95"]].to_numpy()).all()
    future = pd.DatetimeIndex(pd.to_datetime(frame["date"], utc=interval == "60m"))
    last = pd.Timestamp(index[-1])
    if interval == "60m":
        last = last.tz_convert("UTC") if last.tz else last.tz_localize("UTC")
        assert (future > last).all() and future.is_monotonic_increasing
        assert ((future - last) % pd.Timedelta(hours=1) == pd.Timedelta(0)).all()
    elif name == "crypto_daily":
        assert list(future) == list(pd.date_range(last + pd.Timedelta(days=1), periods=4))
    elif name == "weekly":
        assert list(future.strftime("%a")) == ["Fri"] * 4 and future[0] == last + pd.Timedelta(
            weeks=1
        )
    else:
        assert list(future) == list(pd.date_range(last, periods=5, freq="ME")[1:])
    report = (run / "report.html").read_text()
    assert word in report
    assert "days" not in report.replace("trading days", "") or word == "days"
    explanation = api.explain(run).detail
    assert explanation.steps["cell"].shape == (10 if name != "monthly" else 6, 4)
    folder = api.backtest(
        series_config(tmp_path, name), folds=1, out=tmp_path / "bt", echo=lambda line: None
    ).folder
    table = pd.read_csv(folder / "backtest.csv")
    row = table[(table["fold"].astype(str) == "1") & (table["method"] == "model")].iloc[0]
    assert row["n"] == len(predictions) == int(len(index) * 0.2)
    assert (row["start"], row["end"]) == (predictions["date"].iloc[0], predictions["date"].iloc[-1])


def test_xnys_hourly_forecast_starts_at_the_next_session_open(tmp_path):
    api.train(series_config(tmp_path, "xnys_hourly"), out=tmp_path / "run", echo=lambda line: None)
    frame = api.forecast(tmp_path / "run", steps=9, samples=3).table
    stamps = pd.to_datetime(frame["date"], utc=True).dt.tz_convert("America/New_York")
    last = SERIES["xnys_hourly"][0][-1]  # 15:30 on the last session
    assert last.strftime("%H:%M") == "15:30"
    assert list(stamps.dt.strftime("%H:%M")) == [
        "09:30",
        "10:30",
        "11:30",
        "12:30",
        "13:30",
        "14:30",
        "15:30",
        "09:30",
        "10:30",
    ]
    assert frame["date"].iloc[0].endswith(("-05:00", "-04:00"))
    prices = (tmp_path / "run" / "prices.csv").read_text().splitlines()
    assert prices[1].startswith("2024-02-01 09:30:00-05:00,")


def test_backtest_compare_explain_and_summary_with_several_features(tmp_path, capsys):
    overrides = ("data.features=[close, log_return, log_volume, range]",)
    config = series_config(tmp_path, "fx_hourly", *overrides)
    result = api.backtest(config, folds=2, samples=4, out=tmp_path / "bt", echo=lambda line: None)
    folder = result.folder
    table = pd.read_csv(folder / "backtest.csv")
    assert set(table["method"]) == {"model", "naive", "drift", "moving_average"}
    assert table["start"].str.contains(":00:00").all()
    assert "coverage95" in table.columns and "60m" in (folder / "config.yaml").read_text()
    compared = api.compare(
        config, ("lstm", "mlp"), folds=1, out=tmp_path / "cmp", echo=lambda line: None
    )
    folder, table = compared.folder, compared.table
    assert {"lstm", "mlp", "naive"} <= set(table["method"])
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    explanation = api.explain(tmp_path / "run").detail
    assert explanation.png.exists() and "T" in explanation.png.stem  # intraday: time in name
    assert explanation.steps["forget_gate"].shape[0] == 10
    # The model reads volume and range, which it does not predict: one bar at most.
    with pytest.raises(UserError, match=r"steps=5: the model reads log_volume, range"):
        api.forecast(tmp_path / "run", steps=5, samples=3)
    assert len(api.forecast(tmp_path / "run", steps=1, samples=3).table) == 1
    state = read_json(tmp_path / "run" / "scaler.json")
    assert state["feature_names_in_"] == ["close", "log_return", "log_volume", "range"]
    from forecast.cli import main

    assert main(["summary", "--set", "data.features=[close, volume, rsi_14]"]) == 0
    assert "4 × (50 × (50 + 3) + 50)" in capsys.readouterr().out


def test_a_run_from_before_intervals_loads_as_daily(trained, tmp_path):
    """Older run folders have no data.interval: it is resolved from their prices."""
    run = tmp_path / "old"
    shutil.copytree(trained.folder, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("interval", "timezone", "features", "on_suspect_split"):
        config["data"].pop(key)
    config["data"]["calendar"] = "XNYS"
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert api.evaluate(run).summary["rmse"] == trained.summary["rmse"]
    assert len(api.forecast(run, steps=2, samples=2).table) == 2


def test_data_warnings_reach_run_json_and_the_report(tmp_path):
    index = pd.bdate_range("2021-01-04", periods=260)
    frame = ohlcv_frame(index, seed=9, sigma=0.004)
    frame.loc[index[150] :, "Close"] /= 3  # an unadjusted 3:1 split
    frame["Adj Close"] = ohlcv_frame(index, seed=9, sigma=0.004)["Close"]
    path = write_bars(tmp_path / "split.csv", frame)
    config = tiny_config(tmp_path, "data.source=csv", f"data.path={path}", "data.start=null")
    api.train(config, out=tmp_path / "run", echo=lambda line: None)
    record = read_json(tmp_path / "run" / "run.json")
    [split] = [line for line in record["data_warnings"] if "split-like" in line]
    assert "near 1/3" in split and "data.price_column: Adj Close" in split
    assert "Data checks" in (tmp_path / "run" / "report.html").read_text()
    api.forecast(tmp_path / "run", steps=2, samples=2)  # rewrites the report
    assert "split-like" in (tmp_path / "run" / "report.html").read_text()


@pytest.mark.slow
def test_cli_speaks_in_the_data_unit(tmp_path, capsys):
    from forecast.cli import main

    config = series_config(tmp_path, "fx_hourly")
    run = tmp_path / "run"
    command = [
        "train",
        "--config",
        str(ROOT / "configs/quick.yaml"),
        *("--set", "data.source=csv", "--set", f"data.path={config.data.path}"),
        *("--set", "data.start=null", "--set", "train.epochs=1", "--set", "data.lookback=10"),
        *("--set", "train.progress=none", "--out", str(run)),
    ]
    assert main(command) == 0
    assert "test set: 100 hourly bars" in capsys.readouterr().out
    for flag in ("--steps", "--days"):
        assert main(["forecast", "--run", str(run), flag, "3", "--samples", "2"]) == 0
        assert len(pd.read_csv(run / "forecast.csv")) == 3
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
