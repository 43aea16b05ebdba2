"""Shared fixtures: tiny configs, seeded synthetic prices, yfinance-shaped frames."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The fused LSTM op is compiled into the checkout's (git-ignored) .cache, not the user's home.
os.environ.setdefault(
    "FORECAST_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "forecast")
)

import numpy as np
import pandas as pd
import pytest
import yaml

from forecast.config import Config, load_config

ROOT = Path(__file__).resolve().parent.parent
QUICK = ROOT / "configs" / "quick.yaml"


def synthetic_prices(n_rows: int = 300, seed: int = 0, start: str = "2020-01-01") -> pd.Series:
    """A seeded geometric random walk on business days, like a stock's closes."""
    generator = np.random.default_rng(seed)
    returns = generator.normal(0.0005, 0.01, n_rows)
    values = 100.0 * np.exp(np.cumsum(returns))
    index = pd.bdate_range(start, periods=n_rows, name="date")
    return pd.Series(values, index=index, name="price")


def tiny_config(tmp_path: Path, *overrides: str) -> Config:
    """The quick config shrunk further for unit tests; runs go under tmp_path."""
    return load_config(
        QUICK,
        [
            "data.lookback=10",
            "model.layers.0.units=4",
            "model.layers.2.units=4",
            "train.epochs=1",
            "evaluation.baselines=[]",  # tests of the baselines switch them on
            f"output.runs_dir={tmp_path / 'runs'}",
            *overrides,
        ],
    )


@pytest.fixture(scope="session", autouse=True)
def fused_lstm_built() -> None:
    """Build the fused LSTM op once, before any test: a first build inside a CLI test would
    add its "compiling…" line to that command's stderr."""
    from forecast.model.native import fused_ops

    fused_ops()


def require_fused_ops() -> None:
    """Tests of the fused ops themselves: without them (no compiler, FORECAST_NATIVE=0) a
    fused layer is the stock one, and comparing it with the stock layer would compare the
    stock layer with itself. Skipped, saying why, on such a machine; a failure under CI,
    which installs g++ and must test the ops."""
    from forecast.model import native

    if native.fused_ops() is None:
        reason = f"the fused ops are not built here ({native.unavailable_reason()})"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def prices() -> pd.Series:
    return synthetic_prices()


def yfinance_frame(
    ticker: str = "AAPL", n_rows: int = 120, auto_adjust: bool = True, tz: str | None = None
) -> pd.DataFrame:
    """A frame shaped exactly like yfinance 1.x ``download`` output for one ticker."""
    close = synthetic_prices(n_rows, seed=3).to_numpy()
    index = pd.bdate_range("2023-01-02", periods=n_rows, name="Date")
    if tz:
        index = index.tz_localize(tz)
    columns = {
        "Close": close,
        "High": close * 1.01,
        "Low": close * 0.99,
        "Open": close,
        "Volume": np.full(n_rows, 1_000_000, dtype="int64"),
    }
    if not auto_adjust:
        columns = {"Adj Close": close * 0.98, **columns}
    frame = pd.DataFrame(columns, index=index)
    frame.columns = pd.MultiIndex.from_product(
        [list(frame.columns), [ticker]], names=["Price", "Ticker"]
    )
    return frame


def empty_yfinance_frame(ticker: str = "NOPE") -> pd.DataFrame:
    """What yfinance 1.x returns for a failed ticker: no rows, columns still listed."""
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [ticker]],
        names=["Price", "Ticker"],
    )
    return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"))


