"""True gradients: discriminative and generative training by any Keras optimizer."""

from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul
from libspn_keras.sum_ops.base import (
    SumOpBase,
    add_log_weights,
    normalized_log_weights,
    normalized_weights,
    register_sum_op,
)


@register_sum_op("grad")
class SumOpGradBackprop(SumOpBase):
    """Sums by log-matmul; gradients by ordinary automatic differentiation.

    Accumulators are log-space by default (normalized with a softmax over the
    children), so an unconstrained optimizer such as Adam can update them.
    """

    default_logspace_accumulators = True

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        return log_matmul(x, normalized_weights(accumulators, logspace_accumulators))

    fuses_products = True

    def weighted_sum_of_products(self, left, right, accumulators, logspace_accumulators):
        return log_outer_matmul(left, right, normalized_weights(accumulators, logspace_accumulators))

    def weighted_children(self, x, accumulators, logspace_accumulators):
        return add_log_weights(x, normalized_log_weights(accumulators, logspace_accumulators))
