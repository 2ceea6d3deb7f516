"""Soft EM: accumulators receive expected edge counts, children the posterior flow."""

import tensorflow as tf

from libspn_keras.math.counted_log_matmul import counted_log_matmul, counted_log_outer_matmul
from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul
from libspn_keras.math.products import MAX_GROUP_FACTORS
from libspn_keras.math.stable import renormalized
from libspn_keras.sum_ops.base import CountingSumOpBase, count_weights, register_sum_op, weight_forms
from libspn_keras.sum_ops.checked import is_checked


@register_sum_op("em")
class SumOpEMBackprop(CountingSumOpBase):
    """Soft (expectation-maximization) backward pass.

    The forward pass is the exact log-sum. Backward, the signal reaching
    accumulator ``a_sc`` is ``sum_x dL/dlog S_s(x) * w_sc * S_c(x) / S_s(x)``:
    with ``L = log p(x)`` that is the expected count of edge ``s -> c``.
    Children receive ordinary gradients, which in log space are the
    posterior probabilities of reaching them. Pair with
    :class:`libspn_keras.optimizers.OnlineExpectationMaximization`.
    Linear accumulators checked for the fast kernel (inside the models'
    steps) are normalized inside the kernel
    (:func:`~libspn_keras.math.counted_log_matmul.counted_log_matmul`), with the same values
    and counts.
    """

    fuses_products = True
    fuses_reductions = True
    node_major_weights = staticmethod(count_weights)

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        if is_checked(accumulators) and not logspace_accumulators:
            # Read the variable here, outside the kernel's custom gradient (see base._counted).
            accumulators = tf.convert_to_tensor(accumulators)
            return renormalized(lambda x: counted_log_matmul(x, accumulators), x)
        forms = weight_forms(accumulators, logspace_accumulators, count_weights)
        checked = is_checked(accumulators)
        return renormalized(lambda x: log_matmul(x, *forms, checked_weights=checked), x)

    def weighted_sum_of_products(self, left, right, accumulators, logspace_accumulators):
        if is_checked(accumulators) and not logspace_accumulators:
            accumulators = tf.convert_to_tensor(accumulators)
            return renormalized(lambda left, right: counted_log_outer_matmul(left, right, accumulators), left, right)
        forms = weight_forms(accumulators, logspace_accumulators, count_weights)
        checked = is_checked(accumulators)
        return renormalized(
            lambda left, right: log_outer_matmul(left, right, *forms, checked_weights=checked), left, right
        )

    def weighted_sum_then_product(self, x, accumulators, logspace_accumulators, num_factors):
        """As :meth:`SumOpBase.weighted_sum_then_product`; on the checked path the sums' linear values are
        multiplied, one ``log`` per product."""
        if is_checked(accumulators) and not logspace_accumulators and num_factors <= MAX_GROUP_FACTORS:
            accumulators = tf.convert_to_tensor(accumulators)
            return renormalized(lambda x: counted_log_matmul(x, accumulators, product_factors=num_factors), x)
        return super().weighted_sum_then_product(x, accumulators, logspace_accumulators, num_factors)
