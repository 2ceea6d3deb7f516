"""Products of all node combinations of adjacent scopes."""

from tensorflow import keras

from libspn_keras.layers.base_scope_product import ScopeProductBase
from libspn_keras.math.products import log_outer_product


@keras.utils.register_keras_serializable(package="libspn_keras")
class DenseProduct(ScopeProductBase):
    """Joins each group of ``num_factors`` adjacent scopes with a product per node combination.

    Input ``[batch, scopes, decomps, nodes]``, output
    ``[batch, scopes / num_factors, decomps, nodes ** num_factors]``; output
    node ``(i, j, ...)`` is the product of node ``i`` of the first scope of
    the group, node ``j`` of the second, and so on.

    Args:
        num_factors: Number of scopes joined by each product.
        **kwargs: Passed to ``keras.layers.Layer``.
    """

    def call(self, x):
        groups = self.grouped(x)
        out = groups[:, :, 0]
        for factor in range(1, self.num_factors):
            out = log_outer_product(out, groups[:, :, factor])
        return out

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            input_shape[1] // self.num_factors,
            input_shape[2],
            input_shape[3] ** self.num_factors,
        )
