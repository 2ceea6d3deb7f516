"""Ancestral sampling: each sum passes its signal to one child drawn in proportion to ``w_c * S_c``."""

from libspn_keras.sum_ops.base import CountingSumOpBase, count_log_weights, register_sum_op, routed_sum
from libspn_keras.sum_ops.checked import is_checked


@register_sum_op("sample")
class SumOpSampleBackprop(CountingSumOpBase):
    """Sampling backward pass.

    The forward pass is the exact log-sum. Backward, each sum sends its signal
    to one child drawn with probability ``w_c S_c(x) / S(x)``: the posterior
    given the evidence in ``x``, so back-propagating from the root draws a
    sample of the latent path (and, through the leaves, of missing inputs).
    """

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        log_weights = count_log_weights(accumulators, logspace_accumulators)
        return routed_sum(x, log_weights, sample_prob=1.0, checked_weights=is_checked(accumulators))
