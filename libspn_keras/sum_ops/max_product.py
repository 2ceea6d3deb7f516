"""Max-product (Viterbi) sums, for the MPE query only."""

from libspn_keras.math.blockwise import max_plus_matmul
from libspn_keras.sum_ops.base import CountingSumOpBase, count_log_weights, routed_sum


class SumOpMaxProduct(CountingSumOpBase):
    """Max-product sums: ``max_c log w_sc + x_c`` forward, the signal to the maximizing child backward.

    Not a training op (it is not registered, and a model's outputs under it
    are not ``log p(x)``): :meth:`~libspn_keras.models.queries.QueryMixin.mpe`
    swaps it into the sum layers for the duration of the query, so that
    the root computes the probability of the most probable induced tree and
    back-propagation marks that tree (ties at random). The forward pass takes
    the children a block at a time, so memory stays at one value per node
    and sample plus a bounded block.
    """

    name = "max_product"

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        return routed_sum(x, count_log_weights(accumulators, logspace_accumulators), forward=max_plus_matmul)
