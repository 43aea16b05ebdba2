"""One network for several tickers (model.scope: global): the panel cut at the same dates for
every ticker, each scaled on its own training rows, no test bar in any training window, a
ticker too short left out with its reason, and the fitted members predicting and judged as
single runs are."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.data.panel import calendar_split, panel_datasets
from forecast.data.windows import WindowSpec
from forecast.errors import DataError, UserError
from forecast.forecasting.forecaster import Forecaster
from tests.conftest import synthetic_prices, tiny_config

SPEC = WindowSpec(10, 0.2, 0.2)


def panel_bars() -> dict[str, pd.DataFrame]:
    """Three tickers: one from the start, one that starts late, one that stops early."""
    return {
        "AAA": synthetic_prices(200, seed=1).to_frame(),
        "LATE": synthetic_prices(140, seed=2, start="2020-03-25").to_frame(),
        "EARLY": synthetic_prices(150, seed=3).to_frame(),  # ends 2020-07-28
    }


def test_every_ticker_is_cut_at_the_same_dates():
    bars = panel_bars()
    panel = panel_datasets(bars, SPEC)
    split = panel.split
    union = pd.DatetimeIndex(sorted(set().union(*(frame.index for frame in bars.values()))))
    assert split.test_start == union[len(union) - int(len(union) * 0.2)]
    assert set(panel.datasets) == {"AAA", "LATE", "EARLY"} and panel.errors == {}
    for ticker, dataset in panel.datasets.items():
        dates = dataset.prices.index
        assert dates[dataset.n_train - 1] < split.test_start  # last training row
        if len(dataset.y_test):
            assert dataset.test_dates[0] >= split.test_start  # first test bar
        # validation targets: the last len(y_val) training rows, from validation_start on
        targets = dates[: dataset.n_train][-len(dataset.y_val) :]
        assert targets[0] >= split.validation_start, ticker
    early = panel.datasets["EARLY"]  # stops before the test period: no test bars at all
    assert len(early.y_test) == 0


def test_a_panel_is_cut_at_the_dates_the_config_gives():
    """data.test_start and train.validation_start cut the calendar where they say, for
    every ticker, in place of the fractions."""
    spec = replace(SPEC, test_start="2020-09-01", validation_start="2020-08-03")
    split = calendar_split(panel_bars(), spec)
    assert split.test_start == pd.Timestamp("2020-09-01")
    assert split.validation_start == pd.Timestamp("2020-08-03")
    panel = panel_datasets(panel_bars(), spec)
    assert panel.datasets["AAA"].test_dates[0] == pd.Timestamp("2020-09-01")


def test_no_training_window_holds_a_bar_on_or_after_the_first_test_date():
    """Every bar from the first test date on is set to a million: a training or validation
    window that read one would hold a scaled value in the thousands."""
    bars = panel_bars()
    split = calendar_split(bars, SPEC)
    poisoned = {
        ticker: frame.assign(price=frame["price"].where(frame.index < split.test_start, 1e6))
        for ticker, frame in bars.items()
    }
    pooled = panel_datasets(poisoned, SPEC).pooled()
    assert len(pooled.y_train) and len(pooled.y_val)
    for values in (pooled.x_train, pooled.y_train, pooled.x_val, pooled.y_val):
        assert np.nanmax(np.abs(values)) <= 1.0 + 1e-9
    for ticker, dataset in panel_datasets(poisoned, SPEC).datasets.items():
        training = poisoned[ticker]["price"].to_numpy()[: dataset.n_train]
        assert dataset.scaler.data_max_[0] == training.max() < 1e6  # its own training rows


def test_pooled_windows_are_gathered_per_batch_and_train_bit_for_bit_alike(tmp_path):
    """The pooled windows are not copied: indexing gathers the same values a concatenated
    array holds, and one epoch on them gives the very weights one on that array gives."""
    from forecast.model.train import train_network

    panel = panel_datasets(panel_bars(), SPEC)
    pooled = panel.pooled()
    parts = list(panel.datasets.values())
    expected = np.concatenate([part.x_train for part in parts])  # (n_fit, L, F)
    assert pooled.x_train.shape == expected.shape and len(pooled.x_train) == len(expected)
    order = np.random.default_rng(0).permutation(len(expected))
    np.testing.assert_array_equal(pooled.x_train[order], expected[order])
    np.testing.assert_array_equal(
        pooled.x_val[2:7], np.concatenate([part.x_val for part in parts])[2:7]
    )
    assert pooled.x_train.rows.nbytes * 5 < expected.nbytes  # rows, not windows, are held
    assert not parts[0].x_train.flags.writeable  # a ticker's windows: a view of its rows
    config = tiny_config(tmp_path, "model.scope=global")
    materialized = replace(
        pooled, x_train=np.asarray(pooled.x_train), x_val=np.asarray(pooled.x_val)
    )
    first, _ = train_network(config, pooled)
    second, _ = train_network(config, materialized)
    for one, other in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(one, other)


def test_a_ticker_too_short_before_the_cut_is_left_out_with_its_reason():
    bars = panel_bars()
    bars["NEW"] = synthetic_prices(30, seed=4, start="2020-09-01").to_frame()  # test period
    panel = panel_datasets(bars, SPEC)
    assert set(panel.datasets) == {"AAA", "LATE", "EARLY"}
    assert "NEW" in panel.errors and "before the panel's test period" in panel.errors["NEW"]
    with pytest.raises(DataError, match="none has enough bars"):
        panel_datasets({"NEW": bars["NEW"].iloc[:8]}, SPEC)


def test_a_global_fit_is_one_network_whose_members_predict_and_are_judged(tmp_path):
    import forecast
    from forecast.commands.judging import judge_tickers

    config = tiny_config(tmp_path, "model.scope=global", "train.epochs=2")
    bars = panel_bars()
    forecaster = Forecaster(config).fit(bars)
    models = {id(member.model_) for member in forecaster.members_.values()}
    assert len(models) == 1 and forecaster.tickers == ("AAA", "LATE", "EARLY")
    assert forecaster.epochs_run_ == 2 and len(forecaster.history_["loss"]) == 2
    test_start = forecaster.panel_.split.test_start
    predictions = forecaster.predict_test()
    assert set(predictions["ticker"]) == {"AAA", "LATE"}  # EARLY ends before the test period
    assert (pd.to_datetime(predictions["date"]) >= test_start).all()
    own = forecaster["AAA"].predict_test()
    assert np.allclose(own["predicted"], predictions.query("ticker == 'AAA'")["predicted"])
    ahead = forecaster.predict(steps=3).frame  # every ticker, the NumPy network
    assert ahead.groupby("ticker").size().to_dict() == {"AAA": 3, "LATE": 3, "EARLY": 3}
    judged = judge_tickers(forecaster)
    table = judged.table.set_index("ticker")
    assert table["status"].to_dict() == {"AAA": "ok", "LATE": "ok", "EARLY": "no test bars"}
    rows = predictions.query("ticker == 'LATE'")  # exactly a single run's metrics
    rmse = float(np.sqrt(np.mean((rows["actual"] - rows["predicted"]) ** 2)))
    assert table.loc["LATE", "rmse"] == pytest.approx(rmse, rel=1e-12)
    assert table.loc["LATE", "n_test"] == len(rows)
    assert 0 <= table.loc["AAA", "dm_q_value"] <= 1
    assert judged.summary["cross_section"] is None  # two tickers tested: no cross-section
    assert judged.verdict.startswith("0 of 2 tickers beat naive after Benjamini–Hochberg")
    # Saved, each ticker is an ordinary run folder whose config carries the panel's cuts as
    # dates, so that reading it again splits its bars exactly as the panel did.
    forecaster.save(tmp_path / "global")
    loaded = Forecaster.load(tmp_path / "global")
    assert set(loaded.tickers) == {"AAA", "LATE", "EARLY"}
    for ticker in ("AAA", "LATE"):
        again, fitted = loaded[ticker].dataset(), forecaster[ticker].dataset()
        assert (again.n_train, len(again.y_val)) == (fitted.n_train, len(fitted.y_val))
        assert loaded[ticker].config.data.test_start == forecaster.config.data.test_start
        assert np.allclose(
            loaded[ticker].predict_test()["predicted"],
            forecaster[ticker].predict_test()["predicted"],
        )
    issued = forecast.forecast(tmp_path / "global" / "LATE", steps=3)  # the CLI's path
    assert len(issued.table) == 3


def test_tickers_at_different_intervals_are_refused_in_one_line(tmp_path):
    config = tiny_config(tmp_path, "model.scope=global")
    weekly = synthetic_prices(120, seed=5)
    weekly.index = pd.date_range("2020-01-03", periods=120, freq="W-FRI", name="date")
    with pytest.raises(UserError, match="different intervals"):
        Forecaster(config).fit({"AAA": synthetic_prices(200, seed=1), "WEEK": weekly})


def four_tickers_csv(tmp_path) -> Path:
    """A long CSV (Date, Ticker, Close) of four seeded tickers, T0…T3, 160 bars each."""
    frames = [
        synthetic_prices(160, seed=seed).rename_axis("Date").rename("Close").reset_index()
        for seed in range(4)
    ]
    path = tmp_path / "long.csv"
    pd.concat([frame.assign(Ticker=f"T{seed}") for seed, frame in enumerate(frames)]).to_csv(
        path, index=False
    )
    return path


def test_four_tickers_are_judged_pooled_and_across_the_cross_section(tmp_path):
    """With three or more tickers tested, the verdict adds the pooled DM on the daily mean
    loss differential, the rank IC and the long–short book beside reversal and momentum;
    the folder draws them date by date (cross_section.csv/.png, on the report page)."""
    import json

    from forecast.commands.global_run import train_global

    path = four_tickers_csv(tmp_path)
    config = tiny_config(
        tmp_path,
        "model.scope=global",
        "evaluation.cost_bps=10",
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
    )
    result = train_global(config, ["T0", "T1", "T2", "T3"], out=tmp_path / "g", echo=print)
    cross = result.summary["cross_section"]
    assert cross["tickers"] == 4 and cross["dates"] == result.table["n_test"].iloc[0]
    assert cross["books"]["model"]["cost_bps"] == 10
    assert set(cross["books"]) == {"model", "reversal", "momentum"}
    assert "Pooled over 4 tickers" in result.verdict
    assert result.table["dm_q_value"].notna().all()
    series = pd.read_csv(tmp_path / "g" / "cross_section.csv")
    assert len(series) == cross["dates"]
    assert series["model_net"].mean() == pytest.approx(cross["books"]["model"]["net_mean_return"])
    page = (tmp_path / "g" / "report.html").read_text()
    assert "chart-cross_section" in page and (tmp_path / "g" / "cross_section.png").exists()
    assert "live_*" not in page  # no live record in a global run's leaderboard
    assert json.loads((tmp_path / "g" / "panel.json").read_text())["verdict"] == result.verdict


def test_a_single_run_can_be_cut_at_a_date_too(tmp_path):
    """data.test_start and train.validation_start: the test bars from a date, whatever their
    share; a value that is no timestamp is one line naming the key."""
    from forecast.config import load_config
    from forecast.errors import ConfigError

    config = tiny_config(
        tmp_path, "data.test_start=2020-09-01", "train.validation_start=2020-08-03"
    )
    prices = synthetic_prices(200, seed=1)
    dataset = Forecaster(config).fit(prices).dataset()
    assert dataset.test_dates[0] == pd.Timestamp("2020-09-01")
    assert len(dataset.y_test) == int((prices.index >= "2020-09-01").sum())
    assert len(dataset.y_val) == int(
        ((prices.index >= "2020-08-03") & (prices.index < "2020-09-01")).sum()
    )
    with pytest.raises(ConfigError, match="data.test_start: 'soon' is not a timestamp"):
        load_config(None, ["data.test_start=soon"])


def weights(path: Path) -> list[np.ndarray]:
    """Every variable of a model.keras, in order (its zip's bytes carry a save time)."""
    from forecast.model.keras_file import read_layers

    layers, _ = read_layers(path)
    return [array for _, _, found in layers for side in found.values() for array in side]


def test_train_tickers_writes_one_folder_of_ordinary_runs(long_csv, tmp_path, capsys):
    """The CLI: train --tickers with model.scope global (and a ticker embedding) on a long
    CSV; a ticker too short and one the file lacks are error rows; each ticker's folder is a
    run evaluate agrees with; --json carries the leaderboard; forecast, score and update
    --forecast take the folder whole."""
    import json

    from forecast.cli import main

    out = tmp_path / "global"
    arguments = [
        "train",
        "--config",
        "quick",
        *("--set", "data.source=csv", "--set", f"data.path={long_csv}"),
        *("--set", "data.start=null", "--set", "data.lookback=10", "--set", "train.epochs=1"),
        *("--set", "model.scope=global", "--set", f"output.runs_dir={tmp_path}"),
        *("--set", "evaluation.baselines=[]", "--set", "model.ticker_embedding=2"),
        *("--tickers", "AAA,BBB,BAD,NOPE", "--out", str(out), "--json"),
    ]
    assert main(arguments) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {row["ticker"]: row for row in document["table"]}
    assert rows["AAA"]["status"] == rows["BBB"]["status"] == "ok"
    assert rows["BAD"]["status"] == rows["NOPE"]["status"] == "error"
    assert "no rows for ticker NOPE" in rows["NOPE"]["message"]
    panel = json.loads((out / "panel.json").read_text())
    assert panel["tickers"] == ["AAA", "BBB"] and panel["test_start"]
    assert (out / "report.html").exists() and (out / "leaderboard.csv").exists()
    assert main(["evaluate", "--run", str(out / "runs" / "AAA")]) == 0
    assert "matches metrics.json" in capsys.readouterr().out
    # the daily loop over the whole folder: every ticker forecast, then scored, in one call
    assert main(["forecast", "--run", str(out), "--steps", "2", "--samples", "5"]) == 0
    printed = capsys.readouterr().out
    assert "AAA" in printed and "BBB" in printed and "runs/TICKER/forecast.csv" in printed
    for ticker in ("AAA", "BBB"):
        journal = pd.read_csv(out / "runs" / ticker / "journal.csv")
        assert len(journal) == 2 and (journal["method"] == "conformal").all()
        assert (journal["ticker"] == ticker).all()  # each row names its ticker
    assert main(["score", "--run", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["AAA", "BBB", "Pooled across the tickers"]
    # the nightly step: the one network warm-started with every ticker's newer bars
    frame = pd.read_csv(long_csv)
    grown = [frame]
    for ticker in ("AAA", "BBB"):
        rows = frame[frame["Ticker"] == ticker].tail(1)
        later = pd.bdate_range(pd.Timestamp(rows["Date"].iloc[0]), periods=6)[1:]
        grown.append(
            pd.concat([rows] * 5).assign(
                Date=later.strftime("%Y-%m-%d"), Close=rows["Close"] * 1.01
            )
        )
    pd.concat(grown).to_csv(tmp_path / "grown.csv", index=False)
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    new = tmp_path / "updated"
    update = ["update", "--run", str(out), "--data", str(tmp_path / "grown.csv")]
    assert main([*update, "--epochs", "1", "--out", str(new), "--forecast", "2"]) == 0
    printed = capsys.readouterr().out  # the nightly step: updated, scored, forecast
    assert "AAA" in printed and "Pooled across the tickers" in printed
    panel = json.loads((new / "panel.json").read_text())
    assert panel["update"]["parent"] == str(out.resolve()) and panel["test_start"] is None
    assert panel["update"]["new_bars"] == {"AAA": 5, "BBB": 5}
    aaa, bbb, parent = (
        weights(folder / "runs" / ticker / "model.keras")
        for folder, ticker in ((new, "AAA"), (new, "BBB"), (out, "AAA"))
    )
    assert all(np.array_equal(a, b) for a, b in zip(aaa, bbb))  # one network for both
    assert not all(np.array_equal(a, b) for a, b in zip(aaa, parent))  # trained on
    for ticker in ("AAA", "BBB"):
        old, updated = out / "runs" / ticker, new / "runs" / ticker
        assert (updated / "scaler.json").read_bytes() == (old / "scaler.json").read_bytes()
        carried = (updated / "journal.csv").read_bytes()  # the lineage's, then tomorrow's
        assert carried.startswith((old / "journal.csv").read_bytes())
        assert len(pd.read_csv(updated / "journal.csv")) == 4
        assert len(pd.read_csv(updated / "live.csv")) == 2  # yesterday's two, resolved
        record = json.loads((updated / "run.json").read_text())
        assert record["update"]["new_bars"] == 5 and record["test_rows"] == 0
        parent_index = json.loads((old / "run.json").read_text())["ticker_index"]
        assert record["ticker_index"] == parent_index  # its row of the embedding, kept
    assert {path: path.read_bytes() for path in before} == before  # the parent as it was
    assert json.loads((new / "live_pooled.json").read_text())["horizons"][0]["n"] == 2
    assert main([*update, "--refit"]) == 2
    assert "--refit on" in capsys.readouterr().err
    local = ["--set", "model.scope=local", "--set", "model.ticker_embedding=0"]
    assert main([*arguments[:-5], "--tickers", "AAA,BBB", *local]) == 2
    assert "add --set model.scope=global" in capsys.readouterr().err


def test_local_fits_given_a_global_fits_cut_dates_test_the_same_bars(tmp_path):
    """One network per ticker, given the cut dates a global fit carries, tests every ticker
    on the global fit's test bars (the tickers start and stop at different dates)."""
    bars = panel_bars()
    cut = Forecaster(tiny_config(tmp_path, "model.scope=global")).fit(bars)
    local = Forecaster(replace(cut.config, model=replace(cut.config.model, scope="local")))
    local.fit(bars)
    for ticker, member in local.members_.items():
        assert list(member.dataset().test_dates) == list(cut[ticker].dataset().test_dates)
        assert len(member.dataset().y_val) == len(cut[ticker].dataset().y_val)
        assert member.model_ is not cut.model_


def test_the_pooled_head_to_head_is_the_dm_test_of_the_daily_mean_differential():
    from forecast.evaluation.cross_section import pooled_dm
    from forecast.evaluation.significance import loss_differential_test

    generator = np.random.default_rng(3)
    dates = np.repeat(pd.bdate_range("2021-01-04", periods=40), 3)
    actual = 100 + generator.normal(size=len(dates))
    panel = pd.DataFrame(
        {
            "date": dates,
            "ticker": ["A", "B", "C"] * 40,
            "actual": actual,
            "predicted": actual + generator.normal(0, 0.5, len(dates)),
            "local": actual + generator.normal(0, 0.8, len(dates)),
        }
    )
    by_hand = ((panel["predicted"] - actual) ** 2 - (panel["local"] - actual) ** 2).to_numpy()
    daily = by_hand.reshape(40, 3).mean(axis=1)
    expected = loss_differential_test(daily, 1)
    found = pooled_dm(panel, against="local")
    assert found.p_value == pytest.approx(expected.p_value) and found.p_value < 0.05


def test_compare_tickers_sets_the_global_model_beside_one_network_each(
    ray_cluster, tmp_path, capsys
):
    """compare --tickers --folds 2: both scopes on the same tickers, folds and test bars in
    one leaderboard with q-values and the head-to-head test, the scopes beside reversal and
    momentum with the seconds each fit took, a page; --models with --tickers is one line.
    With --ray the two folds run at once as Ray tasks (the session's two nodes) and give the
    same leaderboard; a task's own error comes back as its one line; --ray without --tickers
    or with one fold is refused in one line."""
    import json

    from forecast.cli import main
    from forecast.data.tickers import read_tickers
    from forecast.errors import UserError
    from forecast.scaleout.engine import map_tasks

    path = four_tickers_csv(tmp_path)
    out = tmp_path / "scopes"
    arguments = [
        "compare",
        "--config",
        "quick",
        *("--set", "data.source=csv", "--set", f"data.path={path}", "--set", "data.start=null"),
        *(
            "--set",
            "data.lookback=10",
            "--set",
            "train.epochs=1",
            "--set",
            "model.layers.0.units=4",
        ),
        *("--set", "model.layers.2.units=4", "--set", f"output.runs_dir={tmp_path}"),
        *("--set", "evaluation.baselines=[]"),
        *("--tickers", "T0,T1,T2,NOPE", "--out", str(out)),
    ]
    assert main([*arguments, "--folds", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    table = pd.read_csv(out / "compare.csv")
    assert len(document["table"]) == len(table) == 7  # 3 tickers × 2 scopes, NOPE an error
    tested = table[table["status"] == "ok"]
    assert sorted(set(zip(tested["ticker"], tested["scope"]))) == [
        (ticker, scope) for ticker in ("T0", "T1", "T2") for scope in ("global", "local")
    ]
    sizes = tested.pivot(index="ticker", columns="scope", values="n_test")
    assert (sizes["global"] == sizes["local"]).all()  # the same test bars
    assert (
        tested[["dm_q_value", "head_to_head_p_value", "head_to_head_q_value"]].notna().all().all()
    )
    assert "no rows for ticker NOPE" in table.loc[table["ticker"] == "NOPE", "message"].iloc[0]
    scopes = pd.read_csv(out / "scopes.csv").set_index("method")
    assert list(scopes.index) == ["global", "local", "reversal", "momentum"]
    assert (scopes.loc[["global", "local"], "train_seconds"] > 0).all()
    assert scopes.loc["global", "tickers"] == scopes.loc["local", "tickers"] == 3
    summary = json.loads((out / "compare.json").read_text())
    assert summary["verdict"] == document["verdict"]
    assert f"pooled DM over {int(sizes['global'].iloc[0])} dates" in document["verdict"]
    beat = int(scopes.loc["global", "beat_naive_bh"])
    assert f"global: {beat} of 3 tickers beat naive after Benjamini–Hochberg" in document["verdict"]
    assert "reversal" in document["verdict"] and "momentum" in document["verdict"]
    assert "chart-scopes" in (out / "report.html").read_text()
    assert summary["folds"] == 2 and len(summary["fold_starts"]) == 2
    assert document["verdict"].startswith("Over 2 walk-forward folds: global:")
    assert main([*arguments[:-2], "--models", "lstm"]) == 2
    assert "--models lstm with --tickers" in capsys.readouterr().err
    on_ray = tmp_path / "on-ray"
    assert main([*arguments[:-2], "--out", str(on_ray), "--folds", "2", "--ray"]) == 0
    assert "2 folds at once (Ray tasks), tested from" in capsys.readouterr().out
    there = pd.read_csv(on_ray / "compare.csv")
    assert list(zip(there["ticker"], there["scope"], there["status"], strict=True)) == list(
        zip(table["ticker"], table["scope"], table["status"], strict=True)
    )
    np.testing.assert_array_equal(there["n_test"], table["n_test"])
    np.testing.assert_allclose(there["rmse"], table["rmse"], rtol=1e-5)
    with pytest.raises(UserError, match=r"compare: give the tickers with either"):
        map_tasks(read_tickers, [("T0", None, "compare"), (None, None, "compare")])
    assert main([*arguments, "--ray"]) == 2
    assert "give --folds K of 2 or more" in capsys.readouterr().err
    assert main(["compare", "--config", "quick", "--ray"]) == 2
    assert "compare --ray runs the folds of a watch list" in capsys.readouterr().err


def test_live_records_pooled_across_tickers_are_the_dm_test_of_the_daily_mean():
    """score on a global run pools the tickers' resolved forecasts per horizon: the DM test
    of the daily mean loss differential, by hand; a forecast journalled with two band
    methods counts once."""
    from forecast.evaluation.cross_section import pooled_live, pooled_live_verdict
    from forecast.evaluation.significance import loss_differential_test

    generator = np.random.default_rng(5)
    targets = [str(day.date()) for day in pd.bdate_range("2024-01-02", periods=25)]
    records = {}
    for ticker in ("A", "B", "C"):
        actual = 100 + generator.normal(size=25)
        rows = pd.DataFrame(
            {
                "origin": [f"o{index}" for index in range(25)],
                "step": 1,
                "target": targets,
                "actual": actual,
                "median": actual + generator.normal(0, 0.3, 25),
                "naive": actual + generator.normal(0, 1.0, 25),
                "method": "conformal",
            }
        )
        records[ticker] = pd.concat([rows, rows.assign(method="mc_dropout")])  # counted once
    [found] = pooled_live(records)
    frames = pd.concat([rows[rows["method"] == "conformal"] for rows in records.values()])
    differential = (frames["median"] - frames["actual"]) ** 2 - (
        frames["naive"] - frames["actual"]
    ) ** 2
    daily = differential.groupby(frames["target"]).mean().sort_index().to_numpy()
    assert found["n"] == 75 and found["dates"] == 25 and found["tickers"] == 3
    assert found["dm_p_value"] == pytest.approx(loss_differential_test(daily, 1).p_value)
    line = pooled_live_verdict([found], enough=20)
    assert "over 3 tickers and 25 dates the live forecasts beat naive" in line
    assert "too few to judge" in pooled_live_verdict([found], enough=30)


def test_a_ticker_embedding_tells_the_tickers_apart_and_travels_with_each_run(tmp_path):
    """model.ticker_embedding 3: one network with a learned vector per ticker. Each member
    predicts with its own row (the NumPy network agrees with Keras), saved members load and
    forecast without TensorFlow's model, and a row changed changes only that ticker."""
    from forecast.config import load_config
    from forecast.errors import ConfigError
    from forecast.model.keras_file import read_layers

    config = tiny_config(tmp_path, "model.scope=global", "model.ticker_embedding=3")
    fitted = Forecaster(config).fit(panel_bars())
    assert {member.ticker_index_ for member in fitted.members_.values()} == {0, 1, 2}
    aaa = fitted["AAA"]
    windows = aaa.dataset().x_test[:5]  # (5, L, F): the ticker's own windows
    keras_says = aaa.keras_model().predict(
        np.concatenate([windows, np.full((*windows.shape[:2], 1), aaa.ticker_index_)], -1),
        verbose=0,
    )
    np.testing.assert_allclose(aaa.network().predict(windows), keras_says, rtol=1e-5, atol=1e-6)
    other = np.concatenate([windows, np.full((*windows.shape[:2], 1), 1 - aaa.ticker_index_)], -1)
    assert not np.allclose(aaa.network().network.predict(other), keras_says)  # another row
    folder = fitted.save(tmp_path / "saved")
    loaded = Forecaster.load(folder / "AAA")
    assert loaded.ticker_index_ == aaa.ticker_index_ and loaded.model_ is None
    pd.testing.assert_frame_equal(loaded.predict(steps=3).frame, aaa.predict(steps=3).frame)
    names = [name for name, _, _ in read_layers(folder / "AAA" / "model.keras")[0]]
    assert "TickerEmbedding" in names
    with pytest.raises(ConfigError, match="set model.scope: global too"):
        load_config(None, ["model.ticker_embedding=3"])
    with pytest.raises(UserError, match="fit a mapping of tickers"):
        Forecaster(config).fit(synthetic_prices(200, seed=1))


def test_a_global_model_of_returns_standardizes_each_ticker_by_its_own_volatility(tmp_path):
    """data.scaling auto, a log_return target, model.scope global: each ticker's returns are
    standardized by the mean and standard deviation of its own training rows (scaler.json
    says StandardScaler), the saved folder predicts as the fit did, and compare's local
    models see their inputs scaled the same way."""
    import json

    from forecast.commands.scopes import judge_scopes
    from forecast.data.scaling import StandardScaling

    bars = panel_bars()
    fitted = judge_scopes(tiny_config(tmp_path, "data.target=log_return"), bars).forecaster
    assert fitted["global"].config.data.scaling == "standard"
    for ticker, member in fitted["global"].members_.items():
        n_train = member.dataset().n_train
        returns = np.log(bars[ticker]["price"]).diff().to_numpy()[1:n_train]  # training rows
        assert isinstance(member.scaler_, StandardScaling), ticker
        assert member.scaler_.mean_[0] == pytest.approx(returns.mean(), rel=1e-12)
        assert member.scaler_.scale_[0] == pytest.approx(returns.std(), rel=1e-12)
        assert isinstance(fitted["local"][ticker].scaler_, StandardScaling), ticker
    fitted["global"].save(tmp_path / "global")
    state = json.loads((tmp_path / "global" / "AAA" / "scaler.json").read_text())
    assert state["type"] == "StandardScaler"
    loaded = Forecaster.load(tmp_path / "global")
    np.testing.assert_allclose(
        loaded["AAA"].predict_test()["predicted"],
        fitted["global"]["AAA"].predict_test()["predicted"],
        rtol=1e-6,
    )
