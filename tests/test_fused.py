"""FusedLSTM: weight-compatible with keras.layers.LSTM, same outputs and gradients, saved and
loaded as a normal model, and stock behaviour wherever the fused op does not apply or cannot
be built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from forecast.model import fused, native
from forecast.model.fused import FusedLSTM, fused_eligible
from tests.conftest import require_fused_ops


@pytest.fixture(autouse=True, scope="module")
def compiled_ops():
    """These tests are about the fused op itself (skipped without it, saying why)."""
    require_fused_ops()


def assert_gradients_close(got, expected) -> None:
    """float32 sums over 30 steps in another order: agree to ~1e-4 of the largest entry."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * np.abs(expected).max())


def pair(batch=6, **kwargs):
    windows = np.random.default_rng(0).uniform(-1.5, 1.5, (batch, 30, 2)).astype("float32")
    stock, fused = keras.layers.LSTM(**kwargs), FusedLSTM(**kwargs)
    stock(windows), fused(windows)
    weights = [
        np.random.default_rng(1).normal(0, 0.5, w.shape).astype("float32")
        for w in stock.get_weights()
    ]
    stock.set_weights(weights)
    fused.set_weights(weights)  # the same weights go in unchanged
    return windows, stock, fused


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(units=50, return_sequences=True),
        dict(units=9),
        dict(units=9, use_bias=False),
        dict(units=5, go_backwards=True, return_sequences=True),
        dict(units=4, unit_forget_bias=False),
        dict(units=7, batch=70, return_sequences=True),  # three 32-sample chunks, the last partial
        dict(units=3, batch=1),
        dict(units=6, batch=33),
        dict(units=8, batch=300, return_sequences=True),  # a batch a global model trains with
    ],
)
def test_same_outputs_and_gradients_as_keras_lstm(kwargs):
    windows, stock, fused = pair(**kwargs)
    with tf.GradientTape(persistent=True) as tape:
        stock_out, fused_out = stock(windows), fused(windows)
        stock_loss, fused_loss = tf.reduce_sum(stock_out**2), tf.reduce_sum(fused_out**2)
    np.testing.assert_allclose(fused_out, stock_out, rtol=1e-5, atol=1e-5)
    for expected, got in zip(
        tape.gradient(stock_loss, stock.trainable_variables),
        tape.gradient(fused_loss, fused.trainable_variables),
    ):
        assert_gradients_close(got, expected)


def test_final_states_and_their_gradients_match_keras():
    windows, stock, fused = pair(batch=40, units=6, return_sequences=True, return_state=True)
    with tf.GradientTape(persistent=True) as tape:
        stock_out, fused_out = stock(windows), fused(windows)
        # weight every output differently so a wrong dh or dc path shows up
        stock_loss, fused_loss = (
            sum(tf.reduce_sum(tf.sin(t + i)) for i, t in enumerate(out))
            for out in (stock_out, fused_out)
        )
    for expected, got in zip(stock_out, fused_out):  # sequence, final h, final c
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    for expected, got in zip(
        tape.gradient(stock_loss, stock.trainable_variables),
        tape.gradient(fused_loss, fused.trainable_variables),
    ):
        assert_gradients_close(got, expected)


def test_input_gradient_matches_keras():
    windows, stock, fused = pair(units=5, batch=35)
    windows = tf.constant(windows)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(windows)
        stock_loss = tf.reduce_sum(stock(windows) ** 2)
        fused_loss = tf.reduce_sum(fused(windows) ** 2)
    expected, got = tape.gradient(stock_loss, windows), tape.gradient(fused_loss, windows)
    assert_gradients_close(got, expected)


def test_the_fused_op_is_what_runs():
    """Guard against a silent fallback: the graph of a fused call holds the compiled op."""
    layer = FusedLSTM(4)
    layer(np.zeros((2, 5, 1), "float32"))
    graph = (
        tf.function(lambda x: layer(x))
        .get_concrete_function(tf.TensorSpec((None, 5, 1), tf.float32))
        .graph
    )
    names = {op.type for op in graph.get_operations()}
    assert "ForecastLstmForward" in names and "While" not in names


