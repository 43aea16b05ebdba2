"""The folders show the flow, and imports follow it: a module imports from its own folder or
from the folders before it, never from one after it (not even inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "forecast"
# base → data → model → forecasting → evaluation → report → store → commands → scale-out,
# with errors and config at the bottom, the command line and the package's lazy API on top.
LAYERS = (
    "errors",
    "base",
    "config",
    "data",
    "model",
    "forecasting",
    "evaluation",
    "report",
    "store",
    "commands",
    "scaleout",
    "cli",
    "__init__",
    "__main__",
)


def layer(module: str) -> int:
    """The layer of a module named forecast.X… (or a file forecast/X…)."""
    top = module.split(".")[1] if module.count(".") else "__init__"
    return LAYERS.index(top.removesuffix(".py"))


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every forecast import in the file, top level or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "forecast":  # from forecast import base, model …
                names = [f"forecast.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names if name.startswith("forecast")]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name)
                for alias in node.names
                if alias.name.startswith("forecast")
            ]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_run_down_the_flow_never_up(path):
    own = layer("forecast." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    upward = [
        f"line {line}: {module}"
        for line, module in imports(path)
        if module != "forecast" and layer(module) > own
    ]
    assert not upward, f"{path.relative_to(PACKAGE)} imports a later layer: {upward}"


def test_every_folder_is_a_layer():
    folders = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert folders <= set(LAYERS), folders - set(LAYERS)


def test_only_the_engine_imports_ray():
    importers = {
        path.relative_to(PACKAGE).as_posix()
        for path in MODULES
        for node in ast.walk(ast.parse(path.read_text()))
        if (isinstance(node, ast.Import) and any(a.name.split(".")[0] == "ray" for a in node.names))
        or (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ray")
    }
    assert importers == {"scaleout/engine.py"}


def test_no_file_is_over_450_lines_but_the_kernel():
    long = {
        path.relative_to(PACKAGE).as_posix(): count
        for path in [*MODULES, *PACKAGE.rglob("*.cc")]
        if (count := len(path.read_text().splitlines())) > 450
    }
    assert set(long) <= {"model/native/fused_lstm.cc"}, long
