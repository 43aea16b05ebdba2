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
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


EXAMPLES = {"csv": 150, "prices": 150, "config": 300, "overrides": 200}


def make_world(run: Path, folder: Path) -> fuzzing.World:
    """What command lines point at: ``run`` (copied per example), a tiny config, the sample."""
    from forecast.data.sources import sample_path

    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(config_to_dict(tiny_config(folder)), sort_keys=False))
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
@pytest.mark.parametrize("target, examples", [("command_line", 30), ("run_folder", 30)])
def test_fuzz_commands(target, examples, world):
    strategy, check = fuzzing.TARGETS[target]

    @fuzzed(examples)
    @given(example=strategy())
    def run(example):
        check(example, world)

    run()
