"""0.6.0's import path ``libspn_keras.sum_ops.hard_em_backprop``."""

from libspn_keras.sum_ops.hard_em import SumOpHardEMBackprop

__all__ = ["SumOpHardEMBackprop"]
