"""Input from the world as it is: CSVs as spreadsheets export them, values blamed on whoever
gave them, names that try to escape their folder or their page, run folders someone else
made. Each ends in a right answer or one clear line (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecast.config import load_config
from forecast.data.csv_files import read_csv
from forecast.data.sources import load_market, sample_path
from forecast.data.tickers import read_tickers
from forecast.errors import ConfigError, UserError
from tests.conftest import QUICK, synthetic_prices, tiny_config, write_series
from tests.test_reliability import assert_one_clear_line, run_main

# --- --set is blamed for what --set gave --------------------------------------------------


@pytest.mark.parametrize(
    "config, overrides, blamed",
    [
        (QUICK, ["data.lookback=-5"], "--set data.lookback=-5: data.lookback: -5 is invalid"),
        (None, ["train.epochs=0"], "--set train.epochs=0: train.epochs: 0 is invalid"),
        (None, ["model.layers.0.units=abc"], "--set model.layers.0.units=abc: model.layers.0"),
        ("bad", ["train.epochs=2"], "bad.yaml: data.lookback: -3 is invalid"),  # the file's
    ],
)
def test_an_invalid_value_is_blamed_on_where_it_came_from(
    config, overrides, blamed, tmp_path, capsys
):
    if config == "bad":
        config = tmp_path / "bad.yaml"
        config.write_text("data:\n  lookback: -3\n")
    arguments = ["summary", *(["--config", str(config)] if config else [])]
    for assignment in overrides:
        arguments += ["--set", assignment]
    code, error = run_main(arguments, capsys)
    assert_one_clear_line(code, error, blamed)


def test_a_set_that_mends_the_file_is_taken(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data:\n  lookback: -3\n")
    assert load_config(path, ["data.lookback=12"]).data.lookback == 12


# --- CSVs as spreadsheets write them --------------------------------------------------------

SAMPLE = pd.read_csv(sample_path()).iloc[-400:]


def european(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers with a decimal comma and . grouping thousands (German Excel)."""
    written = frame.copy()
    for column in ("Open", "High", "Low", "Close"):
        written[column] = [f"{value:.5f}".replace(".", ",") for value in frame[column]]
    written["Volume"] = [f"{int(value):,}".replace(",", ".") for value in frame["Volume"]]
    return written


STYLES = {
    "semicolon, decimal comma": lambda f, p: f.to_csv(p, sep=";", decimal=",", index=False),
    "semicolon, decimal comma, grouped, BOM": lambda f, p: european(f).to_csv(
        p, sep=";", index=False, encoding="utf-8-sig"
    ),
    "UTF-16 tabs (Excel's Unicode text)": lambda f, p: f.to_csv(
        p, sep="\t", index=False, encoding="utf-16"
    ),
    "quoted thousands": lambda f, p: f.assign(
        Volume=[f"{int(value):,}" for value in f["Volume"]]
    ).to_csv(p, index=False),
    "Windows-1252 header": lambda f, p: f.rename(columns={"Volume": "Umsätze"}).to_csv(
        p, sep=";", decimal=",", index=False, encoding="cp1252"
    ),
}


@pytest.mark.parametrize("style", STYLES)
def test_a_spreadsheets_csv_reads_as_the_original(style, tmp_path):
    path = tmp_path / "prices.csv"
    STYLES[style](SAMPLE, path)
    frame = read_csv(path)
    assert list(frame.columns[:5]) == ["Date", "Open", "High", "Low", "Close"]
    for column in ("Open", "High", "Low", "Close"):
        np.testing.assert_allclose(frame[column].astype(float), SAMPLE[column], rtol=1e-5)
    np.testing.assert_array_equal(frame[frame.columns[5]].astype(float), SAMPLE["Volume"])
    config = load_config(QUICK, ["data.source=csv", f"data.path={path}", "data.start=null"])
    market = load_market(config.data)
    np.testing.assert_allclose(market.prices.to_numpy(), SAMPLE["Close"], rtol=1e-5)


def test_the_msft_sample_saved_the_european_way_trains(tmp_path, capsys):
    """The case a user met: `no date column 'Date' (columns found: 'Date;Open;…')`."""
    path = tmp_path / "msft.csv"
    pd.read_csv(sample_path()).to_csv(path, sep=";", decimal=",", index=False)
    code = run_main(["summary", "--set", "data.source=csv", "--set", f"data.path={path}"], capsys)[
        0
    ]
    assert code == 0


