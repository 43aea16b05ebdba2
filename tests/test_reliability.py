"""Bad input gets one clear line and exit code 2; damaged or untrusted files are refused."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.data.bars import clean_bars
from tests.conftest import QUICK, synthetic_prices

ROOT = Path(__file__).resolve().parent.parent


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    error = capsys.readouterr().err.strip().splitlines()
    return code, "\n".join(error)


def assert_one_clear_line(code: int, error: str, *fragments: str) -> None:
    assert code == 2
    assert len(error.splitlines()) == 1 and error.startswith("error: ")
    assert "Traceback" not in error
    for fragment in fragments:
        assert fragment in error, (fragment, error)


# --- config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("train:\n  epoch: 3\n", ["train.epoch: unknown key", "did you mean 'epochs'"]),
        ("train:\n  epochs: three\n", ["train.epochs", "'three' is not an integer"]),
        ("data:\n  test_fraction: 0.9\n", ["data.test_fraction", "0.9", "must be in [0, 0.5]"]),
        ("", ["config file is empty", "configs/default.yaml"]),
        ("train:\n  epochs: 3\n  seed: 1: 2\n", ["line 3", "invalid YAML"]),
        (
            "model: !!python/object/apply:os.system ['echo pwned']\n",
            ["invalid YAML", "could not determine"],
        ),
    ],
)
def test_bad_config_files(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, error = run_main(["train", "--config", str(path)], capsys)
    assert_one_clear_line(code, error, str(path), *fragments)


@pytest.mark.parametrize(
    "assignment, fragments",
    [
        ("train.epochs", ["expected KEY=VALUE", "--set train.epochs=5"]),
        ("train.epoc=5", ["unknown key 'train.epoc'", "did you mean 'train.epochs'"]),
    ],
)
def test_bad_overrides(capsys, assignment, fragments):
    code, error = run_main(["train", "--set", assignment], capsys)
    assert_one_clear_line(code, error, *fragments)


# --- CSV ----------------------------------------------------------------------------------


def rows(count: int, start: float = 100.0) -> str:
    dates = pd.bdate_range("2020-01-01", periods=count).strftime("%Y-%m-%d")
    return "Date,Close\n" + "".join(f"{d},{start + i % 7}\n" for i, d in enumerate(dates))


CSV_CASES = {
    "missing": (None, ["file not found", "set data.path"]),
    "not_csv": (b"\x89PNG\r\n\x1a\n\x00\x00binary", ["not a readable CSV", "Date,Close"]),
    "no_date": (
        "When,Close\n2024-01-02,1\n",
        ["no date column 'Date'", "'When'", "set data.date_column"],
    ),
    "no_price": (
        "Date,Open,High\n2024-01-02,1,2\n",
        ["no price column 'Close'", "'Open', 'High'", "data.price_column"],
    ),
    "bad_dates": (
        "Date,Close\n2024-01-02,1\n02/30/2024x,2\n",
        ["cannot read", "as a date", "YYYY-MM-DD"],
    ),
    "text_prices": ("Date,Close\n2024-01-02,1\n2024-01-03,ten\n", ["not numbers", "'ten'"]),
    "all_nan": ("Date,Close\n2024-01-02,\n2024-01-03,null\n", ["every value", "missing"]),
    "negative": (
        "Date,Close\n2024-01-02,1\n2024-01-03,-1\n",
        ["zero or negative", "prices must be > 0"],
    ),
    "zero": ("Date,Close\n2024-01-02,1\n2024-01-03,0\n", ["zero or negative"]),
    "duplicates": (
        "Date,Close\n2024-01-02,1\n2024-01-02,1\n",
        ["duplicate date", "keep one row per date"],
    ),
    "too_short": (rows(50), ["found 50 rows", "need at least 77", "smaller data.lookback"]),
    "single_row": ("Date,Close\n2024-01-02,5\n", ["found 1 rows", "need at least"]),
    "empty": ("", ["file is empty"]),
}


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_bad_csv_files(tmp_path, capsys, case):
    content, fragments = CSV_CASES[case]
    path = tmp_path / f"{case}.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, error = run_main(
        [
            "train",
            "--set",
            "data.source=csv",
            "--set",
            f"data.path={path}",
            "--out",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert_one_clear_line(code, error, str(path), *fragments)
    assert not (tmp_path / "out").exists()  # nothing written for bad data


def test_unsorted_dates_are_sorted_not_refused():
    frame = pd.DataFrame(
        {"Date": ["2024-01-03", "2024-01-02", "2024-01-04"], "Close": ["2", "1", "3"]}
    )
    prices = clean_bars(frame, "Date", "Close", "x.csv")["price"]
    assert prices.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("scale", [1e12, 1e-6])
def test_huge_and_tiny_prices_train_without_nan(tmp_path, scale):
    from forecast.commands.train import train
    from tests.conftest import tiny_config

    prices = synthetic_prices(200, seed=2) / 100.0 * scale
    path = tmp_path / "prices.csv"
    pd.DataFrame(
        {
            "Date": prices.index.strftime("%Y-%m-%d"),
            "Close": [repr(float(v)) for v in prices.to_numpy()],
        }
    ).to_csv(path, index=False)
    outcome = train(
        tiny_config(
            tmp_path, "data.source=csv", f"data.path={path}", "data.start=null", "train.epochs=2"
        ),
        out=tmp_path / "run",
        echo=lambda line: None,
    )
    assert all(np.isfinite(outcome.forecaster.history_["loss"]))
    assert np.isfinite(outcome.table["predicted"]).all()
    assert outcome.summary["rmse"] / scale < 1.0  # errors in the series' own units


# --- run folders ------------------------------------------------------------------------


@pytest.fixture
def damaged(trained, tmp_path) -> Path:
    """A private copy of the trained run to break."""
    copy = tmp_path / "run"
    shutil.copytree(trained.folder, copy)
    return copy


def test_run_folder_missing_model_or_scaler(damaged, capsys):
    (damaged / "model.keras").unlink()
    code, error = run_main(["evaluate", "--run", str(damaged)], capsys)
    assert_one_clear_line(code, error, "model.keras is missing", "train again")


def test_scaler_json_with_wrong_shapes(damaged, capsys):
    state = json.loads((damaged / "scaler.json").read_text())
    state["data_min_"] = [1.0, 2.0]
    (damaged / "scaler.json").write_text(json.dumps(state))
    code, error = run_main(["forecast", "--run", str(damaged)], capsys)
    assert_one_clear_line(code, error, "scaler.json", "data_min_ has shape (2,)")


def test_run_whose_lookback_disagrees_with_its_model(damaged, capsys):
    config = (damaged / "config.yaml").read_text().replace("lookback: 10", "lookback: 12")
    (damaged / "config.yaml").write_text(config)
    code, error = run_main(["evaluate", "--run", str(damaged)], capsys)
    assert_one_clear_line(code, error, "expects windows (None, 10, 1)", "lookback 12")


def test_forecast_data_shorter_than_the_runs_lookback(damaged, tmp_path, capsys):
    path = tmp_path / "short.csv"
    path.write_text(rows(5))
    code, error = run_main(["forecast", "--run", str(damaged), "--data", str(path)], capsys)
    assert_one_clear_line(code, error, "5 rows of prices", "lookback 10")


def test_resume_a_complete_run_is_refused(damaged, capsys):
    code, error = run_main(["train", "--resume", str(damaged)], capsys)
    assert_one_clear_line(code, error, "already complete")


def test_out_folder_holding_a_run_is_refused_unless_overwrite(damaged, capsys, tmp_path):
    argv = [
        "train",
        "--config",
        str(QUICK),
        "--set",
        "train.epochs=1",
        "--set",
        "data.lookback=10",
        "--set",
        "model.layers.0.units=2",
        "--set",
        "model.layers.2.units=2",
        "--out",
        str(damaged),
    ]
    code, error = run_main(argv, capsys)
    assert_one_clear_line(code, error, "folder is not empty", "--overwrite")
    assert main(argv + ["--overwrite"]) == 0
    assert json.loads((damaged / "run.json").read_text())["status"] == "complete"


def test_unwritable_out_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, error = run_main(["train", "--config", str(QUICK), "--out", str(blocker / "run")], capsys)
    assert_one_clear_line(code, error, "cannot create folder", "writable")


# --- untrusted files ----------------------------------------------------------------------


def test_model_with_a_lambda_layer_is_refused(damaged, capsys):
    import keras

    inputs = keras.Input((10, 1))
    outputs = keras.layers.Lambda(lambda t: t[:, -1, :])(inputs)
    keras.Model(inputs, outputs).save(damaged / "model.keras")
    code, error = run_main(["evaluate", "--run", str(damaged)], capsys)
    assert_one_clear_line(code, error, "refused to load", "Lambda")


def test_no_pickles_in_artifacts(trained):
    for path in trained.folder.iterdir():
        data = path.read_bytes()
        if path.suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                assert not any(name.endswith((".pkl", ".pickle")) for name in names)
                for name in names:
                    assert not archive.read(name).startswith(b"\x80\x04"), name
        else:
            assert not data.startswith((b"\x80\x03", b"\x80\x04", b"\x80\x05")), path.name


def test_ticker_cannot_write_outside_the_runs_folder(tmp_path):
    from forecast.store.runs import create_run_dir

    for ticker in ("../../etc", "a/b", "..\\x", "/abs"):
        folder = create_run_dir(tmp_path / "runs", ticker)
        assert folder.parent == tmp_path / "runs"
        assert folder.resolve().is_relative_to((tmp_path / "runs").resolve())