@pytest.fixture(scope="session", autouse=True)
def fake_yahoo() -> str:
    """The base URL of a loopback server that plays Yahoo Finance (tests/fake_yahoo.py),
    where every test's Yahoo request goes (FORECAST_YAHOO_URL, inherited by the processes
    tests start): no test talks to Yahoo itself."""
    from forecast.data.yahoo import YAHOO_URL
    from tests.fake_yahoo import serve

    server = serve()
    os.environ[YAHOO_URL] = f"http://127.0.0.1:{server.server_port}"
    yield os.environ[YAHOO_URL]
    server.shutdown()


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One tiny model trained on the quick config (sample data), shared by many tests: read
    it, never write into it (``run_copy`` is the copy to write into)."""
    from forecast.commands.train import train

    tmp_path = tmp_path_factory.mktemp("trained")
    return train(tiny_config(tmp_path), out=tmp_path / "run", echo=lambda line: None)


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    """A private copy of the shared trained run folder, for a test that writes into it."""
    target = tmp_path / "run"
    shutil.copytree(trained.folder, target)
    return target


# --- series shaped like real market data (bar intervals, sessions, OHLCV) --------------------


def ohlcv_frame(index: pd.DatetimeIndex, seed: int = 0, sigma: float = 0.01) -> pd.DataFrame:
    """Seeded OHLCV bars on ``index``: a geometric random walk for the close, a high/low
    around it, a positive volume; columns named like a Yahoo Finance export."""
    generator = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(generator.normal(0.0002, sigma, len(index))))
    spread = np.abs(generator.normal(0, sigma, len(index))) * close
    return pd.DataFrame(
        {
            "Open": close * (1 + generator.normal(0, sigma / 3, len(index))),
            "High": close + spread,
            "Low": close - spread,
            "Close": close,
            "Volume": generator.integers(1_000, 100_000, len(index)),
        },
        index=pd.DatetimeIndex(index, name="Date"),
    )


def xnys_hourly_index(sessions: int = 80, start: str = "2024-02-01") -> pd.DatetimeIndex:
    """Hourly bars of XNYS sessions as yfinance labels them: 9:30, 10:30 … 15:30 New York
    time (zone-aware; the span crosses the March daylight-saving change)."""
    from forecast.data.calendar import exchange_calendar

    end = pd.Timestamp(start) + pd.Timedelta(days=2 * sessions + 30)
    calendar = exchange_calendar("XNYS", pd.Timestamp(start) - pd.Timedelta(days=7), end)
    days = calendar.sessions_in_range(start, calendar.last_session)[:sessions]
    stamps = [
        calendar.session_open(day).tz_convert("America/New_York") + pd.Timedelta(hours=h)
        for day in days
        for h in range(7)
        if calendar.session_open(day) + pd.Timedelta(hours=h) < calendar.session_close(day)
    ]
    return pd.DatetimeIndex(stamps, name="Date")


def fx_hourly_index(hours: int = 900, start: str = "2017-04-03") -> pd.DatetimeIndex:
    """Hourly bars of a 24/5 FX market: every hour Monday to Friday, naive timestamps."""
    index = pd.date_range(start, periods=hours * 2, freq="h")
    return index[index.day_of_week < 5][:hours]


def write_bars(path: Path, frame: pd.DataFrame, date_format: str | None = None) -> Path:
    """Write bars as a CSV with a Date column (time of day / offset as pandas prints them)."""
    out = frame.reset_index()
    if date_format:
        out["Date"] = out["Date"].dt.strftime(date_format)
    out.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def barrier(tmp_path_factory) -> Path:
    """The folder of the session's task barriers (forecast/base/barrier.py): a test holds a
    task at a named point by creating NAME.hold there, and learns its pid when it arrives."""
    return tmp_path_factory.mktemp("barrier")


def arrival(barrier: Path, name: str, timeout: float = 300) -> int:
    """Wait until a task reaches the barrier ``name``; its pid. The bound only keeps a broken
    test from hanging: the task waits there, so nothing races."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(barrier.glob(f"{name}.*.started"))
        if found:
            return int(found[0].read_text())
        time.sleep(0.02)
    raise AssertionError(f"no task reached the barrier {name}")


