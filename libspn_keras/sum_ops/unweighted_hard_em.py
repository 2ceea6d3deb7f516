"""Hard EM whose backward pass chooses a child by its value alone."""

from libspn_keras.sum_ops.base import register_sum_op
from libspn_keras.sum_ops.hard_em import SumOpHardEMBackprop


@register_sum_op("unweighted_hard_em")
class SumOpUnweightedHardEMBackprop(SumOpHardEMBackprop):
    """Hard EM whose backward pass picks, per position, the child of largest value ``log S_c(x)`` (weights ignored).

    The forward pass is the exact weighted sum, as for every sum op. Backward,
    all sums of a position pass their signal to the same child, the one of
    largest value (ties at random). Ignoring the weights keeps a child that
    won early from winning every later sample by its weight alone.

    Args:
        sample_prob: Optional probability in ``[0, 1]`` of drawing that child
            in proportion to ``S_c(x)`` instead of taking the largest one.
    """

    weighted = False
