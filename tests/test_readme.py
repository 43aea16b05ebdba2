"""The README and docs/ mention no command, flag, config key, module or file the code does not
have: the CLI lines are checked against the argument parser, dotted keys against the config
schema (or the package), paths against the checkout, artifact names against the code."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from forecast.cli import build_parser
from forecast.config import Config, config_to_dict

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = ("data", "model", "train", "forecast", "output")
FILE_ENDINGS = (
    ".py",
    ".yaml",
    ".md",
    ".csv",
    ".json",
    ".keras",
    ".html",
    ".npz",
    ".png",
    ".h5",
    ".log",
)
SOURCE = "\n".join(path.read_text() for path in (ROOT / "forecast").rglob("*.py"))


def subcommands() -> dict[str, set[str]]:
    parser = build_parser()
    action = next(action for action in parser._actions if action.dest == "command")
    return {
        name: {option for item in sub._actions for option in item.option_strings}
        for name, sub in action.choices.items()
    }


def command_lines(text: str) -> list[str]:
    """Every ``python main.py …`` line (with its continuation lines) in code blocks."""
    lines, current = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if current is not None and (
            line.startswith(" ") and stripped.startswith("[") or current.endswith("\\")
        ):
            current = current.rstrip("\\") + " " + stripped
            continue
        if current is not None:
            lines.append(current)
            current = None
        if stripped.startswith("python main.py"):
            current = stripped
    if current is not None:
        lines.append(current)
    return lines


def config_keys() -> set[str]:
    keys: set[str] = set()

    def walk(prefix: str, value: object) -> None:
        keys.add(prefix)
        if isinstance(value, dict):
            for name, item in value.items():
                walk(f"{prefix}.{name}", item)

    for section, values in config_to_dict(Config()).items():
        walk(section, values)
    layer = {
        "units",
        "type",
        "rate",
        "activation",
        "bidirectional",
        "dropout",
        "recurrent_dropout",
        "go_backwards",
        "recurrent_activation",
        "reset_after",
        "regularization_factor",
        "kernel_regularizer",
        "unit_forget_bias",
        "use_bias",
    }
    keys |= {f"model.layers.{index}.{name}" for index in range(4) for name in layer}
    return keys


def resolves(dotted: str) -> bool:
    """A dotted name of the package: a module, or an attribute of one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=[path.name for path in PAGES])
def test_commands_and_flags_exist(page):
    known = subcommands()
    for line in command_lines(page.read_text()):
        words = line.split()
        command = words[2] if len(words) > 2 and not words[2].startswith("-") else "train"
        if command in ("#",):
            continue
        assert command in known, f"{page.name}: {line}"
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", line.split("#")[0]))
        top = {"--help", "--version"}  # the program's own flags
        assert flags <= known[command] | top, (page.name, line, flags - known[command])


@pytest.mark.parametrize("page", PAGES, ids=[path.name for path in PAGES])
def test_config_keys_and_package_names_exist(page):
    keys = config_keys()
    text = page.read_text()
    for match in re.finditer(r"`([a-z_]+(?:\.[A-Za-z_0-9]+)+)", text):
        token = match.group(1).rstrip(".")
        if text[match.end() :].startswith(": unknown key"):
            continue  # an example of the error a misspelt key gets
        if token.split(".")[0] not in SECTIONS or token.endswith(FILE_ENDINGS):
            continue
        assert token in keys or (token.startswith("forecast.") and resolves(token)), (
            f"{page.name}: `{token}` is neither a config key nor a name in the package"
        )


@pytest.mark.parametrize("page", PAGES, ids=[path.name for path in PAGES])
def test_paths_and_artifacts_exist(page):
    text = page.read_text()
    for path in re.findall(r"`((?:forecast|docs|bench|notebooks|configs|tests)/[\w./-]+)`", text):
        path = path.split()[0].rstrip("/")
        assert (ROOT / path).exists(), f"{page.name}: {path}"
    for target in re.findall(r"\]\(((?:docs/|\.\./|)[\w./-]+\.(?:md|png))(?:#[\w-]+)?\)", text):
        base = page.parent if not target.startswith("docs/") else ROOT
        assert (base / target).resolve().exists(), f"{page.name}: link {target}"
    for name in re.findall(r"`([a-z_]+\.(?:json|csv|npz|png|html|keras))`", text):
        assert name in SOURCE or name.split(".")[0] in SOURCE, f"{page.name}: {name}"


def test_the_readme_fits_on_a_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300
