"""Standard-score normalization of raw inputs, aware of missing values."""

import numpy as np
import tensorflow as tf
from tensorflow import keras

SAMPLE_WISE = "sample_wise"
VARIABLE_WISE = "variable_wise"
GLOBAL = "global"
_AXES = (SAMPLE_WISE, VARIABLE_WISE, GLOBAL)


def _nan_moments(x, axis, keepdims):
    observed = tf.logical_not(tf.math.is_nan(x))
    values = tf.where(observed, x, tf.zeros_like(x))
    count = tf.maximum(tf.reduce_sum(tf.cast(observed, x.dtype), axis=axis, keepdims=keepdims), 1.0)
    mean = tf.reduce_sum(values, axis=axis, keepdims=keepdims) / count
    centred = tf.where(observed, x - mean, tf.zeros_like(x))
    variance = tf.reduce_sum(tf.square(centred), axis=axis, keepdims=keepdims) / count
    return mean, tf.sqrt(variance)


@keras.utils.register_keras_serializable(package="libspn_keras")
class NormalizeStandardScore(keras.layers.Layer):
    """``(x - mean) / (std + epsilon)`` with NaN (missing) entries ignored and kept NaN.

    ``axes="sample_wise"`` normalizes every sample by its own statistics;
    ``"variable_wise"`` uses one mean and std per input position and
    ``"global"`` one for all, both learned by :meth:`adapt`. The statistics
    come back from :meth:`statistics`, and :meth:`inverse` maps values (e.g.
    completions) back to input units. Note that the SPN then models the
    normalized values, so its densities are in normalized units.

    Args:
        axes: ``"sample_wise"``, ``"variable_wise"`` or ``"global"``.
        epsilon: Added to the std to avoid division by zero.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    SAMPLE_WISE = SAMPLE_WISE
    VARIABLE_WISE = VARIABLE_WISE
    GLOBAL = GLOBAL

    def __init__(self, axes=SAMPLE_WISE, epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if axes not in _AXES:
            raise ValueError(f"NormalizeStandardScore '{self.name}': axes must be one of {_AXES}, got {axes!r}.")
        self.axes = axes
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if self.axes == SAMPLE_WISE:
            return
        shape = tuple(input_shape[1:]) if self.axes == VARIABLE_WISE else ()
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.std = self.add_weight(name="std", shape=shape, initializer="ones", trainable=False)

    def call(self, x):
        mean, std = self.statistics(x)
        return (x - mean) / (std + self.epsilon)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, epsilon=self.epsilon)
        return config

    def adapt(self, data, batch_size=1024):
        """Learns the variable-wise or global statistics from an array or a ``tf.data.Dataset`` of inputs."""
        if self.axes == SAMPLE_WISE:
            return
        if isinstance(data, tf.data.Dataset):
            # A labelled dataset yields (x, y) or (x, y, weights): statistics come from x.
            data = np.concatenate(
                [np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch) for batch in data], axis=0
            )
        data = tf.convert_to_tensor(np.asarray(data, dtype="float32"))
        if not self.built:
            self.build(data.shape)
        axis = 0 if self.axes == VARIABLE_WISE else None
        mean, std = _nan_moments(data, axis=axis, keepdims=False)
        self.mean.assign(mean)
        self.std.assign(std)

    def statistics(self, x):
        """``(mean, std)`` used for ``x``, broadcastable to its shape."""
        if self.axes == SAMPLE_WISE:
            return _nan_moments(x, axis=list(range(1, x.shape.rank)), keepdims=True)
        return tf.convert_to_tensor(self.mean), tf.convert_to_tensor(self.std)

    def inverse(self, normalized, mean, std):
        """Maps normalized values back to input units with statistics from :meth:`statistics`."""
        return normalized * (std + self.epsilon) + mean
