"""Products of all node combinations of adjacent scopes."""

import tensorflow as tf
from tensorflow import keras

from libspn_keras.layers.validation import check_known, check_rank, positive_int


def check_scopes_divisible(layer, num_scopes, num_factors):
    """Raises ``ValueError`` unless ``num_scopes`` splits into groups of ``num_factors``."""
    if num_scopes % num_factors:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {num_scopes} scopes do not split into groups of "
            f"num_factors={num_factors}. Pad the scopes (PermuteAndPadScopes / PermuteAndPadScopesRandom) "
            f"or choose a factor that divides {num_scopes}."
        )


@keras.utils.register_keras_serializable(package="libspn_keras")
class DenseProduct(keras.layers.Layer):
    """Joins each group of ``num_factors`` adjacent scopes with a product per node combination.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, scopes / num_factors, decomps, nodes ** num_factors]``; output
    node ``(i, j, ...)`` is the product of node ``i`` of the first scope of
    the group, node ``j`` of the second, and so on.

    Args:
        num_factors: Number of scopes joined by each product.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def __init__(self, num_factors, **kwargs):
        super().__init__(**kwargs)
        self.num_factors = positive_int(f"DenseProduct '{self.name}'", "num_factors", num_factors)

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        check_scopes_divisible(self, input_shape[1], self.num_factors)

    def call(self, x):
        num_scopes, num_decomps, num_nodes = x.shape[1], x.shape[2], x.shape[3]
        groups = tf.reshape(x, [-1, num_scopes // self.num_factors, self.num_factors, num_decomps, num_nodes])
        out = groups[:, :, 0]
        for factor in range(1, self.num_factors):
            out = tf.expand_dims(out, -1) + tf.expand_dims(groups[:, :, factor], -2)
            out = tf.reshape(out, [-1, num_scopes // self.num_factors, num_decomps, num_nodes ** (factor + 1)])
        return out

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            input_shape[1] // self.num_factors,
            input_shape[2],
            input_shape[3] ** self.num_factors,
        )

    def get_config(self):
        config = super().get_config()
        config.update(num_factors=self.num_factors)
        return config
