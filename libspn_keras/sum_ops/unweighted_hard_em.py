"""Hard EM whose path ignores the weights when choosing a child."""

import tensorflow as tf

from libspn_keras.math.routing import argmax_one_hot
from libspn_keras.sum_ops.base import CountingSumOpBase, count_log_weights, register_sum_op, routed_max_product


def _choose_max_child(x, weighted):
    return argmax_one_hot(tf.broadcast_to(tf.expand_dims(x, axis=-1), tf.shape(weighted)), axis=-2)


@register_sum_op("unweighted_hard_em")
class SumOpUnweightedHardEMBackprop(CountingSumOpBase):
    """Hard EM whose backward pass picks, per sum, the child of largest value ``x_c`` (weights ignored).

    The forward pass is the same max-product as :class:`SumOpHardEMBackprop`;
    only the choice of the child that receives the count differs. Ignoring
    the weights keeps a child that won early from winning every later sample
    by its weight alone.
    """

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        return routed_max_product(x, count_log_weights(accumulators, logspace_accumulators), _choose_max_child)
