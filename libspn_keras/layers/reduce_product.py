"""Node-by-node products of adjacent scopes."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.base_scope_product import ScopeProductBase


@keras.utils.register_keras_serializable(package="libspn_keras")
class ReduceProduct(ScopeProductBase):
    """Multiplies node ``i`` of each of ``num_factors`` adjacent scopes.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, scopes / num_factors, decomps, nodes]``.

    Args:
        num_factors: Number of scopes joined by each product.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def call(self, x):
        return tf.reduce_sum(self.grouped(x), axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.num_factors, input_shape[2], input_shape[3])
