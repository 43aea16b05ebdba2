"""FusedLSTM and FusedDropout: Keras layers whose training work runs as compiled ops on the CPU.

The stock Keras LSTM on TensorFlow runs a ``while`` loop of a dozen small ops per time step,
forward and backward; at batch 64 that per-op dispatch, not arithmetic, is most of a
training step. FusedLSTM runs the whole layer in one C++ op (``native/fused_lstm.cc``): per
time step one product ``[x(t), h(t-1)]·[W; U]`` and the gates; its gradient op goes back
through the sequence once, producing the input and all weight gradients on the way.

It is a subclass with the very same weights and config as ``keras.layers.LSTM`` (tested to
give the same outputs within 1e-5 and the same gradients), saved and loaded as a normal
model, and it falls back to the stock implementation whenever the fused op does not apply:
activations other than tanh/sigmoid, input or recurrent dropout while training, masks,
initial states, ``unroll``, ``stateful``, a dtype other than float32, a non-TensorFlow
backend, a visible GPU (where Keras's cuDNN path is the fast one), or no C++ compiler to
build the op with. Where it will train, ``build_model`` first asks TensorFlow for one
inter-op thread (``prefer_one_inter_op_thread``): the op splits its batch over the intra-op
threads, and a second inter-op thread only competes with them for the cores.

FusedDropout is ``keras.layers.Dropout`` drawing and applying its mask in one op with its own
counter-based random numbers (TensorFlow's stateless dropout takes five ops and Philox
numbers, about a tenth of a training step here). It keeps Dropout's contract: each unit is
dropped with probability ``rate`` and the kept ones are scaled by 1/(1 - rate), the mask is
a function of the layer's Keras seed generator state (so seeded runs repeat), and inference
is the identity. Its masks differ from the stock layer's, so a model trained with it is not
bit-identical to one trained with stock Dropout; ``model.fused_dropout: false`` restores those.
"""

from __future__ import annotations

import os

from forecast.model.backend import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from forecast.config import RecurrentLayerConfig  # noqa: E402
from forecast.model.cells import activation_name  # noqa: E402
from forecast.model.native import fused_ops  # noqa: E402


def _cpu_tensorflow() -> bool:
    """The compiled ops are TensorFlow CPU kernels; on a GPU the stock layers stay on it."""
    return keras.backend.backend() == "tensorflow" and not tf.config.list_logical_devices("GPU")


def fused_eligible(layer: keras.layers.LSTM) -> bool:
    """Whether a layer's settings let the fused op compute exactly what the stock layer would.

    ``fused_in_training`` below asks the same of a layer's config, before any layer exists.
    """
    return (
        activation_name(layer.activation) == "tanh"
        and activation_name(layer.recurrent_activation) == "sigmoid"
        and layer.recurrent_dropout == 0
        and not layer.unroll
        and not layer.stateful
        and layer.compute_dtype == "float32"
        and _cpu_tensorflow()
    )


def fused_in_training(layer: object) -> bool:
    """Whether FusedLSTM will train a configured layer with the op: ``fused_eligible`` read
    from the config (creating a layer would start TensorFlow's runtime), plus no input
    dropout, which takes the stock path while training."""
    return (
        isinstance(layer, RecurrentLayerConfig)
        and layer.type == "lstm"
        and layer.activation == "tanh"
        and layer.recurrent_activation == "sigmoid"
        and layer.dropout == 0
        and layer.recurrent_dropout == 0
        and not layer.unroll
    )


def prefer_one_inter_op_thread() -> bool:
    """Let TensorFlow run one graph op at a time in a process that trains with the fused op.

    Each fused op already spreads its batch over TensorFlow's intra-op threads; a second
    inter-op thread only takes cores from them (2-core CPU, interleaved runs: epochs about
    7 % faster with one), while the stock layer's many small per-step ops gain from running
    side by side (about 30 % slower with one). TensorFlow fixes the setting when its runtime
    starts, so this applies only before then (``build_model`` calls it first thing), never
    over a ``TF_NUM_INTEROP_THREADS`` the user set, and not where the op cannot run (a GPU,
    no compiler). Returns whether it applied.
    """
    if os.environ.get("TF_NUM_INTEROP_THREADS") or keras.backend.backend() != "tensorflow":
        return False
    if tf.config.list_physical_devices("GPU") or fused_ops() is None:
        return False
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started (a notebook that ran ops before)
        return False
    return True


@keras.saving.register_keras_serializable(package="forecast")
class FusedLSTM(keras.layers.LSTM):
    """Drop-in ``keras.layers.LSTM`` running its recurrence as one compiled op where it applies.

    ``precision="bfloat16"``: while training, the op's products take bfloat16 operands with
    float32 sums (the weights and everything else stay float32); predictions are float32.
    Only where ``bf16_products()`` says the op can (the caller checks)."""

    def __init__(self, *args, precision: str = "float32", **kwargs):
        super().__init__(*args, **kwargs)
        self.precision = precision

    def get_config(self) -> dict:
        return {**super().get_config(), "precision": self.precision}

    def call(self, sequences, initial_state=None, mask=None, training=False):
        ops = fused_ops() if fused_eligible(self) else None
        if (
            ops is None
            or initial_state is not None
            or mask is not None
            or (training and self.dropout > 0)
        ):
            return super().call(
                sequences, initial_state=initial_state, mask=mask, training=training
            )
        cell = self.cell
        inputs = tf.convert_to_tensor(sequences)  # (batch, time, features)
        if self.go_backwards:
            inputs = tf.reverse(inputs, axis=[1])
        bias = (
            tf.convert_to_tensor(cell.bias)
            if cell.use_bias
            else tf.zeros([4 * self.units], inputs.dtype)
        )  # (4u)
        hidden, cells, _ = ops.forecast_lstm_forward(
            inputs,
            tf.convert_to_tensor(cell.kernel),
            tf.convert_to_tensor(cell.recurrent_kernel),
            bias,
            bf16=bool(training) and self.precision == "bfloat16",
        )  # (batch, time, u), (time, batch, u)
        result = hidden if self.return_sequences else hidden[:, -1]  # (batch, [time,] units)
        if self.return_state:
            return result, hidden[:, -1], cells[-1]
        return result


def dropout_eligible(layer: keras.layers.Dropout) -> bool:
    """Whether the fused dropout op can stand in for the stock one on this layer."""
    return (
        0 < layer.rate < 1
        and layer.noise_shape is None
        and layer.compute_dtype == "float32"
        and _cpu_tensorflow()
    )


@keras.saving.register_keras_serializable(package="forecast")
class FusedDropout(keras.layers.Dropout):
    """Drop-in ``keras.layers.Dropout`` whose training-time masking is one compiled op."""

    def call(self, inputs, training=False):
        ops = fused_ops() if training and dropout_eligible(self) else None
        if ops is None:
            return super().call(inputs, training=training)
        seed = tf.cast(self.seed_generator.next(), tf.int64)  # (2,), advances like stock
        return ops.forecast_dropout(
            tf.convert_to_tensor(inputs), seed, rate=self.rate, scale=1.0 / (1.0 - self.rate)
        )  # as stock: in double