def arrival_of(path: Path, lines: int = 1, timeout: float = 300) -> bytes:
    """Wait until a file another process writes holds ``lines`` lines; its bytes (a bound
    against a broken test only: the writer is known to be on its way)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return path.read_bytes()
        time.sleep(0.05)
    raise AssertionError(f"{path} never held {lines} lines")


@pytest.fixture(scope="session")
def ray_cluster(barrier):
    """Two simulated nodes with one CPU each, joined once for the whole session (batch and
    sweep tests); their workers see the session's task barriers."""
    import ray
    from ray.cluster_utils import Cluster

    from forecast.base.barrier import VARIABLE
    from forecast.scaleout.engine import PACKAGE_DIR

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    cluster.add_node(num_cpus=1)
    ray.init(
        address=cluster.address,
        log_to_driver=False,
        runtime_env={"py_modules": [str(PACKAGE_DIR)], "env_vars": {VARIABLE: str(barrier)}},
    )
    yield cluster
    ray.shutdown()
    cluster.shutdown()


# --- the session's batch and sweep (the report-page test reads them too) --------------------

TICKERS = ["AAA", "BBB", "BAD"]


@pytest.fixture(scope="session")
def long_csv(tmp_path_factory) -> Path:
    """A long-format file (Date,Ticker,OHLCV) of three tickers; BAD has too few rows."""
    frames = []
    for seed, ticker in enumerate(TICKERS):
        frame = ohlcv_frame(
            pd.bdate_range("2022-01-03", periods=160 if ticker != "BAD" else 8), seed=seed
        ).reset_index()
        frame.insert(1, "Ticker", ticker)
        frames.append(frame)
    path = tmp_path_factory.mktemp("long") / "prices.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def batch_config(tmp_path, path, *overrides):
    """Enough validation bars (36) for conformal 95 % bands 3 bars ahead."""
    return tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={path}",
        "data.start=null",
        "train.validation_fraction=0.3",
        *overrides,
    )


@pytest.fixture(scope="session")
def first_batch(ray_cluster, long_csv, tmp_path_factory):
    from forecast.scaleout.batch import run_batch

    tmp_path = tmp_path_factory.mktemp("batch")
    return run_batch(
        batch_config(tmp_path, long_csv),
        TICKERS,
        out=tmp_path / "out",
        forecast_steps=3,
        echo=lambda line: None,
    )


# Lookback 230 is too long for 240 training rows less their 48-row validation block: every
# trial that draws it fails with the data's own one-line message. Trial 1 is the config as
# given (lookback 10).
SPACE = {
    "model.layers.0.units": {"int": [2, 6], "log": True},
    "model.learning_rate": {"loguniform": [1.0e-3, 3.0e-2]},
    "data.lookback": {"choice": [10, 230]},
}


def write_series(path: Path, prices: pd.Series) -> Path:
    frame = pd.DataFrame({"Date": prices.index.strftime("%Y-%m-%d"), "Close": prices.values})
    frame.to_csv(path, index=False)
    return path


def sweep_config(tmp_path: Path, csv: Path):
    return tiny_config(
        tmp_path,
        "data.source=csv",
        f"data.path={csv}",
        "data.start=null",
        "train.epochs=3",
        "train.seed=3",
    )


def write_space(path: Path, space: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(space or SPACE, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def series_csv(tmp_path_factory) -> Path:
    return write_series(
        tmp_path_factory.mktemp("sweep-data") / "prices.csv", synthetic_prices(300, seed=11)
    )


@pytest.fixture(scope="session")
def first_sweep(ray_cluster, series_csv, tmp_path_factory):
    from forecast.scaleout.sweep import run_sweep

    tmp_path = tmp_path_factory.mktemp("sweep")
    return run_sweep(
        sweep_config(tmp_path, series_csv),
        write_space(tmp_path / "space.yaml"),
        trials=4,
        out=tmp_path / "out",
        max_concurrent=1,
        echo=lambda line: None,
    )


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups (else ignored)
def pytest_collection_modifyitems(config, items):
    """With pytest-xdist (pytest.ini's -n 2): the tests on the session's Ray cluster run in
    one worker (one Ray instance per session), the notebooks in order in one worker (02
    reuses 01's run)."""
    for item in items:
        if "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("ray"))
        elif item.module.__name__.endswith("test_notebooks"):
            item.add_marker(pytest.mark.xdist_group("notebooks"))
