"""FusedLSTM: keras.layers.LSTM whose whole sequence runs in one TensorFlow op on the CPU.

TensorFlow's fused ``BlockLSTM`` kernel computes every time step of an LSTM in a single op,
instead of one small graph per step. Its sibling ``BlockLSTMV2`` shares Keras's IFCO gate
layout, but in TensorFlow 2.21 its registered gradient does not match the forward pass
(checked here: the forget and candidate blocks come back mixed up), so this layer uses
``BlockLSTM`` (ICFO layout, ``forget_bias=0``) and reorders the Keras weights inside the
graph; the gradients then flow back to the unchanged Keras variables. The layer is a subclass with the very same weights and config as
``keras.layers.LSTM`` (tested to give the same outputs within 1e-5), and it falls back to the
stock implementation whenever the fused kernel does not apply: activations other than
tanh/sigmoid, input or recurrent dropout while training, masks, initial states,
``unroll``, a non-TensorFlow backend, or a visible GPU (where Keras's cuDNN path is faster).
"""

from __future__ import annotations

from forecast.backend import import_tensorflow_quietly

import_tensorflow_quietly()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def _activation_name(function) -> str:
    return getattr(function, "__name__", str(function))


def fused_eligible(layer: keras.layers.LSTM) -> bool:
    """Whether a layer's settings let the fused CPU kernel compute exactly what it would."""
    return (keras.backend.backend() == "tensorflow"
            and _activation_name(layer.activation) == "tanh"
            and _activation_name(layer.recurrent_activation) == "sigmoid"
            and layer.recurrent_dropout == 0
            and not layer.unroll and not layer.stateful
            and not tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="forecast")
class FusedLSTM(keras.layers.LSTM):
    """Drop-in ``keras.layers.LSTM`` using ``tf.raw_ops.BlockLSTM`` where it applies."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if (initial_state is not None or mask is not None or not fused_eligible(self)
                or (training and self.dropout > 0)):
            return super().call(sequences, initial_state=initial_state, mask=mask,
                                training=training)
        cell = self.cell
        inputs = tf.convert_to_tensor(sequences)  # (batch, time, features)
        if self.go_backwards:
            inputs = tf.reverse(inputs, axis=[1])
        time_major = tf.transpose(inputs, [1, 0, 2])  # (time, batch, features)
        batch = tf.shape(inputs)[0]
        zeros = tf.zeros(tf.stack([batch, self.units]), dtype=inputs.dtype)  # (batch, units)
        weights = tf.concat([cell.kernel, cell.recurrent_kernel], axis=0)  # (in+u, 4u)
        bias = cell.bias if cell.use_bias else tf.zeros([4 * self.units], inputs.dtype)
        # Keras keeps the gates as i, f, c, o; BlockLSTM wants i, c, f, o. Reordering inside
        # the graph lets the gradients flow back to the Keras-layout variables.
        i, f, c, o = tf.split(weights, 4, axis=1)
        bias_i, bias_f, bias_c, bias_o = tf.split(bias, 4)
        peephole = tf.zeros([self.units], dtype=inputs.dtype)  # unused (no peepholes)
        outputs = tf.raw_ops.BlockLSTM(
            seq_len_max=tf.cast(tf.shape(inputs)[1], tf.int64), x=time_major, cs_prev=zeros,
            h_prev=zeros, w=tf.concat([i, c, f, o], axis=1), wci=peephole, wcf=peephole,
            wco=peephole, b=tf.concat([bias_i, bias_c, bias_f, bias_o], axis=0),
            forget_bias=0.0, cell_clip=-1.0, use_peephole=False)
        hidden = outputs[6]  # (time, batch, units)
        if self.return_sequences:
            result = tf.transpose(hidden, [1, 0, 2])  # (batch, time, units)
        else:
            result = hidden[-1]  # (batch, units)
        if self.return_state:
            return result, hidden[-1], outputs[1][-1]
        return result
