"""The network built from config: reference stack, parameter counts, layer types."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from forecast.config import Config, DenseLayerConfig, load_config
from forecast.model import build_model, layer_parameter_formula
from tests.conftest import tiny_config


def test_reference_stack_and_lstm_parameter_formula():
    model = build_model(Config(), n_features=1)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "InputLayer",
        "FusedLSTM",
        "FusedDropout",
        "FusedLSTM",
        "FusedDropout",
        "Dense",
    ]
    assert all(isinstance(model.layers[i], keras.layers.LSTM) for i in (1, 3))  # subclasses
    assert all(isinstance(model.layers[i], keras.layers.Dropout) for i in (2, 4))
    first, second = model.layers[1], model.layers[3]
    assert first.return_sequences and not second.return_sequences
    assert (first.units, second.units) == (50, 100)
    assert first.count_params() == 4 * (50 * (50 + 1) + 50) == 10_400
    assert second.count_params() == 4 * (100 * (100 + 50) + 100) == 60_400
    assert layer_parameter_formula("lstm", 100, 50) == second.count_params()
    assert model.output_shape == (None, 1) and model.input_shape == (None, 60, 1)
    assert model.loss == "mean_squared_error"
    assert type(model.optimizer).__name__ == "RMSprop"


@pytest.mark.parametrize("layer_type", ["gru", "simple_rnn"])
def test_other_recurrent_types_and_their_counts(layer_type):
    config = load_config(
        None,
        [
            f"model.layers.0.type={layer_type}",
            f"model.layers.2.type={layer_type}",
            "model.layers.0.units=6",
            "model.layers.2.units=5",
            "data.lookback=7",
        ],
    )
    model = build_model(config)
    counts = [layer.count_params() for layer in model.layers if layer.name.startswith(layer_type)]
    assert counts == [
        layer_parameter_formula(layer_type, 6, 1),
        layer_parameter_formula(layer_type, 5, 6),
    ]


def test_bidirectional_dense_and_keras_arguments_pass_through():
    config = load_config(
        None,
        [
            "model.layers.0.bidirectional=true",
            "model.layers.0.units=4",
            "model.layers.2.units=3",
            "model.layers.2.go_backwards=true",
            "model.layers.2.kernel_regularizer=l2",
            "model.layers.2.recurrent_activation=hard_sigmoid",
            "data.lookback=5",
        ],
    )
    model = build_model(config)
    wrapper = model.get_layer("bidirectional_0")
    assert wrapper.count_params() == 2 * layer_parameter_formula("lstm", 4, 1)
    inner = model.get_layer("lstm_2")
    assert inner.go_backwards and inner.kernel_regularizer is not None
    assert inner.recurrent_activation.__name__ == "hard_sigmoid"
    assert inner.count_params() == layer_parameter_formula("lstm", 3, 8)


def test_mlp_without_recurrent_layers_flattens_the_window():
    config = load_config(None, ["data.lookback=6"])
    mlp = DenseLayerConfig(type="dense", units=4, activation="relu")
    config = replace(config, model=replace(config.model, layers=(mlp,)))
    model = build_model(config)
    assert model.get_layer("flatten").output.shape == (None, 6)
    assert model.get_layer("dense_0").count_params() == 6 * 4 + 4
    output = model.predict(np.zeros((2, 6, 1), dtype="float32"), verbose=0)
    assert output.shape == (2, 1)


def test_fit_model_trains_exactly_like_keras_fit_on_the_same_batches(tmp_path, prices, capsys):
    """fit_model's own epoch loop must be ``model.fit`` minus its overhead: same weights,
    same loss and val_loss, for a shuffled order, a short last batch and validation."""
    from forecast.data.windows import WindowSpec, prepare_dataset
    from forecast.model.train import epoch_seed, fit_model, reseed_dropout, seed_everything

    config = tiny_config(
        tmp_path,
        "train.epochs=3",
        "train.batch_size=16",
        "train.early_stopping_patience=5",
        "train.restore_best_weights=false",
        "train.progress=epoch",
    )  # final weights on both sides
    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.1))
    assert len(dataset.y_train) % 16 and len(dataset.y_val) % 16  # short last batches
    seed_everything(config.train.seed)
    ours = build_model(config)
    result = fit_model(ours, dataset, config.train)
    printed = capsys.readouterr().out

    seed_everything(config.train.seed)
    theirs = build_model(config)
    expected: dict[str, list[float]] = {}
    for epoch in range(3):  # the same per-epoch seeds and order, through Keras's fit
        this_seed = epoch_seed(config.train.seed, epoch)
        keras.utils.set_random_seed(this_seed)
        reseed_dropout(theirs, this_seed)
        order = np.random.default_rng(this_seed).permutation(len(dataset.y_train))
        history = theirs.fit(
            dataset.x_train[order],
            dataset.y_train[order],
            batch_size=16,
            validation_data=(dataset.x_val, dataset.y_val),
            shuffle=False,
            epochs=1,
            verbose=0,
        ).history
        for key, values in history.items():
            expected.setdefault(key, []).append(values[-1])

    assert result.history == expected  # the same float32 sums, read the same way
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(mine, keras_weight)
    assert printed.count("Epoch ") == 3 and "Epoch 3/3" in printed
    assert printed.count("val_loss: ") == 3


def test_fit_model_progress_bar_shows_steps_and_none_is_silent(tmp_path, prices, capsys):
    from forecast.data.windows import WindowSpec, prepare_dataset
    from forecast.model.train import fit_model

    dataset = prepare_dataset(prices, WindowSpec(10, 0.2, 0.0))
    steps = -(-len(dataset.y_train) // 16)
    for progress, expect_output in (("bar", True), ("none", False)):
        config = tiny_config(
            tmp_path,
            "train.batch_size=16",
            f"train.progress={progress}",
            "train.validation_fraction=0",
        )
        fit_model(build_model(config), dataset, config.train)
        printed = capsys.readouterr().out
        assert (f"{steps}/{steps}" in printed) is expect_output
        assert ("loss: " in printed) is expect_output and "val_loss" not in printed


def test_regularization_factor_reaches_the_keras_layer():
    config = load_config(
        None,
        [
            "data.lookback=5",
            "model.layers.0.units=3",
            "model.layers.2.units=3",
            "model.layers.0.kernel_regularizer=l2",
            "model.layers.0.regularization_factor=0.3",
        ],
    )
    layer = build_model(config).get_layer("lstm_0")
    assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
    assert layer.kernel_regularizer.l2 == pytest.approx(0.3)
