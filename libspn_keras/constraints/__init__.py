"""Constraints for accumulators and leaf parameters."""

from libspn_keras.constraints.greater_equal_epsilon import GreaterEqualEpsilon

__all__ = ["GreaterEqualEpsilon"]
