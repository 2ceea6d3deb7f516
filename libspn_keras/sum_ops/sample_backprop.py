"""0.6.0's import path ``libspn_keras.sum_ops.sample_backprop``."""

from libspn_keras.sum_ops.sample import SumOpSampleBackprop

__all__ = ["SumOpSampleBackprop"]
