"""Node-by-node products of adjacent scopes."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.dense_product import check_scopes_divisible
from libspn_keras.layers.validation import check_known, check_rank, positive_int


@keras.utils.register_keras_serializable(package="libspn_keras")
class ReduceProduct(keras.layers.Layer):
    """Multiplies node ``i`` of each of ``num_factors`` adjacent scopes.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, scopes / num_factors, decomps, nodes]``.

    Args:
        num_factors: Number of scopes joined by each product.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_factors, **kwargs):
        super().__init__(**kwargs)
        self.num_factors = positive_int(f"ReduceProduct '{self.name}'", "num_factors", num_factors)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        check_scopes_divisible(self, input_shape[1], self.num_factors)

    def call(self, x):
        num_scopes, num_decomps, num_nodes = x.shape[1], x.shape[2], x.shape[3]
        groups = tf.reshape(x, [-1, num_scopes // self.num_factors, self.num_factors, num_decomps, num_nodes])
        return tf.reduce_sum(groups, axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.num_factors, input_shape[2], input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(num_factors=self.num_factors)
        return config
