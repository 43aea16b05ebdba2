"""pip install gives a ``forecast`` command and ``python -m forecast`` that run from any folder,
with the shipped configs and sample inside the package."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_installs_a_command_that_runs_from_any_folder(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("forecast-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The heavy dependencies come from this environment (a .pth file); the package itself
    # only from the wheel.
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    anywhere = tmp_path / "elsewhere"
    anywhere.mkdir()

    def run(*command: str) -> str:
        result = subprocess.run(
            command,
            cwd=anywhere,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    assert "usage: forecast" in run(str(venv / "bin" / "forecast"), "--help")
    summary = run(str(venv / "bin" / "forecast"), "summary")
    assert "70,901" in summary  # the default config, shipped inside the package
    assert "873" in run(
        str(venv / "bin" / "python"), "-m", "forecast", "summary", "--config", "quick"
    )
    where = run(
        str(venv / "bin" / "python"),
        "-c",
        "import forecast, forecast.data.sources as s; print(forecast.__file__); "
        "print(s.sample_path().is_file())",
    ).split()
    assert where[0].startswith(str(venv)) and where[1] == "True"
    # pip install forecast: the core alone; Ray, Optuna and TensorBoard only as extras
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        name = next(item for item in archive.namelist() if item.endswith("METADATA"))
        requires = [
            line.split(": ", 1)[1]
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    core = [line for line in requires if "extra ==" not in line]
    assert any(line.startswith("tensorflow-cpu==") for line in core)
    assert not any(
        line.split("[")[0].split("=")[0] in ("ray", "optuna", "tensorboard") for line in core
    )
    for package, extra in (
        ("ray", "scaleout"),
        ("optuna", "scaleout"),
        ("tensorboard", "tensorboard"),
    ):
        assert any(
            line.startswith(package) and f'extra == "{extra}"' in line for line in requires
        ), package


@pytest.mark.parametrize("package", ["forecast", "forecast.model"])
def test_every_exported_name_resolves(package):
    """The lazy exports name things that exist (a renamed function would only fail on use)."""
    import importlib

    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


@pytest.mark.parametrize(
    ("call", "extra"),
    [
        ("batch", "scaleout"),
        ("sweep", "scaleout"),
        ("tensorboard", "tensorboard"),
        ("tracking", "tracking"),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(call, extra, monkeypatch, tmp_path):
    """Without Ray, Optuna, TensorBoard or MLflow installed, the command that needs them says
    which extra to install, before any data is read or folder made."""
    import importlib.util

    from forecast.base.extras import EXTRAS
    from forecast.errors import UserError
    from tests.conftest import tiny_config

    absent = set(EXTRAS[extra])
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in absent else find_spec(name, *args),
    )
    config = tiny_config(
        tmp_path, "train.tensorboard=true" if extra == "tensorboard" else "tracking.enabled=true"
    )
    with pytest.raises(UserError, match=rf"pip install 'forecast\[{extra}\]'"):
        if call == "batch":
            from forecast.scaleout.batch import run_batch

            run_batch(config, ["MSFT"], out=tmp_path / "out")
        elif call == "sweep":
            from forecast.scaleout.sweep import run_sweep

            run_sweep(config, tmp_path / "space.yaml", out=tmp_path / "out")
        elif call == "tracking":
            from forecast.commands.backtest import backtest

            backtest(config, folds=1, out=tmp_path / "out")
        else:
            from forecast.commands.train import train

            train(config, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