def test_numbers_in_two_styles_in_one_file_are_named_not_guessed(tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    path.write_text("Date;Close\n2024-01-02;123,45\n2024-01-03;1,234.50\n")
    with pytest.raises(UserError, match=r"not numbers, first '1,234.50' \(row 3\)"):
        load_market(load_config(None, ["data.source=csv", f"data.path={path}"]).data)


# --- names are input too -------------------------------------------------------------------


@pytest.mark.parametrize("ticker", ["MS\x00FT", "MS\nFT", "", "   ", "X" * 65])
def test_a_ticker_with_control_characters_or_no_name_is_refused(ticker):
    with pytest.raises(ConfigError, match=r"data\.ticker: .* must be 1 to 64 printable"):
        load_config(None, ["data.source=csv", f"data.ticker={json.dumps(ticker)}"])


@pytest.mark.parametrize(
    "tickers, message",
    [
        ("MSFT,-X", "ticker '-X': not a ticker symbol"),
        ("A/B", "ticker 'A/B': not a ticker symbol"),
        ("<IMG>", "ticker '<IMG>': not a ticker symbol"),
        ("BRK.B,BRK-B", "tickers 'BRK.B' and 'BRK-B' would share the folder runs/BRK-B"),
    ],
)
def test_batch_tickers_that_are_not_symbols_or_share_a_folder_are_refused(tickers, message):
    with pytest.raises(UserError, match=message):
        read_tickers(tickers)


def test_a_hostile_ticker_stays_in_its_folder_and_its_page(tmp_path):
    """A CSV run named with ../, markup and a $: its folder is inside output.runs_dir, the
    report shows the name as text, and the figures draw."""
    import forecast as api

    ticker = "../../<script>alert(1)</script>$x"
    runs, csv = tmp_path / "runs", write_series(tmp_path / "prices.csv", synthetic_prices(200))
    config = tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={csv}",
        "data.start=null",
        f"data.ticker={json.dumps(ticker)}",
        f"output.runs_dir={runs}",
    )
    result = api.train(config, echo=lambda line: None)
    assert result.folder.parent == runs and result.folder.resolve().is_relative_to(runs)
    api.forecast(result.folder, steps=2)
    page = (result.folder / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;$x" in page
    outside = [path for path in tmp_path.rglob("*") if not path.is_relative_to(runs)]
    assert all(path.name in {"prices.csv"} or path.is_dir() for path in outside), outside


# --- run folders someone else made ------------------------------------------------------------


def truncated_npz(run):
    data = (run / "calibration.npz").read_bytes()
    (run / "calibration.npz").write_bytes(data[: len(data) // 3])


FOREIGN = {
    "a truncated calibration.npz": (truncated_npz, "calibration.npz: damaged calibration"),
    "a config.yaml with a YAML tag": (
        lambda run: (run / "config.yaml").write_text(
            "data: !!python/object/apply:os.system ['touch pwned']\n"
        ),
        "config.yaml line 1: invalid YAML",
    ),
    "a journal.csv that is not one": (
        lambda run: (run / "journal.csv").write_text('garbage,,"\n'),
        "journal.csv: not a journal forecast wrote",
    ),
    "a journal.csv with text for numbers": (
        lambda run: (run / "journal.csv").write_text(
            (run / "journal.csv").read_text().replace(",", ",x", 7)
        ),
        "journal.csv: not a journal forecast wrote",
    ),
}


@pytest.mark.parametrize("case", FOREIGN)
def test_a_run_folder_someone_else_made_is_refused_in_one_line(case, run_copy, capsys):
    import forecast as api

    api.forecast(run_copy, steps=2)  # a journal to damage
    damage, fragment = FOREIGN[case]
    damage(run_copy)
    code, error = run_main(["forecast", "--run", str(run_copy), "--steps", "2"], capsys)
    assert_one_clear_line(code, error, str(run_copy), fragment)
    assert not list(run_copy.parent.rglob("pwned"))


def test_a_journal_of_a_hundred_thousand_rows_is_read_and_kept(run_copy):
    """Read safely, whatever its size (a million rows: docs/reliability.md): the forecast's
    rows are appended after every byte."""
    import forecast as api

    api.forecast(run_copy, steps=2)
    journal = pd.read_csv(run_copy / "journal.csv", dtype=str)
    grown = pd.concat([journal] * 50_000, ignore_index=True)
    grown["origin"] = "2001-01-01"
    grown["step"] = range(1, len(grown) + 1)
    grown.to_csv(run_copy / "journal.csv", index=False)
    before = (run_copy / "journal.csv").read_bytes()
    api.forecast(run_copy, steps=2)
    after = (run_copy / "journal.csv").read_bytes()
    assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 2


def flip_weights_byte(run):
    """One byte of model.weights.h5 flipped inside model.keras (a disk's bit rot): found by
    bench/fuzz.py's run-folder campaign, which ended in a BadZipFile traceback."""
    import zipfile

    data = bytearray((run / "model.keras").read_bytes())
    with zipfile.ZipFile(run / "model.keras") as archive:
        member = archive.getinfo("model.weights.h5")
    inside = member.header_offset + 30 + len(member.filename) + len(member.extra) + 64
    data[inside] ^= 0xFF
    (run / "model.keras").write_bytes(bytes(data))


@pytest.mark.parametrize("command", ["evaluate", "forecast"])
def test_a_model_keras_with_a_flipped_byte_is_refused_in_one_line(command, run_copy, capsys):
    flip_weights_byte(run_copy)
    argv = [command, "--run", str(run_copy)] + (["--steps", "2"] if command == "forecast" else [])
    code, error = run_main(argv, capsys)
    assert_one_clear_line(code, error, str(run_copy / "model.keras"), "not a")


@pytest.mark.parametrize(
    "argv",
    [
        ["forecast", "--run", "."],
        ["score", "--run", "."],
        ["update", "--run", "."],
        ["evaluate", "--run", "."],
        ["explain", "--run", "."],
        ["train", "--resume", "."],
    ],
    ids=lambda argv: argv[0],
)
def test_a_folder_that_is_no_run_is_left_as_it_was(argv, tmp_path, monkeypatch, capsys):
    """Refused in one line, and not even a .lock file left behind (found by hand: the lock
    was taken before the folder was checked)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    code, error = run_main(argv, capsys)
    assert code == 2 and len(error.strip().splitlines()) == 1, error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
