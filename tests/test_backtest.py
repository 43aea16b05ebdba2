"""Walk-forward backtest and model comparison: baselines on the same days, no leakage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.evaluation.backtest import baseline_predictions, make_folds
from forecast.evaluation.backtest import walk_forward as backtest
from forecast.evaluation.compare import family_config
from forecast.evaluation.scoring import backtest_verdict as verdict
from forecast.evaluation.significance import verdict_word
from forecast.model import build_model
from tests.conftest import QUICK, synthetic_prices, tiny_config


def test_folds_expand_and_cover_the_end():
    folds = make_folds(1000, 5, 0.2)
    assert [(fold.cutoff, fold.stop) for fold in folds] == [
        (800, 840),
        (840, 880),
        (880, 920),
        (920, 960),
        (960, 1000),
    ]


def test_baselines_by_hand():
    prices = np.array([10.0, 12.0, 11.0, 13.0, 14.0, 16.0])
    result = baseline_predictions(prices, cutoff=4, stop=6, lookback=2)
    np.testing.assert_allclose(result["naive"], [13.0, 14.0])
    np.testing.assert_allclose(result["drift"], [13.0 + 1.0, 14.0 + 1.0])  # (13-10)/3
    np.testing.assert_allclose(result["moving_average"], [12.0, 13.5])


def test_changing_the_future_changes_nothing_before_the_cutoff(tmp_path):
    config = tiny_config(tmp_path)
    prices = synthetic_prices(160, seed=4)
    quiet = lambda line: None  # noqa: E731
    original = backtest(config, prices, folds=3, echo=quiet)
    last_cutoff = original.outcomes[-1].fold.cutoff
    changed = prices.copy()
    changed.iloc[last_cutoff:] *= 1.7  # every price from the last fold's cut-off on
    again = backtest(config, changed, folds=3, echo=quiet)
    for before, after in zip(original.outcomes, again.outcomes):
        assert before.scaler == after.scaler  # fitted on rows before each cut-off only
    for before, after in zip(original.outcomes[:-1], again.outcomes[:-1]):
        pd.testing.assert_frame_equal(before.predictions, after.predictions)
    first_day = original.outcomes[-1].predictions.iloc[0]
    assert again.outcomes[-1].predictions.iloc[0]["model"] == first_day["model"]
    assert (
        again.outcomes[-1].predictions.iloc[1]["model"]
        != original.outcomes[-1].predictions.iloc[1]["model"]
    )


def test_family_configs_keep_the_shape(tmp_path):
    config = tiny_config(tmp_path)
    for family in ("gru", "simple_rnn", "mlp"):
        model = build_model(family_config(config, family))
        names = [layer.name for layer in model.layers]
        expected = "dense_0" if family == "mlp" else f"{family}_0"
        assert expected in names
    mlp = family_config(config, "mlp")
    assert [layer.type for layer in mlp.model.layers] == ["dense", "dropout", "dense", "dropout"]


@pytest.mark.slow
def test_backtest_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "bt"
    code = main(
        [
            "backtest",
            "--config",
            str(QUICK),
            "--set",
            "train.epochs=1",
            "--set",
            "data.lookback=10",
            "--folds",
            "2",
            "--samples",
            "8",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    table = pd.read_csv(out / "backtest.csv")
    methods = {"model", "naive", "drift", "moving_average", "arima", "ets", "theta"}
    assert set(table["method"]) == methods
    assert len(table) == 2 * 7 + 7
    for column in (
        "rmse",
        "mae",
        "mape",
        "mase",
        "rmse_ratio",
        "dm_p_value",
        "dm_p_value_abs",
        "dm_p_value_drift",
        "directional_accuracy",
        "timing_p_value",
        "up_share",
        "market_up_rate",
        "direction_changes",
        "best_lag",
        "coverage80",
        "coverage95",
    ):
        assert column in table.columns
    assert "direction_p_value" not in table.columns  # the binomial test against 50 % is gone
    naive = table[table["method"] == "naive"]
    assert (naive["rmse_ratio"] == 1.0).all() and (naive["best_lag"] == 1).all()
    assert naive["dm_p_value"].isna().all()  # naive against itself: nothing to test
    summary = json.loads((out / "backtest.json").read_text())
    assert printed[-1] == verdict(summary)
    model = summary["overall"]["model"]
    word = verdict_word(np.nan if model["dm_p_value"] is None else model["dm_p_value"])
    assert printed[-1].startswith(
        {
            "beats": "The model beats the naive forecast",
            "worse than": "The model is worse than the naive forecast",
            "no better than": "The model is no better than the naive forecast",
        }[word]
    )
    tested = model["dm_p_value"] is not None  # naive and model differ on these bars
    assert tested and f"over {model['n']} bars" in printed[-1]
    assert (out / "backtest.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "report.html").read_text()
    assert "Plotly.newPlot" in page and "Backtest" in page  # the chart, drawn offline
    assert (out / "backtest.plotly.json").exists() and (out / "plotly.min.js").exists()


@pytest.mark.slow
def test_compare_command_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prices = synthetic_prices(150, seed=9)
    path = tmp_path / "syn.csv"
    pd.DataFrame({"Date": prices.index.strftime("%Y-%m-%d"), "Close": prices.to_numpy()}).to_csv(
        path, index=False
    )

    code = main(
        [
            "compare",
            "--config",
            str(QUICK),
            "--set",
            "data.source=csv",
            "--set",
            f"data.path={path}",
            "--set",
            "data.start=null",
            "--set",
            "data.lookback=8",
            "--set",
            "train.epochs=1",
            "--models",
            "gru,mlp",
            "--folds",
            "1",
            "--out",
            "cmp",
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table["method"]) == [
        "gru",
        "mlp",
        "naive",
        "drift",
        "moving_average",
        "arima",
        "ets",
        "theta",
    ]
    assert table["rmse"].notna().all()
    assert (tmp_path / "cmp" / "compare.png").exists()
    assert "lowest RMSE" in capsys.readouterr().out
    assert main(["compare", "--models", "lstm,transformer"]) == 2


def test_report_html_has_metrics_table_and_its_charts(trained):
    page = (trained.folder / "report.html").read_text()
    assert "<table" in page and "naive (previous close)" in page
    assert page.count("Plotly.newPlot") == 2  # true vs predicted, loss
    assert "src='http" not in page and "<script src='plotly.min.js'" in page  # offline
    for name in ("true_vs_predicted", "loss"):  # each chart's picture stays, linked
        assert (trained.folder / f"{name}.png").exists() and f"href='{name}.png'" in page
