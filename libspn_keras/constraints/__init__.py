"""Constraints for accumulators and leaf parameters."""

from libspn_keras.constraints.clip import Clip
from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon
from libspn_keras.constraints.greater_equal_epsilon_normalized import GreaterEqualEpsilonNormalized
from libspn_keras.constraints.log_normalized import LogNormalized
from libspn_keras.constraints.unconstrained import UNCONSTRAINED

__all__ = ["UNCONSTRAINED", "Clip", "GreaterEqualEpsilon", "GreaterEqualEpsilonNormalized", "LogNormalized"]
