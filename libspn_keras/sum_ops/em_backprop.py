"""0.6.0's import path ``libspn_keras.sum_ops.em_backprop``."""

from libspn_keras.sum_ops.em import SumOpEMBackprop

__all__ = ["SumOpEMBackprop"]
