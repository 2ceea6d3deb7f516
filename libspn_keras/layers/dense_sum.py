"""Sums over all nodes of each scope and decomposition of a region tensor."""

from tensorflow import keras

from libspn_keras.layers.base_sum import NodeSumLayerBase
from libspn_keras.layers.validation import check_known, check_rank


@keras.utils.register_keras_serializable(package="libspn_keras")
class DenseSum(NodeSumLayerBase):
    """``num_sums`` sums per scope and decomposition, each over all nodes of that scope.

    Input ``[batch, scopes, decomps, nodes_in]``, output
    ``[batch, scopes, decomps, num_sums]``; accumulators
    ``[scopes, decomps, nodes_in, num_sums]``.

    Args:
        num_sums: Number of sums per scope and decomposition.
        **kwargs: Sum-layer arguments of
            :class:`~libspn_keras.layers.base_sum.NodeSumLayerBase`
            (``sum_op``, ``logspace_accumulators``, ``accumulator_initializer``, ...).
    """

    # Whether models may hand a DenseProduct below or a ReduceProduct above straight to this layer's sum op
    # (sum_of_pair_products / sum_then_product); the subclasses that weigh other layouts (as in 0.6.0,
    # Conv2DSum, Local2DSum and RootSum are DenseSums) set it False.
    fuses_with_region_products = True

    def build(self, input_shape):
        check_rank(self, input_shape, 4, "[batch, scopes, decomps, nodes]")
        check_known(self, input_shape, (1, 2, 3), "scopes, decompositions and nodes")
        _, num_scopes, num_decomps, num_nodes = input_shape
        self.build_accumulators([num_scopes, num_decomps, num_nodes, self.num_sums])

    def sum_of_pair_products(self, groups):
        """The output of this layer on ``DenseProduct(num_factors=2)`` of ``groups`` ``[batch, scopes, 2, decomps, k]``.

        Lets a model hand the product's two factors straight to the sum op,
        which may fuse the pair (see ``SumOpBase.weighted_sum_of_products``).
        """
        with self.drawing():
            return self.sum_op.weighted_sum_of_products(
                groups[:, :, 0], groups[:, :, 1], self.accumulators, self.logspace_accumulators
            )

    def sum_then_product(self, x, num_factors):
        """The output of ``ReduceProduct(num_factors)`` on this layer's output for input ``x``.

        Lets a model hand the pair to a sum op with ``fuses_reductions``,
        which may multiply the sums' linear values instead of adding their
        logs (see ``SumOpEMBackprop.weighted_sum_then_product``).
        """
        with self.drawing():
            return self.sum_op.weighted_sum_then_product(x, self.accumulators, self.logspace_accumulators, num_factors)
