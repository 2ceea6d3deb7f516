"""0.6.0's import path ``libspn_keras.sum_ops.grad_backprop``."""

from libspn_keras.sum_ops.grad import SumOpGradBackprop

__all__ = ["SumOpGradBackprop"]
