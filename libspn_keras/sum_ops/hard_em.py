"""Hard EM: exact sums forward; backward, each sum's signal goes to its best weighted child."""

from libspn_keras.sum_ops.base import (
    CountingSumOpBase,
    check_sample_prob,
    count_log_weights,
    register_sum_op,
    routed_sum,
)
from libspn_keras.sum_ops.checked import is_checked


@register_sum_op("hard_em")
class SumOpHardEMBackprop(CountingSumOpBase):
    """Hard EM backward pass, as libspn-keras 0.6.0 defines it.

    The forward pass is the exact weighted sum, so a hard-EM model's outputs,
    losses and metrics are ``log p(x)`` like those of every other sum op.
    Backward, each sum passes its whole incoming signal to one child: the
    one with the largest ``log w_sc + log S_c(x)``, ``S_c`` being the ordinary
    (marginal) child values, ties broken at random. Accumulators thus receive,
    per edge, the number of samples whose signal it routed. Pair with
    :class:`libspn_keras.optimizers.OnlineExpectationMaximization`.

    Args:
        sample_prob: Optional probability in ``[0, 1]`` that a sum draws its
            child in proportion to ``w_sc * S_c(x)`` instead of taking the
            best one (decided per sum and sample). ``None`` (or 0) always
            takes the best child.
    """

    def __init__(self, sample_prob=None):
        self.sample_prob = check_sample_prob(type(self).__name__, sample_prob)

    weighted = True

    def weighted_sum(self, x, accumulators, logspace_accumulators):
        return routed_sum(
            x,
            count_log_weights(accumulators, logspace_accumulators),
            weighted=self.weighted,
            sample_prob=self.sample_prob or 0.0,
            checked_weights=is_checked(accumulators),
        )

    def get_config(self):
        return {} if self.sample_prob is None else {"sample_prob": self.sample_prob}
