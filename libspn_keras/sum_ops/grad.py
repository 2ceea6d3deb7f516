"""True gradients: discriminative and generative training by any Keras optimizer."""

from libspn_keras.arguments import check_bool
from libspn_keras.math.log_matmul import log_matmul, log_outer_matmul
from libspn_keras.math.stable import renormalized
from libspn_keras.sum_ops.base import (
    SumOpBase,
    add_log_weights,
    gradient_log_weights,
    gradient_weights,
    register_sum_op,
    weight_forms,
)
from libspn_keras.sum_ops.checked import is_checked


@register_sum_op("grad")
class SumOpGradBackprop(SumOpBase):
    """Sums by log-matmul; gradients by ordinary automatic differentiation.

    Accumulators are log-space by default (normalized with a softmax over the
    children), so an unconstrained optimizer such as Adam can update them.
    Under a constraint that renormalizes them after every update
    (``LogNormalized``, ``GreaterEqualEpsilonNormalized``, 0.6.0's defaults)
    the gradient is that of the weights themselves, as in 0.6.0.

    Args:
        logspace_accumulators: As in libspn-keras 0.6.0, the accumulator space
            of the sum layers built with this op when they do not pass
            ``logspace_accumulators`` themselves (``None``: log space). A layer
            keeps the space its accumulators were built in: swapping this op
            into a built layer whose space differs from an explicit
            ``logspace_accumulators`` raises instead of reading its
            accumulators in the other space.
    """

    def __init__(self, logspace_accumulators=None):
        self.logspace_accumulators = check_bool(
            "SumOpGradBackprop", "logspace_accumulators", logspace_accumulators, allow_none=True
        )

    def default_logspace_accumulators(self):
        return True if self.logspace_accumulators is None else self.logspace_accumulators

    def check_accumulator_space(self, logspace_accumulators, layer_name):
        """Raises ``ValueError`` if this op insists on another space than the layer's accumulators have."""
        if self.logspace_accumulators is not None and self.logspace_accumulators != logspace_accumulators:
            raise ValueError(
                f"{layer_name}: SumOpGradBackprop(logspace_accumulators={self.logspace_accumulators}) cannot use "
                f"accumulators built in {'log' if logspace_accumulators else 'linear'} space without reading them "
                f"in the wrong space. Build the layer with logspace_accumulators={self.logspace_accumulators}, "
                f"or use SumOpGradBackprop() to keep the layer's space."
            )

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        forms = weight_forms(accumulators, logspace_accumulators, gradient_weights)
        checked = is_checked(accumulators)
        return renormalized(lambda x: log_matmul(x, *forms, checked_weights=checked), x)

    fuses_products = True
    node_major_weights = staticmethod(gradient_weights)

    def weighted_sum_of_products(self, left, right, accumulators, logspace_accumulators):
        forms = weight_forms(accumulators, logspace_accumulators, gradient_weights)
        checked = is_checked(accumulators)
        return renormalized(
            lambda left, right: log_outer_matmul(left, right, *forms, checked_weights=checked), left, right
        )

    def weighted_children(self, x, accumulators, logspace_accumulators):
        return add_log_weights(x, gradient_log_weights(accumulators, logspace_accumulators))

    def get_config(self):
        return {} if self.logspace_accumulators is None else {"logspace_accumulators": self.logspace_accumulators}
