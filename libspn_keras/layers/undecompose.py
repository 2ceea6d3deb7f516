"""Folds decompositions into the node axis once a single scope is left."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import check_known, check_rank, positive_int


@keras.utils.register_keras_serializable(package="libspn_keras")
class Undecompose(keras.layers.Layer):
    """``[batch, 1, decomps, nodes]`` -> ``[batch, 1, decomps / num_decomps, num_decomps * nodes]``.

    Groups of ``num_decomps`` decompositions become one, with their nodes side
    by side, so that a sum above can mix them.

    Args:
        num_decomps: Decompositions folded together; ``None`` folds all.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_decomps=None, **kwargs):
        super().__init__(**kwargs)
        self.num_decomps = (
            None if num_decomps is None else positive_int(f"Undecompose '{self.name}'", "num_decomps", num_decomps)
        )

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, 1, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        if input_shape[1] != 1:
            raise ValueError(
                f"Undecompose '{self.name}' needs a single scope, but its input {tuple(input_shape)} has "
                f"{input_shape[1]} scopes. Join them first with DenseProduct / ReduceProduct."
            )
        folded = self._folded(input_shape[2])
        if folded < 1 or input_shape[2] % folded:
            raise ValueError(
                f"Undecompose '{self.name}': num_decomps={folded} must divide the {input_shape[2]} "
                f"decompositions of the input."
            )

    def call(self, x):
        folded = self._folded(x.shape[2])
        return tf.reshape(x, [-1, 1, x.shape[2] // folded, folded * x.shape[3]])

    def compute_output_shape(self, input_shape):
        folded = self._folded(input_shape[2])
        return (input_shape[0], 1, input_shape[2] // folded, folded * input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(num_decomps=self.num_decomps)
        return config

    def _folded(self, num_decomps):
        return num_decomps if self.num_decomps is None else self.num_decomps
