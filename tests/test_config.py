"""Config: strict loading, clear errors naming the key, overrides validated the same way."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from forecast.config import (
    ACTIVATIONS,
    INITIALIZERS,
    REGULARIZERS,
    Config,
    config_from_dict,
    config_to_dict,
    load_config,
)
from forecast.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_default_yaml_is_the_reference_setup_and_matches_code_defaults():
    config = load_config(ROOT / "configs" / "default.yaml")
    assert config == Config()
    kinds = [(layer.type, getattr(layer, "units", None)) for layer in config.model.layers]
    assert kinds == [("lstm", 50), ("dropout", None), ("lstm", 100), ("dropout", None)]
    assert [layer.rate for layer in config.model.layers[1::2]] == [0.2, 0.2]
    assert (config.model.loss, config.model.optimizer) == ("mean_squared_error", "rmsprop")
    assert (config.train.epochs, config.train.batch_size) == (50, 64)
    assert (config.data.source, config.data.lookback, config.data.test_fraction) == (
        "sample",
        60,
        0.2,
    )
    assert config.model.layers[0].recurrent_activation == "sigmoid"


def test_every_default_yaml_value_has_a_comment():
    for number, line in enumerate((ROOT / "configs" / "default.yaml").read_text().splitlines()):
        if ":" in line and not line.strip().startswith("#") and not line.rstrip().endswith(":"):
            assert "#" in line, f"default.yaml line {number + 1} has no comment: {line}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quick", {"data.source": "sample", "data.lookback": 20, "train.epochs": 2}),
        ("yahoo", {"data.source": "yahoo", "data.ticker": "AAPL", "train.epochs": 20}),
        ("best", {"data.source": "sample", "data.target": "log_return", "data.lookback": 20}),
    ],
)
def test_shipped_configs_load_by_name_with_their_own_values(name, expected):
    config = load_config(name)  # a shipped config by name is the file under configs/
    assert config == load_config(ROOT / "configs" / f"{name}.yaml")
    for key, value in expected.items():
        section, field = key.split(".")
        assert getattr(getattr(config, section), field) == value, key


def test_unknown_key_names_key_and_closest_valid_one(tmp_path):
    path = write(tmp_path, "train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"train\.epoch: unknown key; did you mean 'epochs'"):
        load_config(path)


def test_unknown_layer_key_is_named(tmp_path):
    path = write(tmp_path, "model:\n  layers:\n    - {type: lstm, units: 4, unit: 3}\n")
    with pytest.raises(
        ConfigError,
        match=r"model\.layers\.0\.unit: unknown key; did you "
        r"mean 'units'",
    ):
        load_config(path)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("train:\n  epochs: many\n", r"train\.epochs: 'many' is not an integer"),
        ("train:\n  epochs: 2.5\n", r"train\.epochs: 2\.5 is not an integer"),
        ("data:\n  lookback: true\n", r"data\.lookback: True is not an integer"),
        (
            "data:\n  test_fraction: 0.7\n",
            r"data\.test_fraction: 0\.7 is invalid: must be in "
            r"\[0, 0\.5\] \(0: a production fit",
        ),
        ("data:\n  test_fraction: -0.1\n", r"data\.test_fraction: -0\.1 is invalid"),
        ("data:\n  lookback: 1\n", r"data\.lookback: 1 is invalid: must be an integer >= 2"),
        ("data:\n  source: web\n", r"data\.source: 'web' is not one of sample, csv, yahoo"),
        ("data:\n  source: csv\n", r"data\.path: None is invalid: data\.source 'csv' needs"),
        ("data:\n  start: '2020-13-01'\n", r"data\.start: '2020-13-01' is not a date"),
        ("data:\n  start: 2020-13-01\n", r"invalid value \(month must be in 1\.\.12\)"),
        (
            "model:\n  layers:\n    - {type: dropout, rate: 1.0}\n",
            r"model\.layers\.0\.rate: 1\.0 is invalid: must be in \[0, 1\)",
        ),
        (
            "model:\n  layers:\n    - {type: lstm, units: 4, activation: tanhh}\n",
            r"model\.layers\.0\.activation: 'tanhh' is not one of .*did you mean 'tanh'",
        ),
        (
            "model:\n  layers:\n"
            "    - {type: simple_rnn, units: 4, recurrent_activation: sigmoid}\n",
            r"model\.layers\.0\.recurrent_activation: 'sigmoid' is invalid: "
            r"applies to lstm and gru",
        ),
        (
            "model:\n  layers:\n    - {type: gru, units: 4, unit_forget_bias: true}\n",
            r"model\.layers\.0\.unit_forget_bias: True is invalid: applies to lstm layers only",
        ),
        (
            "model:\n  layers:\n    - {type: lstm2, units: 4}\n",
            r"model\.layers\.0\.type: 'lstm2' is not one of .*did you mean 'lstm'",
        ),
        (
            "model:\n  layers:\n    - {type: dense, units: 4}\n    - {type: lstm, units: 4}\n",
            r"model\.layers\.1\.type: 'lstm' is invalid: recurrent layers must come before dense",
        ),
        ("model:\n  layers: []\n", r"model\.layers: \[\] is invalid: needs at least one layer"),
        (
            "train:\n  early_stopping_patience: 3\n  validation_fraction: 0\n",
            r"train\.early_stopping_patience: 3 is invalid: early stopping watches",
        ),
        ("data: 5\n", r"data: expected a mapping"),
    ],
)
def test_bad_values_name_field_value_and_rule(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_config(write(tmp_path, text))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "config.yaml"))


def test_invalid_yaml_reports_line(tmp_path):
    with pytest.raises(ConfigError, match=r"config\.yaml line 3: invalid YAML: mapping values"):
        load_config(write(tmp_path, "train:\n  epochs: 3\n  seed: 1: 2\n"))


def test_python_object_tag_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "executed"
    text = f"train: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(write(tmp_path, text))
    assert not marker.exists()


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="config file is empty"):
        load_config(write(tmp_path, "# nothing\n"))
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_are_typed_and_validated():
    config = load_config(
        None,
        [
            "data.lookback=30",
            "train.epochs=5",
            "model.layers.0.units=8",
            "model.learning_rate=1e-3",
            "model.layers.0.bidirectional=true",
        ],
    )
    assert (config.data.lookback, config.train.epochs) == (30, 5)
    assert config.model.layers[0].units == 8 and config.model.layers[0].bidirectional
    assert config.model.learning_rate == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match=r"train\.epochs: -1 is invalid"):
        load_config(None, ["train.epochs=-1"])


@pytest.mark.parametrize(
    "assignment, pattern",
    [
        ("train.epochs", r"expected KEY=VALUE"),
        ("train.epoch=3", r"unknown key 'train\.epoch'; did you mean 'train\.epochs'"),
        ("trian.epochs=3", r"unknown key 'trian'; did you mean 'train'"),
        ("model.layers.9.units=3", r"model\.layers\.9 is not an index of that list \(0\.\.3\)"),
    ],
)
def test_bad_overrides(assignment, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, [assignment])


def test_resolved_config_round_trips_through_yaml():
    config = load_config(ROOT / "configs" / "quick.yaml", ["model.layers.0.type=gru"])
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    assert config_from_dict(yaml.safe_load(text)) == config
    assert config.model.layers[0].reset_after is True
    assert "unit_forget_bias" not in config_to_dict(config)["model"]["layers"][0]


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        Config().train.epochs = 3  # type: ignore[misc]


def test_allowed_names_are_names_keras_knows():
    import keras

    for name in ACTIVATIONS:
        assert keras.activations.get(name) is not None
    for name in INITIALIZERS:
        assert keras.initializers.get(name) is not None
    for name in REGULARIZERS:
        assert keras.regularizers.get(name) is not None


def test_regularization_factor_sets_the_strength_of_named_regularizers():
    config = load_config(
        None,
        [
            "model.layers.0.kernel_regularizer=l2",
            "model.layers.0.activity_regularizer=l1",
            "model.layers.0.regularization_factor=0.3",
        ],
    )
    kwargs = config.model.layers[0].keras_kwargs()
    assert kwargs["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.3}}
    assert kwargs["activity_regularizer"] == {"class_name": "L1", "config": {"l1": 0.3}}
    assert kwargs["recurrent_regularizer"] is None and "regularization_factor" not in kwargs
    plain = load_config(None, ["model.layers.0.kernel_regularizer=l2"]).model.layers[0]
    assert plain.keras_kwargs()["kernel_regularizer"] == "l2"  # Keras's default strength
    with pytest.raises(
        ConfigError,
        match=r"model\.layers\.0\.regularization_factor: 0\.3 is "
        r"invalid: .*none is set",
    ):
        load_config(None, ["model.layers.0.regularization_factor=0.3"])
    with pytest.raises(ConfigError, match=r"regularization_factor: 0\.0 is invalid: must be > 0"):
        load_config(
            None, ["model.layers.0.kernel_regularizer=l2", "model.layers.0.regularization_factor=0"]
        )
