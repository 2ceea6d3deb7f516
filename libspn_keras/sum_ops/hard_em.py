"""Hard (Viterbi) EM: counts along the max-product path."""

from libspn_keras.math.routing import argmax_one_hot
from libspn_keras.sum_ops.base import CountingSumOpBase, count_log_weights, register_sum_op, routed_max_product


def _choose_max_weighted_child(x, weighted):
    return argmax_one_hot(weighted, axis=-2)


@register_sum_op("hard_em")
class SumOpHardEMBackprop(CountingSumOpBase):
    """Hard EM backward pass.

    The forward pass is max-product, ``max_c log w_sc + x_c``, so the root
    computes the Viterbi (most probable latent path) log-probability. Backward,
    each sum passes its whole signal to the child that attains the maximum
    (ties broken at random), so accumulators receive the number of samples
    whose max-product path uses each edge.
    """

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        return routed_max_product(x, count_log_weights(accumulators, logspace_accumulators), _choose_max_weighted_child)
