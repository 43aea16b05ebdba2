"""The notebooks run top to bottom on a fresh kernel, in order, sharing one runs folder (02
reuses the run 01 trains)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notebook-runs")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_executes(path, runs, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "commit notebooks with outputs cleared"
    )
    monkeypatch.setenv("FORECAST_ROOT", str(ROOT))
    monkeypatch.setenv("FORECAST_RUNS_DIR", str(runs))
    monkeypatch.setenv("CI", "true")
    before = set(runs.iterdir())
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) >= (4 if path.name.startswith("01") else 1)
    made = set(runs.iterdir()) - before
    if path.name.startswith("02"):  # 01's run, reused: nothing trained
        assert not made
    else:
        assert made
