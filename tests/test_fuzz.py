"""Every bad input, fuzzed (tests/fuzzing.py): a few hundred inputs per target on each run;
bench/fuzz.py runs thousands and counts them in bench/FUZZ.md."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from forecast.config import config_to_dict
from tests import fuzzing
from tests.conftest import tiny_config


def fuzzed(examples: int) -> settings:
    """The same inputs on every run (a timed suite; bench/fuzz.py explores at random)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


EXAMPLES = {"csv": 120, "prices": 100, "config": 250, "overrides": 150}  # bench/fuzz.py: 10,700


def make_world(run: Path, folder: Path) -> fuzzing.World:
    """What command lines point at: ``run`` (copied per example), a tiny config, the sample."""
    from forecast.data.sources import sample_path

    config = folder / "tiny.yaml"
    last_year = tiny_config(folder, "data.start=2016-11-10")  # a command that trains: seconds
    config.write_text(yaml.safe_dump(config_to_dict(last_year), sort_keys=False))
    return fuzzing.World(run=run, config=config, csv=sample_path(), folder=folder)


@pytest.fixture(scope="module")
def world(trained, tmp_path_factory) -> fuzzing.World:
    return make_world(trained.folder, tmp_path_factory.mktemp("fuzz"))


@pytest.mark.parametrize("target", sorted(EXAMPLES))
def test_fuzz(target, tmp_path):
    strategy, check = fuzzing.TARGETS[target]

    @fuzzed(EXAMPLES[target])
    @given(example=strategy())
    def run(example):
        check(example, tmp_path)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("target, examples", [("command_line", 20), ("run_folder", 30)])
def test_fuzz_commands(target, examples, world):
    strategy, check = fuzzing.TARGETS[target]
    # compare's success path trains four families on five folds (half a minute a draw): its
    # flags are fuzzed by bench/fuzz.py's campaign, its runs by test_backtest.
    drawn = strategy(skip=("compare",)) if target == "command_line" else strategy()

    @fuzzed(examples)
    @given(example=drawn)
    def run(example):
        check(example, world)

    run()
