"""Fuzz targets: a hypothesis strategy and a check for each, shared by tests/test_fuzz.py (a
few hundred inputs per run) and bench/fuzz.py (thousands, counted in bench/FUZZ.md).

A check returns what happened ("ok" or "refused") and raises AssertionError on a traceback,
a message that is not one line, or a silently wrong answer: each CSV is written from known
dates and prices, so what loads is compared with what was meant.

- ``csv``: CSV contents as spreadsheets and people write them (separators, decimal commas,
  grouped thousands, encodings, date styles, time zones, row order) with damage (missing,
  zero, negative, infinite or text prices, duplicated dates, no rows) → ``load_market``.
- ``prices``: price series through load → split → scale → window.
- ``config``: config mappings (unknown keys, wrong types, odd layer lists) → validation.
- ``overrides``: ``--set KEY=VALUE`` lists → load_config; an invalid value is blamed on its
  ``--set``.
- ``command_line``: argument lists for every command, valid and not → ``forecast.cli.main``.
- ``run_folder``: a run folder with one file damaged → forecast, evaluate, score, explain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from forecast.config import Config, config_from_dict, config_to_dict, load_config
from forecast.errors import ConfigError, UserError

# --- CSV contents -------------------------------------------------------------------------

REFUSED = {  # damage → a fragment its one-line refusal must hold
    "duplicate": "duplicate",
    "zero": "zero or negative",
    "negative": "zero or negative",
    "infinite": "infinite",
    "text": "not numbers",
    "no rows": "no rows",
    "all missing": "every value",
}
DATE_STYLES = ("%Y-%m-%d", "%d.%m.%Y", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%m-%Y")
# refusals a clean file may get: day/month order that cannot be told apart, or a time of
# day at a spacing no bar interval explains
FAIR = ("read either way", "reads two ways", "none of the intervals", "spacing")


@dataclasses.dataclass(frozen=True)
class CsvExample:
    content: bytes
    days: list[pd.Timestamp]  # per priced row: daily bars load as their written dates
    prices: list[float]
    damage: str | None
    describe: str


def _price(value: float) -> float:
    return float(f"{value:.6g}")


@st.composite
def csv_examples(draw) -> CsvExample:
    rows = draw(st.integers(1, 40))
    start = draw(st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1)))
    days = pd.bdate_range(start, periods=rows)
    clock = draw(st.sampled_from([None, "09:30", "16:00"]))
    offsets = draw(st.sampled_from([None, "same", "mixed"])) if clock else None
    prices = [
        _price(draw(st.floats(1e-4, 1e7, allow_nan=False, allow_infinity=False)))
        for _ in range(rows)
    ]
    volumes = [draw(st.integers(0, 10**10)) for _ in range(rows)]
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    decimal = draw(st.sampled_from([".", ","]))
    grouped = draw(st.booleans())
    date_style = draw(st.sampled_from(DATE_STYLES if offsets is None else DATE_STYLES[:1]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    order = draw(st.sampled_from(["sorted", "reversed", "shuffled"]))
    damage = draw(st.sampled_from([None, None, None, "missing", *REFUSED]))
    stamps = []
    for index, day in enumerate(days):
        text = day.strftime(date_style) + (f" {clock}" if clock else "")
        if offsets:  # one offset, or a different one on each row (as across DST)
            hours = 1 if offsets == "same" else (-5, -4, 0, 9)[index % 4]
            text += f"{hours:+03d}:00"
        stamps.append(text)
    price_text = [_number_text(value, decimal, grouped and value >= 1000) for value in prices]
    volume_text = [_number_text(float(v), decimal, grouped, integer=True) for v in volumes]
    kept = list(range(rows))
    if damage == "missing" and rows > 1:
        gone = draw(st.integers(0, rows - 1))
        price_text[gone] = draw(st.sampled_from(["", "null", "NaN", "n/a", "-"]))
        kept.remove(gone)
    elif damage == "all missing":
        price_text = [""] * rows
    elif damage in ("zero", "negative", "infinite", "text"):
        spot = draw(st.integers(0, rows - 1))
        price_text[spot] = {"zero": "0", "negative": "-1", "infinite": "inf", "text": "ten"}[damage]
    frame = pd.DataFrame(
        {
            draw(st.sampled_from(["Date", "date", "DATE"])): stamps,
            "Open": price_text,
            draw(st.sampled_from(["Close", "close", "CLOSE"])): price_text,
            "Volume": volume_text,
            "Name": draw(st.sampled_from(["ACME", "ACME, Inc.", "Ärzte; AG"])),
        }
    )
    if damage == "duplicate":
        frame = pd.concat([frame, frame.iloc[[draw(st.integers(0, rows - 1))]]])
    if damage == "no rows":
        frame = frame.iloc[:0]
    positions = list(range(len(frame)))
    if order == "reversed":
        positions.reverse()
    elif order == "shuffled":
        positions = draw(st.permutations(positions))
    frame = frame.iloc[positions]
    buffer = io.StringIO()
    frame.to_csv(buffer, sep=sep, index=False)
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = text.replace("\n", "\n\n", 1)  # a blank line after the header
    content = text.encode(encoding, errors="replace")
    describe = (
        f"{rows} rows, sep {sep!r}, decimal {decimal!r}, grouped {grouped}, dates "
        f"{date_style}{' ' + clock if clock else ''} offsets {offsets}, {encoding}, {order}, "
        f"damage {damage}"
    )
    return CsvExample(
        content,
        [days[k] for k in kept],
        [prices[k] for k in kept],
        None if damage == "missing" else damage,
        describe,
    )


def _number_text(value: float, decimal: str, grouped: bool, integer: bool = False) -> str:
    text = f"{value:,.0f}" if integer else f"{value:,.10g}" if grouped else repr(value)
    if integer and not grouped:
        text = str(int(value))
    if not grouped:
        text = text.replace(",", "")
    if "e" in text:
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    if decimal == ",":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def check_csv(example: CsvExample, folder: Path) -> str:
    from forecast.data.sources import load_market

    path = folder / "fuzz.csv"
    path.write_bytes(example.content)
    config = load_config(None, ["data.source=csv", f"data.path={path}", "data.start=null"])
    try:
        market = load_market(config.data)
    except UserError as error:
        message = one_line(error)
        reasons = (*FAIR, REFUSED[example.damage]) if example.damage else FAIR
        assert any(reason in message for reason in reasons), (example.describe, message)
        return "refused"
    assert example.damage is None, (example.describe, "loaded what must be refused")
    index = pd.DatetimeIndex(market.bars.index)
    expected = sorted(zip(example.days, example.prices))
    assert list(index) == [stamp for stamp, _ in expected], example.describe
    np.testing.assert_allclose(
        market.prices.to_numpy(),
        [price for _, price in expected],
        rtol=1e-9,
        err_msg=example.describe,
    )
    return "ok"


# --- price series through the pipeline ------------------------------------------------------

PRICE_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=1e-9, max_value=1e13),
    st.just(0.0),
    st.just(5.0),
)


def price_examples() -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {
            "values": st.lists(PRICE_VALUES, min_size=0, max_size=120),
            "gaps": st.lists(st.integers(0, 5), min_size=120, max_size=120),
            "lookback": st.integers(2, 30),
            "test_fraction": st.floats(0.05, 0.5),
            "validation_fraction": st.sampled_from([0.0, 0.1, 0.3]),
            "target": st.sampled_from(["price", "log_return"]),
        }
    )


def check_prices(example: dict[str, Any], folder: Path | None = None) -> str:
    from forecast.data.bars import clean_bars
    from forecast.data.windows import WindowSpec, prepare_dataset

    values = example["values"]
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(
        np.cumsum(example["gaps"][: len(values)]), "D"
    )
    frame = pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Close": [repr(v) for v in values]})
    spec = WindowSpec(
        example["lookback"],
        example["test_fraction"],
        example["validation_fraction"],
        target=example["target"],
    )
    try:
        prices = clean_bars(frame, "Date", "Close", "fuzz.csv")["price"]
        dataset = prepare_dataset(prices, spec)
    except UserError as error:
        one_line(error)
        return "refused"
    assert prices.index.is_unique and (prices > 0).all()
    for array in (dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test):
        assert np.isfinite(array).all()
    assert len(dataset.y_test) >= 1 and len(dataset.y_train) >= 1
    return "ok"


# --- configs ----------------------------------------------------------------------------------

VALID = config_to_dict(Config())
SECTIONS = {section: list(values) for section, values in VALID.items() if isinstance(values, dict)}
LEAF_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.dates(min_value=dt.date(1990, 1, 1)).map(str),
    st.lists(st.integers(), max_size=2),
)
LAYER_KEYS = ["type", "units", "rate", "activation", "bidirectional", "dropout", "bogus"]
LAYER_TYPES = st.sampled_from(["lstm", "gru", "simple_rnn", "dropout", "dense"])


@st.composite
def config_examples(draw) -> dict[str, Any]:
    values = json.loads(json.dumps(VALID))
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from([*SECTIONS, "extra"]))
        if section == "extra":
            values[draw(st.text(max_size=6))] = draw(LEAF_VALUES)
            continue
        key = draw(st.one_of(st.sampled_from(SECTIONS[section]), st.text(max_size=6)))
        if key == "layers":
            layer = st.dictionaries(
                st.sampled_from(LAYER_KEYS), st.one_of(LEAF_VALUES, LAYER_TYPES)
            )
            values[section][key] = draw(st.lists(layer, max_size=3))
        else:
            values[section][key] = draw(LEAF_VALUES)
    return values


def check_config(values: dict[str, Any], folder: Path | None = None) -> str:
    try:
        config = config_from_dict(values)
    except ConfigError as error:
        one_line(error)
        return "refused"
    assert isinstance(config, Config)
    assert config_from_dict(config_to_dict(config)) == config
    return "ok"


KEYS = [f"{section}.{key}" for section, keys in SECTIONS.items() for key in keys]
OVERRIDE_VALUES = st.one_of(
    st.sampled_from(["-5", "0", "1", "2.5", "abc", "null", "[]", "{}", "true", "1e9", "'x'"]),
    st.integers(-10, 300).map(str),
    st.text(alphabet="abc01.-[]{}:,'\" ", max_size=8),
)


def override_examples() -> st.SearchStrategy:
    assignment = st.tuples(
        st.one_of(st.sampled_from(KEYS), st.sampled_from(["model.layers.0.units", "x.y"])),
        OVERRIDE_VALUES,
    ).map(lambda pair: f"{pair[0]}={pair[1]}")
    return st.lists(assignment, min_size=1, max_size=3)


def check_overrides(overrides: list[str], folder: Path | None = None) -> str:
    try:
        load_config("quick", overrides)
    except ConfigError as error:
        message = one_line(error)
        blamed = message.split(": ", 1)[0]
        assert blamed.startswith("--set "), message  # quick.yaml's own values are valid
        return "refused"
    return "ok"


# --- command lines and run folders ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class World:
    """What command lines point at: a trained run to copy, a tiny config, CSVs."""

    run: Path  # a complete run folder (never written: each example gets a copy)
    config: Path  # a tiny config reading ``csv``
    csv: Path  # the bars ``run`` was trained on, and 15 more (for update / --data)
    folder: Path


COMMANDS = {
    "train": ["--config", "--set", "--out", "--overwrite", "--resume"],
    "evaluate": ["--run"],
    "forecast": ["--run", "--steps", "--samples", "--data", "--band-method", "--refresh"],
    "score": ["--run", "--data", "--refresh"],
    "update": ["--run", "--data", "--epochs", "--refit", "--out", "--forecast"],
    "backtest": ["--config", "--set", "--folds", "--samples", "--out"],
    "compare": ["--config", "--set", "--models", "--folds", "--out"],
    "explain": ["--run", "--date", "--layer"],
    "summary": ["--config", "--set"],
    "batch": ["--tickers", "--config", "--forecast", "--backtest", "--out", "--address"],
    "sweep": ["--space", "--config", "--trials", "--folds", "--out", "--address"],
}
FLAG_VALUES = ["RUN", "CONFIG", "CSV", "NONE", "FOLDER", "0", "-1", "2", "3", "abc", "", "-x"]
SETS = ["train.epochs=0", "data.lookback=-5", "train.epochs=x", "data.lookback=5", "bogus=1"]


@st.composite
def command_line_examples(draw, skip: tuple[str, ...] = ()) -> list[str]:
    """A command and up to four of its flags with odd values; ``skip``: commands left out."""
    command = draw(st.sampled_from(sorted(set(COMMANDS) - set(skip))))
    argv = [command]
    for flag in draw(st.lists(st.sampled_from(COMMANDS[command]), max_size=4, unique=True)):
        if flag in ("--overwrite", "--refresh", "--refit"):
            argv.append(flag)
        elif flag == "--set":
            argv += [flag, draw(st.sampled_from(SETS))]
        else:
            argv += [flag, draw(st.sampled_from(FLAG_VALUES))]
    if command in ("evaluate", "forecast", "score", "update", "explain") and "--run" not in argv:
        argv += ["--run", "RUN"]  # mostly a real run, so the other flags are reached
    needs_config = command in ("train", "backtest", "compare", "summary", "batch", "sweep")
    if needs_config and "--config" not in argv:
        argv += ["--config", "CONFIG"]
    if command in ("batch", "sweep") and "--address" not in argv:
        argv += ["--address", "127.0.0.1:1"]  # their own tests run them on Ray
    if command == "batch" and "--tickers" not in argv:
        argv += ["--tickers", draw(st.sampled_from(["SYN", "A,B", "-X", "<b>"]))]
    if command == "sweep" and "--space" not in argv:
        argv += ["--space", draw(st.sampled_from(["SPACE", "CSV", "NONE"]))]
    return argv


def check_command_line(argv: list[str], world: World) -> str:
    from forecast.cli import main

    work = Path(tempfile.mkdtemp(dir=world.folder))
    run = work / "run"
    shutil.copytree(world.run, run)
    space = work / "space.yaml"
    space.write_text("train.epochs: {int: [1, 2]}\n")
    names = {
        "RUN": str(run),
        "CONFIG": str(world.config),
        "CSV": str(world.csv),
        "NONE": str(work / "none"),
        "FOLDER": str(work),
        "SPACE": str(space),
    }
    resolved = [names.get(part, part) for part in argv]
    if "--out" in resolved and resolved[resolved.index("--out") + 1] in ("", "0", "2", "3"):
        resolved[resolved.index("--out") + 1] = str(work / "out")  # never the working folder
    return outcome(main, resolved, work, argv)


def damage_examples() -> st.SearchStrategy:
    files = [
        "run.json",
        "config.yaml",
        "scaler.json",
        "prices.csv",
        "calibration.json",
        "calibration.npz",
        "model.keras",
        "journal.csv",
        "metrics.json",
    ]
    how = st.one_of(
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("flip"), st.integers(0, 10**6)),
        st.tuples(st.just("text"), st.text(max_size=40)),
        st.tuples(st.just("delete"), st.none()),
    )
    command = st.sampled_from(["forecast", "evaluate", "score", "explain"])
    return st.tuples(st.sampled_from(files), how, command)


def check_run_folder(example: tuple, world: World) -> str:
    from forecast.cli import main

    name, (how, amount), command = example
    work = Path(tempfile.mkdtemp(dir=world.folder))
    run = work / "run"
    shutil.copytree(world.run, run)
    path = run / name
    data = path.read_bytes() if path.exists() else b""
    if how == "truncate":
        path.write_bytes(data[: int(len(data) * amount)])
    elif how == "flip" and data:
        position = amount % len(data)
        path.write_bytes(data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1 :])
    elif how == "text":
        path.write_text(amount)
    else:
        path.unlink(missing_ok=True)
    argv = [command, "--run", str(run), *(["--steps", "2"] if command == "forecast" else [])]
    return outcome(main, argv, work, example)


# --- shared -----------------------------------------------------------------------------------


def one_line(error: BaseException) -> str:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message, message
    return message


def one_line_text(stderr: str) -> None:
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-2000:]


def outcome(main: Callable[[list[str]], int], argv: list[str], work: Path, example: Any) -> str:
    """Run the CLI inside the scratch folder ``work`` (relative paths such as 'abc', '.' or ''
    land there), remove it, and say how ``example`` ended: 'ok' (exit 0) or 'refused' (exit 2,
    one line)."""
    here = Path.cwd()
    os.chdir(work)
    try:
        code, error = run_quietly(main, argv)
    finally:
        os.chdir(here)
    shutil.rmtree(work, ignore_errors=True)
    assert code in (0, 2), (example, code, error[-2000:])
    if code == 2:
        one_line_text(error)
        return "refused"
    return "ok"


def run_quietly(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str]:
    """The CLI in this process: its exit code and stderr (stdout dropped)."""
    errors = io.StringIO()
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    finally:
        logging.disable(logging.NOTSET)
    return code, errors.getvalue()


TARGETS: dict[str, tuple[Callable[[], st.SearchStrategy], Callable[..., str]]] = {
    "csv": (csv_examples, check_csv),
    "prices": (price_examples, check_prices),
    "config": (config_examples, check_config),
    "overrides": (override_examples, check_overrides),
    "command_line": (command_line_examples, check_command_line),
    "run_folder": (damage_examples, check_run_folder),
}
