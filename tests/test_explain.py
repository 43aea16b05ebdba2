"""explain (gate plots for one window) and summary (parameter formulas)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from forecast.cli import main
from forecast.config import DenseLayerConfig, load_config
from forecast.model.params import parameter_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["model.layers.0.type=gru", "model.layers.2.type=gru"],
        ["model.layers.0.type=gru", "model.layers.0.reset_after=false"],
        ["model.layers.0.type=simple_rnn", "model.layers.2.type=simple_rnn"],
        [
            "model.layers.0.bidirectional=true",
            "model.layers.2.type=gru",
            "model.layers.2.bidirectional=true",
        ],
        ["model.layers.2.use_bias=false"],
    ],
    ids=["lstm", "gru", "gru-reset-before", "simple_rnn", "bidirectional", "no-bias"],
)
def test_parameter_formulas_match_keras(overrides):
    from forecast.model import build_model

    config = load_config(
        None, ["data.lookback=9", "model.layers.0.units=6", "model.layers.2.units=4", *overrides]
    )
    rows = parameter_table(config)
    model = build_model(config)
    for row in rows:
        assert model.get_layer(row.name).count_params() == row.count, row
    assert sum(row.count for row in rows) == model.count_params()


def test_dense_and_mlp_counts_match_keras():
    from forecast.model import build_model

    config = load_config(None, ["data.lookback=9"])
    hidden = DenseLayerConfig(type="dense", units=5, activation="relu")
    with_dense = replace(config, model=replace(config.model, layers=(*config.model.layers, hidden)))
    mlp = replace(config, model=replace(config.model, layers=(hidden,)))
    for variant in (with_dense, mlp):
        assert (
            sum(row.count for row in parameter_table(variant))
            == build_model(variant).count_params()
        )


def test_summary_prints_the_reference_formula_without_tensorflow():
    code = (
        "import sys; from forecast.cli import main; main(['summary']); "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert "4 × (50 × (50 + 1) + 50)" in result.stdout and "10,400" in result.stdout
    assert "70,901" in result.stdout  # Keras's own total for the reference stack
    assert result.stdout.strip().endswith("False")


def test_explain_writes_gate_plot_and_step_means(trained, capsys):
    run_dir = trained.folder
    assert main(["explain", "--run", str(run_dir)]) == 0
    prices = trained.forecaster.dataset().prices
    last_window_end = prices.index[-2].strftime("%Y-%m-%d")
    png, csv = (
        run_dir / f"explain_{last_window_end}.png",
        run_dir / f"explain_{last_window_end}.csv",
    )
    assert png.read_bytes()[:4] == b"\x89PNG"
    means = pd.read_csv(csv)
    lookback = trained.forecaster.dataset().lookback
    assert len(means) == lookback and means["date"].iloc[-1] == last_window_end
    for column in ("forget_gate_mean", "input_gate_mean", "output_gate_mean", "cell_mean"):
        assert column in means
    assert means["forget_gate_mean"].between(0, 1).all()
    # the reference cell's prediction is the model's prediction for the last test day
    printed = capsys.readouterr().out
    predicted = trained.table["predicted"].iloc[-1]
    assert f"predicted {predicted:.2f}" in printed

    day = (
        trained.forecaster.dataset().test_dates[2].strftime("%Y-%m-%d")
    )  # window before the 4th test day
    assert main(["explain", "--run", str(run_dir), "--date", day, "--layer", "1"]) == 0
    assert (run_dir / f"explain_{day}.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--date", "1999-01-04"], "no test window ends on that day"),
        (["--date", "soon"], "not a date"),
        (["--layer", "5"], "recurrent layers 0..1"),
    ],
)
def test_explain_bad_arguments(trained, capsys, argv, message):
    assert main(["explain", "--run", str(trained.folder), *argv]) == 2
    assert message in capsys.readouterr().err
