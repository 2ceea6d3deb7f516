"""Losses on root outputs."""

from libspn_keras.losses.negative_log_joint import NegativeLogJoint
from libspn_keras.losses.negative_log_likelihood import NegativeLogLikelihood

__all__ = ["NegativeLogJoint", "NegativeLogLikelihood"]
