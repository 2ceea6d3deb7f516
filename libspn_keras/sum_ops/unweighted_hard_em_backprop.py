"""0.6.0's import path ``libspn_keras.sum_ops.unweighted_hard_em_backprop``."""

from libspn_keras.sum_ops.unweighted_hard_em import SumOpUnweightedHardEMBackprop

__all__ = ["SumOpUnweightedHardEMBackprop"]