def test_falls_back_where_the_fused_kernel_does_not_apply():
    assert fused_eligible(FusedLSTM(4))
    assert not fused_eligible(FusedLSTM(4, recurrent_dropout=0.1))
    assert not fused_eligible(FusedLSTM(4, activation="relu"))
    assert not fused_eligible(FusedLSTM(4, recurrent_activation="hard_sigmoid"))
    assert not fused_eligible(FusedLSTM(4, unroll=True))
    windows, stock, fused = pair(units=6, activation="relu")
    np.testing.assert_allclose(fused(windows), stock(windows), rtol=1e-5, atol=1e-6)


def test_saved_and_loaded_as_a_normal_model(tmp_path):
    from forecast.model.saving import load_model

    inputs = keras.Input((30, 2))
    outputs = keras.layers.Dense(1)(FusedLSTM(5)(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")  # safe_mode=True
    windows = np.random.default_rng(2).normal(size=(3, 30, 2)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(windows, verbose=0), model.predict(windows, verbose=0), rtol=1e-6
    )
    assert isinstance(loaded.layers[1], keras.layers.LSTM)


def test_config_switch_builds_fused_layers_that_train_like_stock_ones():
    from forecast.config import load_config
    from forecast.model import build_model

    overrides = [
        "data.lookback=8",
        "model.layers.0.units=5",
        "model.layers.2.units=4",
        "model.layers.1.rate=0",
        "model.layers.3.rate=0",
    ]  # no dropout: same batches
    stock = build_model(load_config(None, [*overrides, "model.fused_lstm=false"]))
    fused = build_model(load_config(None, overrides))  # fused is the default
    assert [type(layer).__name__ for layer in fused.layers].count("FusedLSTM") == 2
    assert [type(layer).__name__ for layer in stock.layers].count("FusedLSTM") == 0
    fused.set_weights(stock.get_weights())
    windows = np.random.default_rng(3).uniform(0, 1, (16, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        fused.predict(windows, verbose=0), stock.predict(windows, verbose=0), rtol=1e-5, atol=1e-6
    )
    targets = windows[:, -1, 0] * 0.5 + 0.1  # (16,)
    losses = [
        model.fit(windows, targets, batch_size=4, epochs=2, shuffle=False, verbose=0).history[
            "loss"
        ]
        for model in (stock, fused)
    ]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    for expected, got in zip(stock.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_same_result_whatever_the_batch_split():
    """Samples are independent: a window's output is the same alone or in a batch of 70."""
    windows, _, fused = pair(units=8, batch=70)
    together = fused(windows).numpy()
    alone = np.concatenate([fused(windows[i : i + 1]).numpy() for i in range(0, 70, 23)])
    np.testing.assert_allclose(together[::23], alone, rtol=1e-6, atol=1e-7)


def test_stock_layer_runs_when_the_op_cannot_be_built(monkeypatch):
    monkeypatch.setattr(fused, "fused_ops", lambda: None)
    windows, stock, layer = pair(units=6)
    np.testing.assert_allclose(layer(windows), stock(windows), rtol=1e-6, atol=1e-7)


def test_missing_compiler_is_a_reason_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    with pytest.raises(OSError):
        native.build(tmp_path / "kernel.so")
    monkeypatch.setenv("CXX", "false")  # a "compiler" that fails
    with pytest.raises(RuntimeError, match="compiling fused_lstm.cc failed"):
        native.build(tmp_path / "kernel.so")
    assert list(tmp_path.iterdir()) == []  # no half-built library left behind


def test_unavailable_ops_fall_back_with_a_reason(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("FORECAST_NATIVE", "0")
    assert native.fused_ops() is None
    assert native.unavailable_reason() == "FORECAST_NATIVE=0"
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.delenv("FORECAST_NATIVE")
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    assert native.fused_ops() is None
    assert "no C++ compiler" in native.unavailable_reason()
    assert "using the stock Keras LSTM and Dropout" in capsys.readouterr().err


def test_damaged_cached_library_is_named_with_the_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(native, "_state", {})
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    native.library_path().write_bytes(b"not a shared library")  # e.g. a disk that filled up
    assert native.fused_ops() is None
    assert "delete it to rebuild it" in native.unavailable_reason()
    assert str(native.library_path()) in capsys.readouterr().err


def test_cache_key_follows_the_source_and_the_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    path = native.library_path()
    assert path.parent == tmp_path and path.name.startswith("fused_lstm-")
    source = tmp_path / "fused_lstm.cc"
    source.write_text(native.SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(native, "SOURCE", source)
    changed = native.library_path()
    assert changed != path
    monkeypatch.setenv("FORECAST_NATIVE_FLAGS", "-mno-avx512f -DEXTRA='a b'")
    assert native.compiler_flags()[-2:] == ["-mno-avx512f", "-DEXTRA=a b"]
    assert native.library_path() != changed  # other flags, another library


def test_cache_key_does_not_follow_where_tensorflow_is_installed(monkeypatch, tmp_path):
    """A new virtual environment with the same TensorFlow (headers and library elsewhere)
    reuses the compiled library; another ABI flag does not."""
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path))
    compile_flags, link_flags = tf.sysconfig.get_compile_flags(), tf.sysconfig.get_link_flags()
    path = native.library_path()

    def moved(flags):
        return [flag.replace("site-packages", "elsewhere/site-packages") for flag in flags]

    assert any(flag.startswith("-I") for flag in compile_flags)
    monkeypatch.setattr(tf.sysconfig, "get_compile_flags", lambda: moved(compile_flags))
    monkeypatch.setattr(tf.sysconfig, "get_link_flags", lambda: moved(link_flags))
    assert native.library_path() == path
    monkeypatch.setattr(
        tf.sysconfig, "get_compile_flags", lambda: [*compile_flags, "-D_GLIBCXX_USE_CXX11_ABI=0"]
    )
    assert native.library_path() != path


@pytest.mark.slow
@pytest.mark.skipif(
    "avx512f" not in native._cpu_fingerprint().split(),
    reason="without AVX-512 the default build already is the portable one",
)
def test_portable_build_matches_keras_too(tmp_path):
    """Where AVX-512 is missing the per-step products are Eigen's: build that variant here
    (FORECAST_NATIVE_FLAGS=-mno-avx512f) and rerun the equivalence tests against it."""
    environment = {
        **os.environ,
        "FORECAST_NATIVE_FLAGS": "-mno-avx512f",
        "FORECAST_CACHE_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",  # one process: pytest.ini's two workers would each build the op
            str(Path(__file__)),
            "-k",
            "same_outputs or final_states or input_gradient or batch_split",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and len(list(tmp_path.glob("fused_lstm-*.so"))) == 1


def test_fused_configs_are_recognised_before_any_layer_exists():
    from forecast.config import load_config

    default = load_config(None, []).model.layers
    assert [fused.fused_in_training(layer) for layer in default] == [True, False, True, False]
    for override in (
        "recurrent_dropout=0.1",
        "dropout=0.1",
        "activation=relu",
        "recurrent_activation=hard_sigmoid",
        "unroll=true",
        "type=gru",
    ):
        layer = load_config(None, [f"model.layers.0.{override}"]).model.layers[0]
        assert not fused.fused_in_training(layer), override


def test_one_inter_op_thread_only_where_it_can_and_should_apply(monkeypatch):
    """This process's runtime has started, so the setter is recorded instead of called: the
    answer must come from the checks, not from TensorFlow refusing a late change."""
    requested = []
    monkeypatch.setattr(
        fused.tf.config.threading, "set_inter_op_parallelism_threads", requested.append
    )
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    assert fused.prefer_one_inter_op_thread() and requested == [1]  # the op is built here
    requested.clear()
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "2")  # the user's choice wins
    assert not fused.prefer_one_inter_op_thread()
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS")
    monkeypatch.setattr(fused, "fused_ops", lambda: None)  # the stock layer: keep parallel ops
    assert not fused.prefer_one_inter_op_thread()
    assert requested == []


_THREADS_AFTER_BUILD = """
import sys
import tensorflow as tf
from forecast.config import load_config
from forecast.model.build import build_model
build_model(load_config(None, sys.argv[1:]))
print(tf.config.threading.get_inter_op_parallelism_threads())
"""


@pytest.mark.slow
@pytest.mark.parametrize("overrides, threads", [([], "1"), (["model.fused_lstm=false"], "0")])
def test_training_with_the_fused_op_runs_one_graph_op_at_a_time(overrides, threads):
    """A fresh process (the setting is fixed once TensorFlow's runtime starts)."""
    environment = {
        key: value for key, value in os.environ.items() if key != "TF_NUM_INTEROP_THREADS"
    }
    result = subprocess.run(
        [sys.executable, "-c", _THREADS_AFTER_BUILD, *overrides],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == threads  # 0: TensorFlow's default (one per core)
